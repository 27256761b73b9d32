"""Spanish identifiers in pure Python: ``make_*`` builds valid values for the sample exports, ``is_valid_*``
checks a text.

The rules are those of ``glue_jobs.lib.identifiers`` (its letters, prefixes and whole-text patterns), which
the Glue jobs apply as Spark expressions; this is their Python twin, kept out of the Glue zip because only
the generator and the tests use it. Tests hold the makers, these checks and the Spark expressions to
python-stdnum. As there, the checks take the exact text: ``" 12345678z"`` is not a NIF.
"""

from __future__ import annotations

import random
import re

from glue_jobs.lib.contract import CUPS_LETTERS
from glue_jobs.lib.identifiers import (
    CIF_CONTROL_LETTERS,
    CIF_ORG_LETTERS,
    CIF_PATTERN,
    CONTROL_LETTERS,
    CUPS_PATTERN,
    CUPS_SUFFIX_TYPES,
    EU_VAT_PATTERN,
    FOREIGN_EU_VAT_PREFIXES,
    NIE_PATTERN,
    NIE_PREFIXES,
    NIF_PATTERN,
)

# Organisations whose CIF ends in a letter (public bodies, foreign entities...) or in a digit (companies).
CIF_LETTER_CONTROL_ORGS = "KPQRSNW"
CIF_DIGIT_CONTROL_ORGS = "ABEH"

_CUPS_RE = re.compile(CUPS_PATTERN)
_NIF_RE = re.compile(NIF_PATTERN)
_NIE_RE = re.compile(NIE_PATTERN)
_CIF_RE = re.compile(CIF_PATTERN)
_EU_VAT_RE = re.compile(EU_VAT_PATTERN)


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
