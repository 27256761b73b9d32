"""The identifier checks agree with python-stdnum on thousands of valid and corrupted values, in Python (the
generator's twin, ``ids``) and as the jobs' Spark column expressions (``spark_ids``)."""

from __future__ import annotations

import random
import string

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from stdnum.es import cif as std_cif
from stdnum.es import cups as std_cups
from stdnum.es import nie as std_nie
from stdnum.es import nif as std_nif

from energy_datalake.generator import identifiers as ids
from glue_jobs.lib import identifiers as spark_ids

ALNUM = string.digits + string.ascii_uppercase


def _canonical(s: str, compact) -> bool:
    # stdnum compacts before validating (and, being lenient, accepts "1234567\nZ"): we validate exact text.
    return compact(s) == s and not any(c.isspace() for c in s)


def std_cups_valid(s: str) -> bool:
    return std_cups.is_valid(s) and _canonical(s, std_cups.compact)


def std_nif_valid(s: str) -> bool:
    """A natural person's NIF: stdnum's NIF without its NIE and CIF branches."""
    return std_spanish_tax_id_valid(s) and (s[0].isdigit() or s[0] in "KLM")


def std_nie_valid(s: str) -> bool:
    return std_nie.is_valid(s) and _canonical(s, std_nie.compact)


def std_cif_valid(s: str) -> bool:
    return std_cif.is_valid(s) and _canonical(s, std_cif.compact)


def std_spanish_tax_id_valid(s: str) -> bool:
    return std_nif.is_valid(s) and _canonical(s, std_nif.compact)


REFERENCES = {
    "cups": (std_cups_valid, ids.is_valid_cups, spark_ids.cups_is_valid),
    "nif": (std_nif_valid, ids.is_valid_nif, spark_ids.nif_is_valid),
    "nie": (std_nie_valid, ids.is_valid_nie, spark_ids.nie_is_valid),
    "cif": (std_cif_valid, ids.is_valid_cif, spark_ids.cif_is_valid),
    "spanish_tax_id": (
        std_spanish_tax_id_valid,
        ids.is_valid_spanish_tax_id,
        spark_ids.spanish_tax_id_is_valid,
    ),
}


def _corruptions(value: str, rng: random.Random) -> list[str]:
    i = rng.randrange(len(value))
    digit_positions = [k for k, c in enumerate(value) if c.isdigit()]
    j = rng.choice(digit_positions)
    return [
        value[:-1] + rng.choice(ALNUM),  # control character (sometimes right by chance)
        value[:-2] + rng.choice(string.ascii_uppercase) + value[-1],
        value[:j] + str((int(value[j]) + rng.randrange(1, 10)) % 10) + value[j + 1 :],  # a digit
        value[:i] + value[i + 1 :],  # too short
        value[:i] + rng.choice(ALNUM) + value[i:],  # too long
        rng.choice(ALNUM) + value[1:],  # prefix
        value[:j] + value[j + 1 :][:1] + value[j : j + 1] + value[j + 2 :],  # swapped neighbours
        value.lower(),  # not canonical
        value[:4] + " " + value[4:],
        value[:4] + "-" + value[4:],
        " " + value,
        value + "\n",
        "ES" + value,
        value + "0F",  # a CUPS suffix
        value + rng.choice(ALNUM) + rng.choice("FPRCXYZ" + string.digits),
    ]


def _random_strings(rng: random.Random, n: int) -> list[str]:
    shaped = [
        rng.choice("0123456789KLMXYZABCDEFGHJNPQRSUVWIOT") + "".join(rng.choices(string.digits, k=7)) + c
        for c in rng.choices(ALNUM, k=n)
    ]
    cups_shaped = [
        "ES" + "".join(rng.choices(string.digits, k=16)) + "".join(rng.choices(ids.CUPS_LETTERS, k=2))
        for _ in range(n)
    ]
    free = ["".join(rng.choices(ALNUM + "ñÑ-./", k=rng.randrange(0, 24))) for _ in range(n)]
    unicode_digits = ["١٢٣٤٥٦٧٨Z", "１２３４５６７８Z", "X١٢٣٤٥٦٧L"]
    return shaped + cups_shaped + free + unicode_digits


@pytest.fixture(scope="module")
def candidates() -> list[str]:
    rng = random.Random(20260329)
    valid = []
    for _ in range(200):
        valid += [
            ids.make_cups(rng),
            ids.make_cups(rng, suffix=True),
            ids.make_nif(rng),
            ids.make_nie(rng),
            ids.make_cif(rng),
        ]
    # K/L/M NIFs use the DNI letter of their 7 digits.
    for _ in range(100):
        body = f"{rng.randrange(10**7):07d}"
        valid.append(f"{rng.choice('KLM')}{body}{ids.nif_letter(int(body))}")
    values = list(valid)
    for v in valid:
        values += _corruptions(v, rng)
    values += _random_strings(rng, 1000)
    return sorted(set(values))


@pytest.fixture(scope="module")
def stdnum_verdicts(candidates) -> dict[str, dict[str, bool]]:
    """{identifier: {value: stdnum's verdict on the canonical text}}, computed once for both test paths."""
    return {name: {v: reference(v) for v in candidates} for name, (reference, _, _) in REFERENCES.items()}


def test_makers_build_values_stdnum_accepts():
    rng = random.Random(7)
    for _ in range(500):
        assert std_cups_valid(ids.make_cups(rng))
        assert std_cups_valid(ids.make_cups(rng, suffix=True))
        assert std_nif_valid(ids.make_nif(rng))
        assert std_nie_valid(ids.make_nie(rng))
        assert std_cif_valid(ids.make_cif(rng))
        assert ids.is_valid_provider_tax_id(ids.make_eu_vat(rng, "DE"))


def test_cif_control_follows_the_organisation_type():
    rng = random.Random(3)
    assert ids.make_cif(rng, "P")[-1].isalpha()
    assert ids.make_cif(rng, "B")[-1].isdigit()
    with pytest.raises(ValueError):
        ids.make_cif(rng, "I")


@pytest.mark.parametrize("name", sorted(REFERENCES))
def test_python_checks_agree_with_stdnum(name, stdnum_verdicts):
    _, ours, _ = REFERENCES[name]
    verdicts = stdnum_verdicts[name]
    assert [(v, expected) for v, expected in verdicts.items() if ours(v) != expected] == []
    # Both outcomes well represented, or the comparison would prove little.
    accepted = sum(verdicts.values())
    assert accepted >= 150 and len(verdicts) - accepted >= 5000


def test_spark_expressions_agree_with_stdnum(spark, candidates, stdnum_verdicts, tmp_path):
    # Through Parquet rather than createDataFrame: the values reach the JVM without Python workers, newlines
    # and all, and the whole check is one JVM pass.
    path = tmp_path / "values.parquet"
    pq.write_table(pa.table({"value": pa.array([*candidates, None], pa.string())}), path)
    df = spark.read.parquet(str(path))
    checks = {name: expr(df.value).alias(name) for name, (_, _, expr) in REFERENCES.items()}
    checks["provider_tax_id"] = spark_ids.provider_tax_id_is_valid(df.value).alias("provider_tax_id")
    rows = df.select("value", *checks.values()).collect()
    assert len(rows) == len(candidates) + 1
    expected = {
        **stdnum_verdicts,
        "provider_tax_id": {v: ids.is_valid_provider_tax_id(v) for v in candidates},
    }
    disagreements = []
    for row in rows:
        for name in checks:
            want = False if row.value is None else expected[name][row.value]
            if row[name] is not want:
                disagreements.append((name, row.value, row[name]))
    assert disagreements == []


@pytest.mark.parametrize(
    "value",
    [
        "12345678z",
        "12345678-Z",
        " 12345678Z",
        "12345678Z\n",
        "1234567\nZ",
        "ES12345678Z",
        "es0021000000000000AA",
    ],
)
def test_non_canonical_text_is_rejected_even_when_stdnum_accepts_it(value):
    assert not ids.is_valid_spanish_tax_id(value)
    assert not ids.is_valid_cups(value)


def test_non_canonical_forms_of_valid_values():
    rng = random.Random(11)
    nif, cups = ids.make_nif(rng), ids.make_cups(rng)
    for valid, ours, std in (
        (nif, ids.is_valid_nif, std_nif.is_valid),
        (cups, ids.is_valid_cups, std_cups.is_valid),
    ):
        for variant in (valid.lower(), f" {valid} ", valid[:4] + "-" + valid[4:], valid + "\n"):
            assert std(variant) and not ours(variant)


@pytest.mark.parametrize(
    ("value", "valid"),
    [
        ("DE123456789", True),
        ("FR12345678901", True),
        ("EL123456789", True),
        ("XI123456789", True),
        ("ATU12345678", True),
        ("ES123456789", False),  # Spanish providers are identified by their CIF
        ("US123456789", False),  # not an EU prefix
        ("DE1", False),
        ("DE12345678901234", False),
        ("de123456789", False),
        ("DE 123456789", False),
        ("", False),
        (None, False),
    ],
)
def test_provider_tax_id_accepts_cif_or_foreign_eu_vat(value, valid):
    assert ids.is_valid_provider_tax_id(value) is valid


def test_provider_tax_id_accepts_spanish_cif():
    rng = random.Random(5)
    assert all(ids.is_valid_provider_tax_id(ids.make_cif(rng)) for _ in range(100))
    assert not ids.is_valid_provider_tax_id(ids.make_nif(rng))


def test_known_values():
    # Examples from python-stdnum's documentation.
    assert ids.cups_control_letters("1234123456789012") == "JY"
    assert ids.is_valid_cups("ES1234123456789012JY")
    assert ids.is_valid_cups("ES1234123456789012JY1F")
    assert not ids.is_valid_cups("ES1234123456789012JY1T")
    assert ids.nif_letter(12345678) == "Z"
    assert ids.is_valid_nif("12345678Z")
    assert ids.is_valid_nie("X1234567L")
    assert ids.is_valid_cif("B12345674")
    assert ids.is_valid_cif("P1234567D")
