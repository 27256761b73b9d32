"""The export contract's row rules as Spark column expressions, and the verdict of every row.

``classify`` takes the records of one entity (every field as text, see ``raw_reader.read_records``) and
returns each of them with its typed values and its verdict: accepted, duplicate, or quarantined under a
rule with a ``detail`` naming the offending value.

Order of the rules (a row breaking several is quarantined once, under the first one it breaks):
``<entity>.row.field_count`` first, because the fields of a row that does not have the header's shape are
not where their names say; then every other rule of the entity in ``contract.RULES`` order, which lists
the column rules (required, enum, type; columns in contract order) before the value rules (formats,
uniqueness, ranges, cross-field and cross-entity checks).

Duplicates win over the rules: among the records with the header's shape and a key, the first occurrence
of a key (by file name, then position in the file) is kept and later ones (exact copies, or other rows
repeating the key) are removed and counted, never quarantined. A client repeating the CUPS of an earlier
client that passed the rules before ``clients.cups.duplicate`` is quarantined under it.

Two steps, so that the job's one shuffle carries typed values and never the text: ``judge`` types each
record and finds the first rule it breaks where the record is read (row by row, no shuffle), and
``deduplicate`` runs the duplicate window and, for the clients, CUPS uniqueness and the rules after it.

Everything is built from Spark SQL functions (no Python UDF), so it runs in the JVM at full speed.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from zoneinfo import ZoneInfo

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F
from pyspark.sql import types as T

from glue_jobs.lib import contract
from glue_jobs.lib.contract import CONTRACT, Entity
from glue_jobs.lib.identifiers import cups_is_valid, provider_tax_id_is_valid, spanish_tax_id_is_valid
from glue_jobs.lib.raw_reader import RAW_LINE, RECORD_BLOCK, RECORD_ORDER, SHAPE_OK, SOURCE_FILE

RULE = "rule"
DETAIL = "detail"
DUPLICATE = "is_duplicate"

# ISO 8601 with a mandatory UTC offset (Z or ±hh:mm); fractions of a second optional.
_TIMESTAMP_RE = (
    r"\A[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,6})?(Z|[+-][0-9]{2}:[0-9]{2})\z"
)
_DATE_RE = r"\A[0-9]{4}-[0-9]{2}-[0-9]{2}\z"
_EMAIL_RE = (
    r"\A[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
    r"@([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}\z"
)
# Columns the reference snapshots bring into the transactions (counterparty found, and its tariff).
_REF_ID, _REF_TYPE, _REF_TARIFF = "_ref_id", "_ref_type", "_ref_tariff"
# True when a client repeats the CUPS of an earlier client that passed the rules before CUPS uniqueness.
_REPEATS_CUPS = "_repeats_cups"
# True when the record may be a duplicate: it has the header's shape and a key.
_ELIGIBLE = "_eligible"


@dataclass(frozen=True)
class Check:
    rule: str
    broken: Column
    detail: Column


def present(value: Column) -> Column:
    """Not null and not blank."""
    return value.isNotNull() & (F.trim(value) != "")


def _shown(name: str, value: Column) -> Column:
    return F.concat(F.lit(f"{name}='"), F.coalesce(value, F.lit("")), F.lit("'"))


def _decimal_re(precision: int, scale: int) -> str:
    return rf"\A-?[0-9]{{1,{precision - scale}}}(\.[0-9]{{1,{scale}}})?\z"


def typed(column: contract.Column, value: Column) -> Column:
    """A field's text (null when blank) as the contract's type; null when not parseable.

    The patterns fix the exact shape; Spark's own casts (fast, no formatter) then check the calendar.
    """
    if column.type == "boolean":
        return F.when(value == "true", F.lit(True)).when(value == "false", F.lit(False))
    if column.type == "timestamp":
        return F.when(value.rlike(_TIMESTAMP_RE), _instant(value))
    if column.type == "date":
        return F.when(value.rlike(_DATE_RE), value.cast("date"))
    scale = column.decimal_precision_scale
    if scale is not None:
        return F.when(value.rlike(_decimal_re(*scale)), value.cast(column.type))
    return value


def _instant(value: Column) -> Column:
    """The instant of an ISO 8601 text of ``_TIMESTAMP_RE``'s shape.

    Spark's cast of a text with an offset resolves a zone per value (most of the cost of typing a
    transaction); so the wall time is cast alone, in the session's zone (UTC, ``runtime.SPARK_CONF``), and
    the offset, whose digits the pattern fixed, subtracted. The offsets of the exports (``Z`` and Madrid's
    ``+01:00`` / ``+02:00``) are recognised as text, about a quarter of the cost of computing one from its
    digits, which any other offset still is. Offsets past ±18:00 are no offsets (null), as for the cast.
    """
    zulu = value.endswith("Z")
    wall = value.substr(F.lit(1), F.length(value) - F.when(zulu, F.lit(1)).otherwise(F.lit(6)))
    suffix = value.substr(-6, 6)
    hours, minutes = value.substr(-5, 2).cast("int"), value.substr(-2, 2).cast("int")
    sign = F.when(value.substr(-6, 1) == "-", F.lit(-1)).otherwise(F.lit(1))
    offset_minutes = F.when(zulu, F.lit(0))
    for known in KNOWN_OFFSETS:
        offset_minutes = offset_minutes.when(suffix == known, F.lit(_offset_minutes(known)))
    offset_minutes = offset_minutes.when(
        (minutes < 60) & (hours * 60 + minutes <= 18 * 60), sign * (hours * 60 + minutes)
    )
    micros = F.unix_micros(wall.cast("timestamp")) - offset_minutes.cast("long") * 60_000_000
    return F.timestamp_micros(micros)


# The UTC offsets of Madrid's wall time (winter, summer) and of UTC written as an offset.
KNOWN_OFFSETS = ("+01:00", "+02:00", "+00:00")


def _offset_minutes(offset: str) -> int:
    sign = -1 if offset[0] == "-" else 1
    return sign * (int(offset[1:3]) * 60 + int(offset[4:6]))


def business_day_bounds(run_date: dt.date) -> tuple[Column, Column]:
    """The run date's first instant in Madrid and the next day's, as timestamp literals: a delivery is on
    the run date exactly when it starts between them (23, 24 or 25 hours apart)."""
    zone = ZoneInfo(contract.BUSINESS_TIMEZONE)

    def midnight(day: dt.date) -> Column:
        instant = dt.datetime.combine(day, dt.time(), zone)
        micros = round(instant.timestamp()) * 10**6
        return F.timestamp_micros(F.lit(micros))

    return midnight(run_date), midnight(run_date + dt.timedelta(days=1))


def spark_type(column: contract.Column) -> T.DataType:
    if column.decimal_precision_scale is not None:
        return T.DecimalType(*column.decimal_precision_scale)
    return {"boolean": T.BooleanType(), "timestamp": T.TimestampType(), "date": T.DateType()}.get(
        column.type, T.StringType()
    )


def processed_schema(entity_name: str) -> T.StructType:
    """The processed table's columns (partition columns aside): typed contract columns + ``source_file``."""
    fields = [T.StructField(c.name, spark_type(c)) for c in CONTRACT[entity_name].columns]
    return T.StructType([*fields, T.StructField(SOURCE_FILE, T.StringType())])


def _column_checks(entity: Entity, raw: Callable[[str], Column], val: Callable[[str], Column]) -> dict:
    checks: dict[str, Check] = {}
    for c in entity.columns:
        prefix = f"{entity.name}.{c.name}"
        text = raw(c.name)
        if c.required:
            checks[f"{prefix}.required"] = Check(
                f"{prefix}.required", text.isNull(), F.lit(f"{c.name} is empty")
            )
        if c.enum is not None:
            bad = text.isNotNull() & ~text.isin(*c.enum)
            checks[f"{prefix}.enum"] = Check(f"{prefix}.enum", bad, _shown(c.name, text))
        elif c.type != "string":
            bad = text.isNotNull() & val(c.name).isNull()
            checks[f"{prefix}.type"] = Check(f"{prefix}.type", bad, _shown(c.name, text))
    return checks


def _value_checks(entity: str, raw, val, run_date: dt.date) -> list[Check]:
    if entity == "providers":
        return [
            Check(
                "providers.tax_id.format",
                ~provider_tax_id_is_valid(raw("tax_id")),
                _shown("tax_id", raw("tax_id")),
            ),
            Check(
                "providers.country_code.format",
                ~raw("country_code").isin(*sorted(contract.COUNTRY_CODES)),
                _shown("country_code", raw("country_code")),
            ),
        ]
    if entity == "clients":
        power, tariff = val("contracted_power_kw"), raw("tariff")
        limit = F.lit(contract.MAX_POWER_2_0TD_KW)
        return [
            Check(
                "clients.tax_id.format",
                ~spanish_tax_id_is_valid(raw("tax_id")),
                _shown("tax_id", raw("tax_id")),
            ),
            Check(
                "clients.email.format",
                raw("email").isNotNull() & ~raw("email").rlike(_EMAIL_RE),
                _shown("email", raw("email")),
            ),
            Check("clients.cups.format", ~cups_is_valid(raw("cups")), _shown("cups", raw("cups"))),
            # Reads a window over the rows that passed the rules before it, filled by _with_cups_verdict once
            # those are decided; checks applied without that column fail (Spark cannot resolve it).
            Check(
                "clients.cups.duplicate",
                F.col(_REPEATS_CUPS),
                F.concat(_shown("cups", raw("cups")), F.lit(" already belongs to an earlier client")),
            ),
            Check(
                "clients.contracted_power_kw.range",
                power <= 0,
                _shown("contracted_power_kw", raw("contracted_power_kw")),
            ),
            Check(
                "clients.contracted_power_kw.tariff",
                ((tariff == "2.0TD") & (power > limit)) | ((tariff == "3.0TD") & (power <= limit)),
                F.concat(
                    _shown("tariff", tariff),
                    F.lit(" "),
                    _shown("contracted_power_kw", raw("contracted_power_kw")),
                ),
            ),
            Check(
                "clients.province_code.format",
                ~raw("province_code").isin(*contract.PROVINCE_CODES),
                _shown("province_code", raw("province_code")),
            ),
            Check(
                "clients.signup_date.range",
                val("signup_date") > F.lit(run_date),
                F.concat(
                    _shown("signup_date", raw("signup_date")), F.lit(f" is after the export date {run_date}")
                ),
            ),
        ]
    kind, period = raw("transaction_type"), raw("tariff_period")
    energy, price = val("energy_kwh"), val("price_eur_mwh")
    delivery_start = val("delivery_start")
    first_instant, next_day = business_day_bounds(run_date)
    # Only for the detail of a broken row: the Madrid date it is on.
    delivery_date = F.to_date(F.from_utc_timestamp(delivery_start, contract.BUSINESS_TIMEZONE))
    # kWh → MWh as a multiplication by an exact decimal: the product is exact (decimal(29,8)) and cheaper
    # than a decimal division.
    expected = energy * F.lit(Decimal("0.001")) * price
    period_ok = (
        F.when(kind == "PURCHASE", period.isNull())
        .when(F.col(_REF_TARIFF) == "2.0TD", period.isin(*contract.PERIODS_BY_TARIFF["2.0TD"]))
        .otherwise(period.isin(*contract.TARIFF_PERIODS))
    )
    return [
        Check(
            "transactions.counterparty_id.unknown",
            F.col(_REF_ID).isNull(),
            F.concat(
                _shown("counterparty_id", raw("counterparty_id")),
                F.lit(" not in the day's "),
                F.when(kind == "PURCHASE", F.lit("providers")).otherwise(F.lit("clients")),
            ),
        ),
        Check(
            "transactions.delivery_start.export_date",
            (delivery_start < first_instant) | (delivery_start >= next_day),
            F.concat(
                _shown("delivery_start", raw("delivery_start")),
                F.lit(" is on "),
                delivery_date.cast("string"),
                F.lit(f" in Madrid, not {run_date}"),
            ),
        ),
        Check(
            "transactions.tariff_period.tariff",
            ~F.coalesce(period_ok, F.lit(False)),
            F.concat(
                _shown("tariff_period", period),
                F.lit(" for "),
                kind,
                F.when(
                    kind == "SALE",
                    F.concat(F.lit(" to a "), F.coalesce(F.col(_REF_TARIFF), F.lit("?")), F.lit(" client")),
                ).otherwise(F.lit("")),
            ),
        ),
        Check("transactions.energy_kwh.range", energy < 0, _shown("energy_kwh", raw("energy_kwh"))),
        Check(
            "transactions.price_eur_mwh.range",
            (price < F.lit(contract.PRICE_MIN_EUR_MWH)) | (price > F.lit(contract.PRICE_MAX_EUR_MWH)),
            _shown("price_eur_mwh", raw("price_eur_mwh")),
        ),
        Check(
            "transactions.amount_eur.consistency",
            F.abs(val("amount_eur") - expected) > F.lit(contract.AMOUNT_TOLERANCE_EUR),
            F.concat(
                _shown("amount_eur", raw("amount_eur")),
                F.lit(", expected "),
                expected.cast("decimal(20,2)").cast("string"),
            ),
        ),
    ]


def checks_for(entity_name: str, run_date: dt.date) -> list[Check]:
    """Every row rule of the entity, in the order they are applied (module docstring).

    The checks read a field's text (null when blank) from ``_s_<name>`` and its typed value from
    ``_t_<name>`` (``with_typed``); the clients' CUPS uniqueness reads ``_repeats_cups``, which only
    ``classify`` computes, between the rules before it and the rules after it.
    """
    entity = CONTRACT[entity_name]
    found = _column_checks(entity, _text_col, _typed_col)
    found.update({c.rule: c for c in _value_checks(entity_name, _text_col, _typed_col, run_date)})
    field_count = f"{entity_name}.row.field_count"
    found[field_count] = Check(
        field_count, ~F.col(SHAPE_OK), F.lit("the row's field count differs from the header's")
    )
    expected = [r.name for r in contract.rules_for(entity_name)]
    if set(found) != set(expected):
        raise AssertionError(f"rules without a check or checks without a rule: {set(found) ^ set(expected)}")
    return [found[field_count]] + [found[name] for name in expected if name != field_count]


def _text_col(name: str) -> Column:
    return F.col(f"_s_{name}")


def _typed_col(name: str) -> Column:
    return F.col(f"_t_{name}")


def with_typed(rows: DataFrame, entity_name: str) -> DataFrame:
    """Adds ``_s_<name>`` (the text, null when blank) and ``_t_<name>`` (typed): each field is looked at
    once, and the rules and the output share the result."""
    columns = CONTRACT[entity_name].columns
    rows = rows.withColumns({f"_s_{c.name}": F.when(present(F.col(c.name)), F.col(c.name)) for c in columns})
    return rows.withColumns({f"_t_{c.name}": typed(c, _text_col(c.name)) for c in columns})


def _with_verdict(rows: DataFrame, checks: list[Check], skip: Column) -> DataFrame:
    """Adds ``rule`` and ``detail`` of the first broken check (null when ``skip`` or nothing is broken).

    The conditions are evaluated once, in order, stopping at the first broken one (CASE WHEN); the detail
    text is built afterwards for that rule only.
    """
    number = F.when(skip, F.lit(None))
    for i, check in enumerate(checks):
        number = number.when(check.broken, F.lit(i))
    rows = rows.withColumn("_rule_no", number)
    detail = F.when(F.col("_rule_no").isNull(), F.lit(None).cast("string"))
    for i, check in enumerate(checks):
        detail = detail.when(F.col("_rule_no") == i, check.detail)
    names = F.array(*[F.lit(c.rule) for c in checks])
    return rows.withColumns({RULE: F.element_at(names, F.col("_rule_no") + 1), DETAIL: detail}).drop(
        "_rule_no"
    )


def mark_duplicates(records: DataFrame, key: str) -> DataFrame:
    """Adds ``is_duplicate``: a later eligible record (file name, then position) with the key of an earlier
    one. The window's shuffle is the job's only one: it carries typed values, not the text."""
    order = Window.partitionBy(key, _ELIGIBLE).orderBy(*RECORD_ORDER)
    return records.withColumn(DUPLICATE, F.col(_ELIGIBLE) & (F.row_number().over(order) > 1))


def classify(
    records: DataFrame, entity_name: str, run_date: dt.date, references: DataFrame | None = None
) -> DataFrame:
    """Every record with its typed contract columns, ``source_file``, ``record_block``, ``record_index``,
    ``is_duplicate``, ``rule`` and ``detail`` (both null when accepted or duplicate).

    ``references`` (transactions only): the day's accepted counterparties, from ``references_for``.
    """
    return deduplicate(judge(records, entity_name, run_date, references), entity_name, run_date)


def judge(
    records: DataFrame, entity_name: str, run_date: dt.date, references: DataFrame | None = None
) -> DataFrame:
    """Row by row, where the records are read (no shuffle): the typed values, whether the record may be a
    duplicate, and the first rule it breaks, ignoring duplicates (for the clients, the rules before CUPS
    uniqueness). ``_raw_line`` is kept for the caller to observe the broken lines' text before
    ``deduplicate`` drops it."""
    session_zone = records.sparkSession.conf.get("spark.sql.session.timeZone")
    if session_zone != "UTC":
        raise ValueError(
            f"the jobs parse timestamps in a UTC session, not {session_zone!r} (runtime.SPARK_CONF)"
        )
    entity = CONTRACT[entity_name]
    for name, default in ((RECORD_BLOCK, F.lit(0).cast("long")), (RAW_LINE, F.lit(None).cast("string"))):
        if name not in records.columns:
            records = records.withColumn(name, default)
    rows = with_typed(records, entity_name).withColumn(
        _ELIGIBLE, F.col(SHAPE_OK) & present(F.col(entity.key))
    )
    if entity_name == "transactions":
        rows = _with_counterparty(rows, references)
    checks = checks_for(entity_name, run_date)
    if entity_name == "clients":
        checks = checks[: _cups_split(checks)]
    rows = _with_verdict(rows, checks, skip=F.lit(False))
    # The clients' checks after CUPS uniqueness read the texts again, after the window.
    texts = [_text_col(c.name) for c in entity.columns] if entity_name == "clients" else []
    return rows.select(
        *[_typed_col(c.name) for c in entity.columns],
        *texts,
        *RECORD_ORDER,
        RAW_LINE,
        _ELIGIBLE,
        RULE,
        DETAIL,
    )


def deduplicate(judged: DataFrame, entity_name: str, run_date: dt.date) -> DataFrame:
    """``judge``'s rows with their verdict: duplicates marked (and never quarantined), for the clients CUPS
    uniqueness and the rules after it; the output of ``classify``."""
    entity = CONTRACT[entity_name]
    rows = mark_duplicates(judged.drop(RAW_LINE), f"_t_{entity.key}")
    not_duplicate = ~F.col(DUPLICATE)
    rows = rows.withColumns(
        {RULE: F.when(not_duplicate, F.col(RULE)), DETAIL: F.when(not_duplicate, F.col(DETAIL))}
    )
    if entity_name == "clients":
        checks = checks_for(entity_name, run_date)
        rows = _with_cups_verdict(rows, checks[_cups_split(checks) :])
    return rows.select(
        *[_typed_col(c.name).alias(c.name) for c in entity.columns],
        *RECORD_ORDER,
        DUPLICATE,
        RULE,
        DETAIL,
    )


def _cups_split(checks: list[Check]) -> int:
    # CUPS uniqueness is a window over the rows that passed the rules before it (found by name).
    return [c.rule for c in checks].index("clients.cups.duplicate")


def _with_cups_verdict(rows: DataFrame, checks: list[Check]) -> DataFrame:
    """CUPS uniqueness and the rules after it, for the clients the rules before it left undecided."""
    rows = rows.withColumn("_candidate", ~F.col(DUPLICATE) & F.col(RULE).isNull())
    order = Window.partitionBy(_typed_col("cups"), "_candidate").orderBy(*RECORD_ORDER)
    rows = rows.withColumn(_REPEATS_CUPS, F.col("_candidate") & (F.row_number().over(order) > 1))
    decided = rows.withColumnsRenamed({RULE: "_rule_before", DETAIL: "_detail_before"})
    rows = _with_verdict(decided, checks, skip=~F.col("_candidate"))
    return rows.withColumns(
        {
            RULE: F.coalesce(F.col("_rule_before"), F.col(RULE)),
            DETAIL: F.coalesce(F.col("_detail_before"), F.col(DETAIL)),
        }
    ).drop("_rule_before", "_detail_before", _REPEATS_CUPS, "_candidate")


def references_for(providers: DataFrame, clients: DataFrame) -> DataFrame:
    """The day's accepted counterparties (small: broadcast): who may sell to us and who we may sell to."""
    return providers.select(
        F.col("provider_id").alias(_REF_ID),
        F.lit("PURCHASE").alias(_REF_TYPE),
        F.lit(None).cast("string").alias(_REF_TARIFF),
    ).unionByName(
        clients.select(
            F.col("client_id").alias(_REF_ID),
            F.lit("SALE").alias(_REF_TYPE),
            F.col("tariff").alias(_REF_TARIFF),
        )
    )


def _with_counterparty(rows: DataFrame, references: DataFrame | None) -> DataFrame:
    if references is None:
        raise ValueError("transactions need the day's accepted providers and clients (references_for)")
    condition = (rows["counterparty_id"] == references[_REF_ID]) & (
        rows["transaction_type"] == references[_REF_TYPE]
    )
    return rows.join(F.broadcast(references), condition, "left")


def accepted(classified: DataFrame, entity_name: str) -> DataFrame:
    """The rows to publish: typed contract columns and ``source_file``."""
    columns = [*CONTRACT[entity_name].column_names, SOURCE_FILE]
    return classified.where(~F.col(DUPLICATE) & F.col(RULE).isNull()).select(*columns)
