"""Clients and providers, and how their rows change from one export date to the next."""

from __future__ import annotations

import functools
import math
import random
import unicodedata
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from energy_datalake.generator import identifiers as ids
from energy_datalake.generator.reference import (
    BUSINESS_BRANDS,
    BUSINESS_KINDS,
    EMAIL_DOMAINS,
    FIRST_NAMES,
    FOREIGN_NAMES,
    INDUSTRIAL_KINDS,
    INDUSTRIAL_PLACES,
    INDUSTRIAL_TARIFFS,
    LEGAL_FORMS,
    MADRID,
    PROVIDER_CATALOGUE,
    PROVINCE_CUM_WEIGHTS,
    RESIDENTIAL_POWER_CUM_WEIGHTS,
    RESIDENTIAL_POWERS,
    SEGMENT_CUM_WEIGHTS,
    SEGMENT_WEIGHTS,
    SME_ORG_CUM_WEIGHTS,
    SURNAMES,
    VAT_PREFIX_COUNTRY,
)
from glue_jobs.lib import contract

# Each client alternates between two contracts with this period: 1/200 of the clients change each day.
CONTRACT_PERIOD_DAYS = 200
SIGNUPS_PER_CLIENT_PER_DAY = 0.0001
SIGNUP_EPOCH = date(2026, 1, 1)
BASE_HISTORY_DAYS = 18 * 365


@dataclass(frozen=True)
class Contract:
    tariff: str
    power_kw: float


@dataclass(frozen=True)
class Client:
    client_id: str
    tax_id: str
    full_name: str
    email: str
    cups: str
    segment: str
    province_code: str
    signup_date: date
    phase: int
    contracts: tuple[Contract, Contract]
    price_offset: float

    def version(self, day: date) -> int:
        return (day.toordinal() + self.phase) // CONTRACT_PERIOD_DAYS

    def contract_on(self, day: date) -> Contract:
        return self.contracts[self.version(day) % 2]

    def updated_on(self, day: date) -> date:
        last_switch = date.fromordinal(self.version(day) * CONTRACT_PERIOD_DAYS - self.phase)
        return max(last_switch, self.signup_date)


@functools.cache  # names repeat: fold each once
def _ascii(text: str) -> str:
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return "".join(c for c in folded.lower() if c.isalnum() or c in " .-").strip()


def _person(rng: random.Random, foreign: bool) -> tuple[str, str]:
    """(full name, email local part) of a person; a third of the names are written 'Surnames, Name'."""
    if foreign:
        first, surnames = rng.choice(FOREIGN_NAMES)
    else:
        first, surnames = rng.choice(FIRST_NAMES), f"{rng.choice(SURNAMES)} {rng.choice(SURNAMES)}"
    name = f"{surnames}, {first}" if rng.random() < 0.33 else f"{first} {surnames}"
    local = f"{_ascii(first)}.{_ascii(surnames)}".replace(" ", "")
    return name, f"{local}{rng.randrange(100)}" if rng.random() < 0.5 else local


def _company(rng: random.Random, segment: str, org: str) -> tuple[str, str]:
    legal = LEGAL_FORMS.get(org, "S.L.")
    if segment == "INDUSTRIAL":
        name = f"{rng.choice(INDUSTRIAL_KINDS)} {rng.choice(INDUSTRIAL_PLACES)}, {legal}"
    else:
        brand = rng.choice(BUSINESS_BRANDS).format(surname=rng.choice(SURNAMES))
        name = f"{rng.choice(BUSINESS_KINDS)} {brand}, {legal}"
    slug = "-".join(_ascii(name.rsplit(",", 1)[0]).replace(".", "").split())
    return name, f"info@{slug}.es"


def _tax_id(rng: random.Random, segment: str) -> tuple[str, str | None]:
    """(tax id, CIF organisation letter or None for a person)."""
    roll = rng.random()
    if segment == "RESIDENTIAL":
        return (ids.make_nie(rng), None) if roll < 0.08 else (ids.make_nif(rng), None)
    if segment == "SME" and roll < 0.18:  # self-employed with their own NIF
        return ids.make_nif(rng), None
    org = rng.choices("BAFEJ", cum_weights=SME_ORG_CUM_WEIGHTS)[0] if segment == "SME" else rng.choice("AAB")
    return ids.make_cif(rng, org), org


def _residential_contracts(rng: random.Random) -> tuple[Contract, Contract]:
    i = rng.choices(range(len(RESIDENTIAL_POWERS)), cum_weights=RESIDENTIAL_POWER_CUM_WEIGHTS)[0]
    j = min(max(i + rng.choice((-2, -1, 1, 2)), 0), len(RESIDENTIAL_POWERS) - 1)
    j = j if j != i else (i + 1 if i + 1 < len(RESIDENTIAL_POWERS) else i - 1)
    return Contract("2.0TD", RESIDENTIAL_POWERS[i]), Contract("2.0TD", RESIDENTIAL_POWERS[j])


def _sme_contract(power: float) -> Contract:
    power = round(min(max(power, 5.0), 450.0), 3)
    # 3.0TD needs strictly more than 15 kW; 15.000 itself stays on 2.0TD.
    return Contract("2.0TD" if power <= float(contract.MAX_POWER_2_0TD_KW) else "3.0TD", power)


def _sme_contracts(rng: random.Random) -> tuple[Contract, Contract]:
    base = rng.lognormvariate(math.log(30), 0.7)
    return _sme_contract(base), _sme_contract(base * rng.choice((0.55, 0.7, 1.35, 1.6)))


def _industrial_contracts(rng: random.Random) -> tuple[Contract, Contract]:
    tariffs = list(INDUSTRIAL_TARIFFS)
    tariff = rng.choices(tariffs, weights=[INDUSTRIAL_TARIFFS[t][0] for t in tariffs])[0]
    _, low, high = INDUSTRIAL_TARIFFS[tariff]
    base = rng.uniform(low, high)
    other = min(max(base * rng.choice((0.8, 1.25)), low), high)
    return Contract(tariff, round(base, 3)), Contract(tariff, round(other, 3))


CONTRACT_MAKERS = {
    "RESIDENTIAL": _residential_contracts,
    "SME": _sme_contracts,
    "INDUSTRIAL": _industrial_contracts,
}


def _province(rng: random.Random) -> str:
    return rng.choices(contract.PROVINCE_CODES, cum_weights=PROVINCE_CUM_WEIGHTS)[0]


def make_client(rng: random.Random, client_id: str, signup: date, segment: str | None = None) -> Client:
    segment = segment or rng.choices(tuple(SEGMENT_WEIGHTS), cum_weights=SEGMENT_CUM_WEIGHTS)[0]
    tax_id, org = _tax_id(rng, segment)
    if org is None:
        full_name, local = _person(rng, foreign=tax_id[0] in ids.NIE_PREFIXES)
        email = f"{local}@{rng.choice(EMAIL_DOMAINS)}"
    else:
        full_name, email = _company(rng, segment, org)
    return Client(
        client_id=client_id,
        tax_id=tax_id,
        full_name=full_name,
        email="" if rng.random() < 0.12 else email,
        cups=ids.make_cups(rng, suffix=rng.random() < 0.05),
        segment=segment,
        province_code=_province(rng),
        signup_date=signup,
        phase=rng.randrange(CONTRACT_PERIOD_DAYS),
        contracts=CONTRACT_MAKERS[segment](rng),
        price_offset=rng.uniform(-4.0, 4.0),
    )


def base_population(seed: int, clients: int, anchor: date) -> list[Client]:
    """The clients that exist on ``anchor``, all signed up before it."""
    rng = random.Random(seed)
    first = anchor - timedelta(days=BASE_HISTORY_DAYS)
    return [
        make_client(rng, f"C{n:07d}", first + timedelta(days=rng.randrange(BASE_HISTORY_DAYS)))
        for n in range(1, clients + 1)
    ]


def signups(seed: int, clients: int, since: date, day: date) -> list[Client]:
    """Clients who signed up after ``since`` up to ``day`` included (a few a day, deterministic per date)."""
    rate = clients * SIGNUPS_PER_CLIENT_PER_DAY
    result = []
    d = since + timedelta(days=1)
    while d <= day:
        rng = random.Random(f"{seed}:signups:{d.isoformat()}")
        count = int(rate) + (rng.random() < rate - int(rate))
        result += [make_client(rng, f"C{d:%Y%m%d}{n:03d}", d) for n in range(1, count + 1)]
        d += timedelta(days=1)
    return result


def population_anchor(start: date) -> date:
    # From 2026 on the population does not depend on the run's first date; earlier runs anchor on it.
    return min(start, SIGNUP_EPOCH)


# --- snapshots ----------------------------------------------------------------------------------------


def _timestamp(day: date, hour: int, minute: int = 0) -> str:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=MADRID).isoformat()


def _power_text(power_kw: float) -> str:
    return f"{power_kw:.3f}"


def client_rows(clients: list[Client], day: date) -> list[list[str]]:
    rows = []
    for c in clients:
        current = c.contract_on(day)
        updated = c.updated_on(day)
        rows.append(
            [
                c.client_id,
                c.tax_id,
                c.full_name,
                c.email,
                c.cups,
                current.tariff,
                _power_text(current.power_kw),
                c.province_code,
                c.segment,
                c.signup_date.isoformat(),
                _timestamp(updated, 8 + c.phase % 12, c.phase % 60),
            ]
        )
    return rows


@dataclass(frozen=True)
class Provider:
    provider_id: str
    legal_name: str
    tax_id: str
    provider_type: str
    technology: str
    country_code: str
    active: bool
    price_spread: float


def make_providers(seed: int, count: int) -> list[Provider]:
    rng = random.Random(f"{seed}:providers")
    result = []
    for n in range(count):
        name, ptype, technology, vat_prefix, org = PROVIDER_CATALOGUE[n % len(PROVIDER_CATALOGUE)]
        if n >= len(PROVIDER_CATALOGUE):  # more providers than the catalogue: sister companies
            base, comma, form = name.rpartition(", ")
            sister = n // len(PROVIDER_CATALOGUE) + 1
            name = f"{base} {sister}, {form}" if comma else f"{name} {sister}"
        tax_id = ids.make_eu_vat(rng, vat_prefix) if vat_prefix else ids.make_cif(rng, org)
        spread = {"MARKET": 0.0, "GENERATOR": rng.uniform(-3.0, 2.0), "TRADER": rng.uniform(0.5, 4.0)}[ptype]
        result.append(
            Provider(
                provider_id=f"P{n + 1:03d}",
                legal_name=name,
                tax_id=tax_id,
                provider_type=ptype,
                technology=technology or "",
                country_code=VAT_PREFIX_COUNTRY.get(vat_prefix, vat_prefix or "ES"),
                # The market is always there; a few bilateral counterparties are dormant.
                active=n == 0 or rng.random() > 0.08,
                price_spread=spread,
            )
        )
    return result


def provider_rows(providers: list[Provider]) -> list[list[str]]:
    return [
        [
            p.provider_id,
            p.legal_name,
            p.tax_id,
            p.provider_type,
            p.technology,
            p.country_code,
            "true" if p.active else "false",
            _timestamp(date(2025, 12, 1) + timedelta(days=int(p.provider_id[1:]) % 28), 9),
        ]
        for p in providers
    ]
