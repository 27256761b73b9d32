"""Spanish identifiers of the export contract: CUPS (supply point), NIF / NIE / CIF (tax ids), EU VAT ids.

The rules as data (letters, prefixes, patterns) and as PySpark column expressions ``*_is_valid(col)`` built
only from Spark SQL functions, so validation runs in the JVM at full speed (no Python UDF). Their pure Python
twins (``is_valid_*``, and the ``make_*`` functions of the sample exports) live with the generator, in
``energy_datalake.generator.identifiers``; tests hold both to python-stdnum. The Glue jobs need only this
module.

We validate the exact text. python-stdnum first *compacts* a value (strips spaces and hyphens, upper-cases,
drops an ``ES`` prefix of a NIF); the contract asks for canonical values, so ``" 12345678z"`` is valid for
stdnum and invalid here. On canonical text both agree exactly, including stdnum's choices:

- CUPS: ``ES`` + 16 digits + 2 control letters, optionally followed by a digit and one of ``FPRCXYZ``;
- NIF: 8 digits + letter, or ``K``/``L``/``M`` + 7 digits + letter (the DNI letter of the 7 digits);
- NIE: ``X``/``Y``/``Z`` (read as 0/1/2) + 7 digits + letter;
- CIF: organisation letter of ``ABCDEFGHJNPQRSUVW`` + 7 digits + control that may be the Luhn digit or its
  letter, whatever the organisation type (stdnum accepts either: sources disagree on which types use which).

``spanish_tax_id_is_valid`` (NIF or NIE or CIF) is what ``stdnum.es.nif.is_valid`` accepts.
The Spark expressions return ``false`` (never null) for a null input: "required" is a separate rule.
"""

from __future__ import annotations

from pyspark.sql import Column
from pyspark.sql import functions as F

from glue_jobs.lib.contract import CUPS_LETTERS

# The DNI / NIE control letters are the same 23 letters, in the same order, as the CUPS ones.
CONTROL_LETTERS = CUPS_LETTERS
CUPS_SUFFIX_TYPES = "FPRCXYZ"
CIF_ORG_LETTERS = "ABCDEFGHJNPQRSUVW"
CIF_CONTROL_LETTERS = "JABCDEFGHI"
NIE_PREFIXES = "XYZ"
NIF_SPECIAL_PREFIXES = "KLM"
# VAT prefixes of the EU member states (Greece is EL) and Northern Ireland (XI); Spain excluded: a Spanish
# provider is identified by its CIF.
FOREIGN_EU_VAT_PREFIXES = frozenset(
    "AT BE BG CY CZ DE DK EE EL FI FR HR HU IE IT LT LU LV MT NL PL PT RO SE SI SK XI".split()
)

# Whole-text patterns, the same in Java's regex and Python's ``re``: ASCII-only classes, and matched against
# the whole text (``\A…\z`` here, ``fullmatch`` in Python), because Python's ``$`` and Java's ``$`` both
# match before a final newline, which would accept "…Z\n".
CUPS_PATTERN = rf"ES[0-9]{{16}}[A-Z]{{2}}(?:[0-9][{CUPS_SUFFIX_TYPES}])?"
NIF_PATTERN = rf"(?:[0-9]{{8}}|[{NIF_SPECIAL_PREFIXES}][0-9]{{7}})[A-Z]"
NIE_PATTERN = rf"[{NIE_PREFIXES}][0-9]{{7}}[A-Z]"
CIF_PATTERN = rf"[{CIF_ORG_LETTERS}][0-9]{{7}}[0-9A-J]"
# The first group is the country prefix.
EU_VAT_PATTERN = r"([A-Z]{2})[0-9A-Z]{2,13}"


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
    return _checked(_full_match(col, CUPS_PATTERN), F.substring(col, 19, 2) == letters)


def nif_is_valid(col: Column) -> Column:
    """True for a natural person's NIF (8 digits + letter, or K/L/M + 7 digits + letter); false otherwise."""
    digits = F.when(col.substr(1, 1).rlike("[0-9]"), F.substring(col, 1, 8)).otherwise(F.substring(col, 2, 7))
    expected = _letter_at(F.pmod(digits.cast("bigint"), F.lit(23)).cast("int"))
    return _checked(_full_match(col, NIF_PATTERN), F.substring(col, 9, 1) == expected)


def nie_is_valid(col: Column) -> Column:
    """True for a valid NIE (X/Y/Z + 7 digits + letter); false otherwise, including null."""
    # X, Y, Z stand for 0, 1, 2 in front of the 7 digits.
    number = F.translate(F.substring(col, 1, 8), NIE_PREFIXES, "012").cast("bigint")
    expected = _letter_at(F.pmod(number, F.lit(23)).cast("int"))
    return _checked(_full_match(col, NIE_PATTERN), F.substring(col, 9, 1) == expected)


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
    return _checked(_full_match(col, CIF_PATTERN), matches)


def spanish_tax_id_is_valid(col: Column) -> Column:
    """NIF or NIE or CIF (what ``stdnum.es.nif.is_valid`` accepts on canonical text); false for null."""
    return nif_is_valid(col) | nie_is_valid(col) | cif_is_valid(col)


def provider_tax_id_is_valid(col: Column) -> Column:
    """A Spanish CIF or a foreign EU VAT number; false for null."""
    eu_vat = _full_match(col, EU_VAT_PATTERN) & F.substring(col, 1, 2).isin(*sorted(FOREIGN_EU_VAT_PREFIXES))
    return cif_is_valid(col) | F.coalesce(eu_vat, F.lit(False))
