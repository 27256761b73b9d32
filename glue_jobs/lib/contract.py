"""The export contract (the raw zone of docs/architecture.md), as data.

One place for the columns, types, enums, ranges and rule names of the three raw entities. The Glue jobs,
the sample generator and the quality checks all read it from here. Pure Python: no Spark, no Airflow.

Rule names are stable identifiers (``<entity>.<column>.<check>``, or ``file.<check>`` for whole files):
a quarantined row or file carries the name of the rule it broke.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal

ENTITIES = ("providers", "clients", "transactions")

# Business dates are Spanish; every timestamp in the exports carries its UTC offset.
BUSINESS_TIMEZONE = "Europe/Madrid"

PROVIDER_TYPES = ("MARKET", "GENERATOR", "TRADER")
TECHNOLOGIES = ("SOLAR", "WIND", "HYDRO", "NUCLEAR", "COMBINED_CYCLE", "COGENERATION", "MIXED")
TARIFFS = ("2.0TD", "3.0TD", "6.1TD", "6.2TD", "6.3TD", "6.4TD")
SEGMENTS = ("RESIDENTIAL", "SME", "INDUSTRIAL")
TRANSACTION_TYPES = ("PURCHASE", "SALE")
TARIFF_PERIODS = ("P1", "P2", "P3", "P4", "P5", "P6")
BOOLEANS = ("true", "false")

# 2.0TD (domestic, ≤ 15 kW) has three periods; every other access tariff has six.
PERIODS_BY_TARIFF = {t: TARIFF_PERIODS[:3] if t == "2.0TD" else TARIFF_PERIODS for t in TARIFFS}
MAX_POWER_2_0TD_KW = Decimal("15")

# OMIE day-ahead market harmonised limits (€/MWh).
PRICE_MIN_EUR_MWH = Decimal("-500")
PRICE_MAX_EUR_MWH = Decimal("4000")
AMOUNT_TOLERANCE_EUR = Decimal("0.01")

CUPS_LETTERS = "TRWAGMYFPDXBNJZSQVHLCKE"
PROVINCE_CODES = tuple(f"{n:02d}" for n in range(1, 53))

# ISO 3166-1 alpha-2 codes.
COUNTRY_CODES = frozenset(
    """AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ BR BS BT BV
    BW BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM DO DZ EC EE EG EH ER ES ET
    FI FJ FK FM FO FR GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW GY HK HM HN HR HT HU ID IE IL IM
    IN IO IQ IR IS IT JE JM JO JP KE KG KH KI KM KN KP KR KW KY KZ LA LB LC LI LK LR LS LT LU LV LY MA MC MD
    ME MF MG MH MK ML MM MN MO MP MQ MR MS MT MU MV MW MX MY MZ NA NC NE NF NG NI NL NO NP NR NU NZ OM PA PE
    PF PG PH PK PL PM PN PR PS PT PW PY QA RE RO RS RU RW SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST
    SV SX SY SZ TC TD TF TG TH TJ TK TL TM TN TO TR TT TV TW TZ UA UG UM US UY UZ VA VC VE VG VI VN VU WF WS
    YE YT ZA ZM ZW""".split()
)


@dataclass(frozen=True)
class Column:
    name: str
    # string | enum | boolean | timestamp | date | decimal(p,s)
    type: str
    required: bool = True
    enum: tuple[str, ...] | None = None
    personal: bool = False

    @property
    def decimal_precision_scale(self) -> tuple[int, int] | None:
        if not self.type.startswith("decimal("):
            return None
        p, s = self.type[len("decimal(") : -1].split(",")
        return int(p), int(s)


@dataclass(frozen=True)
class Entity:
    name: str
    key: str
    columns: tuple[Column, ...]
    # providers and clients are full daily snapshots; transactions are the day's events.
    snapshot: bool
    # A field may hold a line break (names): the file is read as whole CSV records, not as lines.
    multiline: bool
    unique: tuple[str, ...] = field(default=())

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    @property
    def required_columns(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns if c.required)

    @property
    def personal_columns(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns if c.personal)

    def column(self, name: str) -> Column:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(f"{self.name} has no column {name!r}")


PROVIDERS = Entity(
    name="providers",
    key="provider_id",
    snapshot=True,
    multiline=True,
    columns=(
        Column("provider_id", "string"),
        Column("legal_name", "string"),
        Column("tax_id", "string"),
        Column("provider_type", "enum", enum=PROVIDER_TYPES),
        Column("technology", "enum", required=False, enum=TECHNOLOGIES),
        Column("country_code", "string"),
        Column("active", "boolean", enum=BOOLEANS),
        Column("updated_at", "timestamp"),
    ),
)

CLIENTS = Entity(
    name="clients",
    key="client_id",
    snapshot=True,
    multiline=True,
    unique=("cups",),
    columns=(
        Column("client_id", "string"),
        Column("tax_id", "string", personal=True),
        Column("full_name", "string", personal=True),
        Column("email", "string", required=False, personal=True),
        Column("cups", "string"),
        Column("tariff", "enum", enum=TARIFFS),
        Column("contracted_power_kw", "decimal(8,3)"),
        Column("province_code", "string"),
        Column("segment", "enum", enum=SEGMENTS),
        Column("signup_date", "date"),
        Column("updated_at", "timestamp"),
    ),
)

TRANSACTIONS = Entity(
    name="transactions",
    key="transaction_id",
    snapshot=False,
    # Ids, codes, numbers and timestamps: one record per line, so a big file is read by many tasks.
    multiline=False,
    columns=(
        Column("transaction_id", "string"),
        Column("transaction_type", "enum", enum=TRANSACTION_TYPES),
        Column("counterparty_id", "string"),
        Column("delivery_start", "timestamp"),
        # Required for sales only: the cross-field rule checks it against the client's tariff.
        Column("tariff_period", "enum", required=False, enum=TARIFF_PERIODS),
        Column("energy_kwh", "decimal(14,3)"),
        Column("price_eur_mwh", "decimal(10,2)"),
        Column("amount_eur", "decimal(14,2)"),
        Column("created_at", "timestamp"),
    ),
)

CONTRACT: dict[str, Entity] = {e.name: e for e in (PROVIDERS, CLIENTS, TRANSACTIONS)}


@dataclass(frozen=True)
class Rule:
    name: str
    description: str


def _column_rules() -> list[Rule]:
    rules: list[Rule] = []
    for entity in CONTRACT.values():
        for c in entity.columns:
            prefix = f"{entity.name}.{c.name}"
            if c.required:
                rules.append(Rule(f"{prefix}.required", f"{c.name} is required"))
            if c.enum is not None:
                rules.append(Rule(f"{prefix}.enum", f"{c.name} must be one of {', '.join(c.enum)}"))
            elif c.type != "string":
                rules.append(Rule(f"{prefix}.type", f"{c.name} must parse as {c.type}"))
    return rules


# Rules beyond required / enum / type, in the order they are checked.
_VALUE_RULES = [
    Rule("file.not_utf8", "the file is not UTF-8 text"),
    Rule("file.empty", "the file has no header row"),
    Rule("file.missing_required_column", "a required column of the contract is missing from the header"),
    Rule("file.duplicate_column", "the header names a column twice"),
    Rule("providers.row.field_count", "the row has a different number of fields than the header"),
    Rule("clients.row.field_count", "the row has a different number of fields than the header"),
    Rule("transactions.row.field_count", "the row has a different number of fields than the header"),
    Rule("providers.tax_id.format", "tax_id must be a valid Spanish CIF or an EU VAT number"),
    Rule("providers.country_code.format", "country_code must be an ISO 3166-1 alpha-2 code"),
    Rule("clients.tax_id.format", "tax_id must be a valid NIF, NIE or CIF (control character)"),
    Rule("clients.email.format", "email must be syntactically valid"),
    Rule("clients.cups.format", "CUPS must be ES + 16 digits + 2 control letters (+ optional 2-char suffix)"),
    Rule("clients.cups.duplicate", "CUPS must be unique in the snapshot"),
    Rule("clients.contracted_power_kw.range", "contracted power must be > 0"),
    Rule("clients.contracted_power_kw.tariff", "2.0TD needs power <= 15 kW; 3.0TD needs power > 15 kW"),
    Rule("clients.province_code.format", "province_code must be an INE code 01-52"),
    Rule("clients.signup_date.range", "signup_date must not be after the export date"),
    Rule("transactions.counterparty_id.unknown", "counterparty must exist in the day's providers/clients"),
    Rule("transactions.delivery_start.export_date", "delivery_start's Madrid date must be the export date"),
    Rule("transactions.tariff_period.tariff", "SALE: P1-P3 for 2.0TD, P1-P6 otherwise; PURCHASE: empty"),
    Rule("transactions.energy_kwh.range", "energy_kwh must be >= 0"),
    Rule("transactions.price_eur_mwh.range", "price must be within the market limits -500 .. 4000 EUR/MWh"),
    Rule("transactions.amount_eur.consistency", "amount_eur must equal energy_kwh / 1000 * price +/- 0.01"),
]

RULES: dict[str, Rule] = {r.name: r for r in _column_rules() + _VALUE_RULES}

# Removed and counted, never quarantined: exact copies of a row, and later rows repeating a key.
DUPLICATE_EXACT = "duplicate.exact"
DUPLICATE_KEY = "duplicate.key"


def rules_for(entity: str) -> list[Rule]:
    return [r for r in RULES.values() if r.name.startswith(f"{entity}.")]


def partition_values(day: dt.date) -> dict[str, str]:
    """The partition columns of a run date, ``{"year": "YYYY", "month": "MM", "day": "DD"}``: zero-padded
    text, as in every zone's paths, the catalog's partition values and the quality checks' SQL."""
    return {"year": f"{day.year:04d}", "month": f"{day.month:02d}", "day": f"{day.day:02d}"}


def partition_path(day: dt.date) -> str:
    """``year=YYYY/month=MM/day=DD``: the run date's partition below a table's folder, in every zone."""
    return "/".join(f"{column}={value}" for column, value in partition_values(day).items())


def raw_key(entity: str, day: dt.date, n: int | None = None) -> str:
    """Object key (relative to the raw zone) of one export file: ``<entity>/year=/month=/day=/<file>``."""
    stamp = "".join(partition_values(day).values())
    suffix = "" if n is None else f"_{n}"
    return f"{entity}/{partition_path(day)}/{entity}_{stamp}{suffix}.csv"
