"""Spanish identifiers of the export contract: CUPS (supply point), NIF / NIE / CIF (tax ids), EU VAT ids.

Two implementations of the same rules, kept in agreement by tests against python-stdnum:

- pure Python ``is_valid_*`` functions (and ``make_*`` functions that build valid values for the sample
  generator);
- PySpark column expressions ``*_is_valid(col)`` built only from Spark SQL functions, so validation runs in
  the JVM at full speed (no Python UDF).

We validate the exact text. python-stdnum first *compacts* a value (strips spaces and hyphens, upper-cases,
drops an ``ES`` prefix of a NIF); the contract asks for canonical values, so ``" 12345678z"`` is valid for
stdnum and invalid here. On canonical text both agree exactly, including stdnum's choices:

- CUPS: ``ES`` + 16 digits + 2 control letters, optionally followed by a digit and one of ``FPRCXYZ``;
- NIF: 8 digits + letter, or ``K``/``L``/``M`` + 7 digits + letter (the DNI letter of the 7 digits);
- NIE: ``X``/``Y``/``Z`` (read as 0/1/2) + 7 digits + letter;
- CIF: organisation letter of ``ABCDEFGHJNPQRSUVW`` + 7 digits + control that may be the Luhn digit or its
  letter, whatever the organisation type (stdnum accepts either: sources disagree on which types use which).

``is_valid_spanish_tax_id`` (NIF or NIE or CIF) is what ``stdnum.es.nif.is_valid`` accepts.
The Spark expressions return ``false`` (never null) for a null input: "required" is a separate rule.
"""

from __future__ import annotations

import random
import re

from pyspark.sql import Column
from pyspark.sql import functions as F

from glue_jobs.lib.contract import CUPS_LETTERS

# The DNI / NIE control letters are the same 23 letters, in the same order, as the CUPS ones.
CONTROL_LETTERS = CUPS_LETTERS
CUPS_SUFFIX_TYPES = "FPRCXYZ"
CIF_ORG_LETTERS = "ABCDEFGHJNPQRSUVW"
CIF_CONTROL_LETTERS = "JABCDEFGHI"
# Organisations whose CIF ends in a letter (public bodies, foreign entities...) or in a digit (companies).
CIF_LETTER_CONTROL_ORGS = "KPQRSNW"
CIF_DIGIT_CONTROL_ORGS = "ABEH"
NIE_PREFIXES = "XYZ"
NIF_SPECIAL_PREFIXES = "KLM"
# VAT prefixes of the EU member states (Greece is EL) and Northern Ireland (XI); Spain excluded: a Spanish
# provider is identified by its CIF.
FOREIGN_EU_VAT_PREFIXES = frozenset(
    "AT BE BG CY CZ DE DK EE EL FI FR HR HU IE IT LT LU LV MT NL PL PT RO SE SI SK XI".split()
)

# ASCII-only classes and end-of-text anchors: Python's ``$`` and Java's ``$`` both match before a final
# newline, which would accept "…Z\n".
_CUPS_RE = re.compile(rf"ES[0-9]{{16}}[A-Z]{{2}}(?:[0-9][{CUPS_SUFFIX_TYPES}])?")
_NIF_RE = re.compile(rf"(?:[0-9]{{8}}|[{NIF_SPECIAL_PREFIXES}][0-9]{{7}})[A-Z]")
_NIE_RE = re.compile(rf"[{NIE_PREFIXES}][0-9]{{7}}[A-Z]")
_CIF_RE = re.compile(rf"[{CIF_ORG_LETTERS}][0-9]{{7}}[0-9A-J]")
_EU_VAT_RE = re.compile(r"([A-Z]{2})[0-9A-Z]{2,13}")


# --- pure Python ------------------------------------------------------------------------------------


def cups_control_letters(digits16: str) -> str:
    """The two control letters of a CUPS from its 16 digits."""
    high, low = divmod(int(digits16) % 529, 23)
    return CUPS_LETTERS[high] + CUPS_LETTERS[low]


def nif_letter(number: int) -> str:
    """The DNI control letter of a number (also used by NIE and by K/L/M NIFs)."""
    return CONTROL_LETTERS[number % 23]


def cif_control(body7: str) -> tuple[str, str]:
    """(digit, letter) control candidates of a CIF from its 7 digits (Luhn over the digits)."""
    total = 0
    for i, ch in enumerate(body7):
        d = int(ch)
        # Positions 1, 3, 5, 7 (1-based) are doubled and their digits summed.
        total += d if i % 2 else (2 * d) // 10 + (2 * d) % 10
    digit = (10 - total % 10) % 10
    return str(digit), CIF_CONTROL_LETTERS[digit]


def is_valid_cups(s: str | None) -> bool:
    return (
        isinstance(s, str) and _CUPS_RE.fullmatch(s) is not None and cups_control_letters(s[2:18]) == s[18:20]
    )


def is_valid_nif(s: str | None) -> bool:
    """A natural person's NIF: DNI number + letter, or K/L/M + 7 digits + letter."""
    if not isinstance(s, str) or _NIF_RE.fullmatch(s) is None:
        return False
    digits = s[:-1] if s[0].isdigit() else s[1:-1]
    return nif_letter(int(digits)) == s[-1]


def is_valid_nie(s: str | None) -> bool:
    if not isinstance(s, str) or _NIE_RE.fullmatch(s) is None:
        return False
    return nif_letter(int(str(NIE_PREFIXES.index(s[0])) + s[1:-1])) == s[-1]


def is_valid_cif(s: str | None) -> bool:
    return isinstance(s, str) and _CIF_RE.fullmatch(s) is not None and s[-1] in cif_control(s[1:8])


def is_valid_spanish_tax_id(s: str | None) -> bool:
    return is_valid_nif(s) or is_valid_nie(s) or is_valid_cif(s)


def is_valid_provider_tax_id(s: str | None) -> bool:
    """A Spanish CIF, or a foreign EU VAT number (country prefix other than ES + 2–13 alphanumerics)."""
    if is_valid_cif(s):
        return True
    match = _EU_VAT_RE.fullmatch(s) if isinstance(s, str) else None
    return match is not None and match.group(1) in FOREIGN_EU_VAT_PREFIXES


# --- makers for the sample generator ----------------------------------------------------------------


def _digits(rng: random.Random, n: int) -> str:
    return f"{rng.randrange(10**n):0{n}d}"


def make_cups(rng: random.Random, suffix: bool = False) -> str:
    """A valid CUPS; distribution companies' codes start with 00 (e.g. ``ES0021…``)."""
    digits = "00" + _digits(rng, 14)
    tail = f"{rng.randrange(10)}{rng.choice(CUPS_SUFFIX_TYPES)}" if suffix else ""
    return f"ES{digits}{cups_control_letters(digits)}{tail}"


def make_nif(rng: random.Random) -> str:
    number = rng.randrange(10**6, 10**8)
    return f"{number:08d}{nif_letter(number)}"


def make_nie(rng: random.Random) -> str:
    prefix = rng.choice(NIE_PREFIXES)
    body = _digits(rng, 7)
    return f"{prefix}{body}{nif_letter(int(str(NIE_PREFIXES.index(prefix)) + body))}"


def make_cif(rng: random.Random, org_letter: str | None = None) -> str:
    """A valid CIF; the control is a letter or a digit as the organisation type customarily uses."""
    org = org_letter or rng.choice(CIF_ORG_LETTERS)
    if org not in CIF_ORG_LETTERS:
        raise ValueError(f"{org!r} is not a CIF organisation letter ({CIF_ORG_LETTERS})")
    # Two digits of province, five of sequence: a real province keeps the values plausible.
    body = f"{rng.randrange(1, 53):02d}{_digits(rng, 5)}"
    digit, letter = cif_control(body)
    if org in CIF_LETTER_CONTROL_ORGS:
        control = letter
    elif org in CIF_DIGIT_CONTROL_ORGS:
        control = digit
    else:
        control = rng.choice((digit, letter))
    return f"{org}{body}{control}"


def make_eu_vat(rng: random.Random, country_prefix: str) -> str:
    """A format-valid foreign EU VAT number (the contract checks the format, not national checksums)."""
    if country_prefix not in FOREIGN_EU_VAT_PREFIXES:
        raise ValueError(f"{country_prefix!r} is not a foreign EU VAT prefix")
    return f"{country_prefix}{_digits(rng, rng.choice((8, 9, 10, 11)))}"


# --- Spark column expressions -----------------------------------------------------------------------


def _full_match(col: Column, pattern: str) -> Column:
    # Java regex: \A and \z anchor at the very start and end of the text, newline or not.
    return col.rlike(rf"\A(?:{pattern})\z")


def _letter_at(index0: Column, letters: str = CONTROL_LETTERS) -> Column:
    return F.lit(letters).substr(index0 + 1, F.lit(1))


def _digit(col: Column, pos1: int) -> Column:
    return F.substring(col, pos1, 1).cast("int")


def _checked(shape_ok: Column, control_ok: Column) -> Column:
    # CASE WHEN evaluates the control only on well-shaped text, so casts never see garbage (ANSI mode).
    return F.when(shape_ok, control_ok).otherwise(F.lit(False))


def cups_is_valid(col: Column) -> Column:
    """True when the text is a valid CUPS; false for anything else, including null."""
    remainder = F.pmod(F.substring(col, 3, 16).cast("bigint"), F.lit(529))
    letters = F.concat(
        _letter_at(F.floor(remainder / 23).cast("int")), _letter_at((remainder % 23).cast("int"))
    )
    return _checked(_full_match(col, _CUPS_RE.pattern), F.substring(col, 19, 2) == letters)


def nif_is_valid(col: Column) -> Column:
    """True for a natural person's NIF (8 digits + letter, or K/L/M + 7 digits + letter); false otherwise."""
    digits = F.when(col.substr(1, 1).rlike("[0-9]"), F.substring(col, 1, 8)).otherwise(F.substring(col, 2, 7))
    expected = _letter_at(F.pmod(digits.cast("bigint"), F.lit(23)).cast("int"))
    return _checked(_full_match(col, _NIF_RE.pattern), F.substring(col, 9, 1) == expected)


def nie_is_valid(col: Column) -> Column:
    """True for a valid NIE (X/Y/Z + 7 digits + letter); false otherwise, including null."""
    # X, Y, Z stand for 0, 1, 2 in front of the 7 digits.
    number = F.translate(F.substring(col, 1, 8), NIE_PREFIXES, "012").cast("bigint")
    expected = _letter_at(F.pmod(number, F.lit(23)).cast("int"))
    return _checked(_full_match(col, _NIE_RE.pattern), F.substring(col, 9, 1) == expected)


def cif_is_valid(col: Column) -> Column:
    """True for a valid CIF (control digit or letter accepted for every organisation type); else false."""
    total = F.lit(0)
    for pos in range(2, 9):
        d = _digit(col, pos)
        # 1-based positions 2, 4, 6, 8 of the text are the body's odd positions: doubled, digits summed.
        total = total + (F.floor(d * 2 / 10).cast("int") + (d * 2) % 10 if pos % 2 == 0 else d)
    control_digit = (F.lit(10) - total % 10) % 10
    control = F.substring(col, 9, 1)
    matches = (control == control_digit.cast("string")) | (
        control == _letter_at(control_digit, CIF_CONTROL_LETTERS)
    )
    return _checked(_full_match(col, _CIF_RE.pattern), matches)


def spanish_tax_id_is_valid(col: Column) -> Column:
    """NIF or NIE or CIF (what ``stdnum.es.nif.is_valid`` accepts on canonical text); false for null."""
    return nif_is_valid(col) | nie_is_valid(col) | cif_is_valid(col)


def provider_tax_id_is_valid(col: Column) -> Column:
    """A Spanish CIF or a foreign EU VAT number; false for null."""
    eu_vat = _full_match(col, _EU_VAT_RE.pattern) & F.substring(col, 1, 2).isin(
        *sorted(FOREIGN_EU_VAT_PREFIXES)
    )
    return cif_is_valid(col) | F.coalesce(eu_vat, F.lit(False))
