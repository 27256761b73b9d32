"""`datalake generate`: realistic daily exports of the retailer's system, in the raw layout of the contract.

One day is three exports: the providers snapshot, the clients snapshot and the day's transactions (one SALE
per client and delivery hour, hourly PURCHASES from providers that cover the sales). Everything derives
from the seed and the export date, so the same arguments always give the same bytes, and a date's
population does not depend on which date a run started from:

- the base population (``clients`` clients) is drawn once from the seed; each client switches between two
  contracts (tariff / contracted power) every ``CONTRACT_PERIOD_DAYS`` days at its own phase, so about
  0.5 % of the clients change each day and the warehouse's ``dim_client`` history has something to record;
- a few new clients sign up each day from ``SIGNUP_EPOCH`` on (or from the run's first date when earlier).

Optionally a small share of rows break named rules of the contract (``error_rate``), so the quarantine and
the duplicate handling have work to do; the summary lists them by rule name.

Transactions are built with numpy and formatted and written by pyarrow (1 M rows in seconds); snapshots go
through the csv module, whose minimal RFC 4180 quoting keeps names such as ``"Muñoz, Begoña"`` intact.
Each file is written under a hidden temporary name and renamed; ``_SUCCESS`` is written last.
"""

from __future__ import annotations

import csv
import functools
import math
import os
import random
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from itertools import accumulate
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv

from glue_jobs.lib import contract
from glue_jobs.lib import identifiers as ids

MADRID = ZoneInfo(contract.BUSINESS_TIMEZONE)
SUCCESS_MARKER = "_SUCCESS"
ROWS_PER_FILE = 500_000
PRICE_MIN_CENTS = int(contract.PRICE_MIN_EUR_MWH * 100)
PRICE_MAX_CENTS = int(contract.PRICE_MAX_EUR_MWH * 100)
# Broken rows stay under 1 %, far from the quarantine threshold (5 % by default) that would fail the run.
MAX_ERROR_RATE = 0.01

# Each client alternates between two contracts with this period: 1/200 of the clients change each day.
CONTRACT_PERIOD_DAYS = 200
SIGNUPS_PER_CLIENT_PER_DAY = 0.0001
SIGNUP_EPOCH = date(2026, 1, 1)
BASE_HISTORY_DAYS = 18 * 365

SEGMENT_WEIGHTS = {"RESIDENTIAL": 0.87, "SME": 0.11, "INDUSTRIAL": 0.02}
SEGMENT_CODES = {s: i for i, s in enumerate(contract.SEGMENTS)}
# Standard residential contracted powers (kW) in Spain.
RESIDENTIAL_POWERS = (2.3, 3.3, 3.45, 4.4, 4.6, 5.5, 5.75, 6.6, 6.9, 8.05, 9.2, 10.35, 11.5, 13.856, 14.49)
RESIDENTIAL_POWER_WEIGHTS = (2, 6, 14, 10, 18, 6, 12, 4, 8, 5, 6, 3, 3, 1, 2)
INDUSTRIAL_TARIFFS = {  # tariff: (weight, min kW, max kW)
    "6.1TD": (70, 450.0, 5_000.0),
    "6.2TD": (20, 3_000.0, 20_000.0),
    "6.3TD": (7, 10_000.0, 40_000.0),
    "6.4TD": (3, 20_000.0, 90_000.0),
}
# Share of each province in the client base (INE codes); the rest share the remainder equally.
PROVINCE_WEIGHTS = {
    "28": 14,
    "08": 12,
    "46": 6,
    "41": 4.5,
    "29": 3.5,
    "03": 4,
    "30": 3.2,
    "48": 2.5,
    "15": 2.5,
    "11": 2.7,
    "07": 2.5,
    "35": 2.4,
    "38": 2.2,
    "36": 2.0,
    "50": 2.1,
    "33": 2.2,
    "18": 2.0,
}
# Cumulative weights, computed once: random.choices is on the hot path of the population.
SEGMENT_CUM_WEIGHTS = tuple(accumulate(SEGMENT_WEIGHTS.values()))
RESIDENTIAL_POWER_CUM_WEIGHTS = tuple(accumulate(RESIDENTIAL_POWER_WEIGHTS))
PROVINCE_CUM_WEIGHTS = tuple(accumulate(PROVINCE_WEIGHTS.get(code, 0.9) for code in contract.PROVINCE_CODES))
SME_ORG_CUM_WEIGHTS = tuple(accumulate((70, 15, 5, 5, 5)))
NATIONAL_HOLIDAYS = {(1, 1), (1, 6), (5, 1), (8, 15), (10, 12), (11, 1), (12, 6), (12, 8), (12, 25)}

FIRST_NAMES = (
    "María José Begoña Íñigo Jesús Ángel Lucía Sofía Martín Raúl Inés Nuria Núria Jordi Xabier Ainhoa Iñaki "
    "Óscar Andrés Ramón Concepción Mónica Verónica Víctor Adrián Héctor Rocío Pilar Carmen Francisco Antonio "
    "Manuel Dolores Josefa Elena Paula Alba Marta Cristina Javier David Daniel Carlos Miguel Pablo Sergio "
    "Jorge Alberto Fernando Raquel Teresa Irene Laura Sara Andrea Montserrat Joaquín Belén Ignacio Amparo"
).split()
SURNAMES = (
    "García Fernández González Rodríguez López Martínez Sánchez Pérez Gómez Martín Jiménez Ruiz Hernández "
    "Díaz Moreno Muñoz Álvarez Romero Alonso Gutiérrez Navarro Torres Domínguez Vázquez Ramos Gil Ramírez "
    "Serrano Blanco Molina Morales Suárez Ortega Delgado Castro Ortiz Rubio Marín Sanz Núñez Iglesias Medina "
    "Garrido Cortés Castillo Santos Lozano Guerrero Cano Prieto Méndez Cruz Calvo Gallego Vidal León Márquez "
    "Herrera Peña Flores Cabrera Campos Vega Fuentes Carrasco Díez Caballero Reyes Nieto Aguilar Pascual "
    "Ibáñez Ferrer Durán Benítez Vicente Soler Sáez Velasco Esteban Bravo Echeverría Goikoetxea Puig Ferré"
).split() + ["de la Fuente", "del Río", "O'Neill"]
FOREIGN_NAMES = (
    ("Andrei", "Ionescu"),
    ("João", "Silva"),
    ("Giulia", "Rossi"),
    ("Olena", "Kovalenko"),
    ("Mohamed", "El Idrissi"),
    ("Li", "Wei"),
    ("Sophie", "Dubois"),
    ("Lukas", "Müller"),
    ("Ana Luísa", "Gonçalves"),
    ("Bogdan", "Popescu"),
)
BUSINESS_KINDS = (
    "Talleres",
    "Panadería",
    "Construcciones",
    "Transportes",
    "Hostelería",
    "Frutas y Verduras",
    "Clínica Dental",
    "Bodegas",
    "Gestoría",
    "Ferretería",
    "Carpintería",
    "Farmacia",
    "Autoescuela",
)
BUSINESS_BRANDS = (
    '"El Águila"',
    '"La Única"',
    '"San José"',
    '"Los Álamos"',
    "Hermanos {surname}",
    "{surname} e Hijos",
    "del Norte",
    "{surname}",
    "Nuevo Horizonte",
    '"La Estrella", Sociedad',
)
INDUSTRIAL_KINDS = (
    "Cementos",
    "Papelera",
    "Siderúrgica",
    "Química",
    "Cerámicas",
    "Vidrieras",
    "Fundiciones",
    "Conservas",
    "Harinera",
    "Plásticos",
)
INDUSTRIAL_PLACES = (
    "del Ebro",
    "del Cantábrico",
    "de Levante",
    "del Guadalquivir",
    "de la Meseta",
    "del Nervión",
    "de Castilla",
    "Mediterránea",
    "Gallega",
    "Atlántica",
)
LEGAL_FORMS = {"A": "S.A.", "B": "S.L.", "F": "S. Coop.", "E": "C.B.", "J": "S.C."}
EMAIL_DOMAINS = ("gmail.com", "hotmail.com", "yahoo.es", "outlook.es", "telefonica.net", "icloud.com")

# (legal name, type, technology, VAT prefix or None for a Spanish CIF, CIF organisation letter)
PROVIDER_CATALOGUE = (
    ("OMIE - Operador del Mercado Ibérico de Energía, Polo Español, S.A.", "MARKET", None, None, "A"),
    ("Eólica del Moncayo, S.L.", "GENERATOR", "WIND", None, "B"),
    ("Nordic Power Trading AB", "TRADER", None, "SE", None),
    ("Solar Tabernas, S.L.", "GENERATOR", "SOLAR", None, "B"),
    ("Hidroeléctrica del Sil, S.A.", "GENERATOR", "HYDRO", None, "A"),
    ("Rhein Energiehandel GmbH", "TRADER", None, "DE", None),
    ("Nuclear Ribera del Tajo, A.I.E.", "GENERATOR", "NUCLEAR", None, "V"),
    ("Ciclo Combinado Bahía de Algeciras, S.L.", "GENERATOR", "COMBINED_CYCLE", None, "B"),
    ("Énergie Négoce Rhône-Alpes SAS", "TRADER", None, "FR", None),
    ("Cogeneración Papelera del Nervión, S.A.", "GENERATOR", "COGENERATION", None, "A"),
    ("Iberian Power Trading, S.L.", "TRADER", None, None, "B"),
    ("Parque Eólico Sierra de Gádor, S.L.", "GENERATOR", "WIND", None, "B"),
    ("Fotovoltaica La Mancha, S.L.", "GENERATOR", "SOLAR", None, "B"),
    ("Lusitânia Energia Comercial, Lda.", "TRADER", None, "PT", None),
    ("Saltos del Duero Energía, S.A.", "GENERATOR", "HYDRO", None, "A"),
    ("Térmica de Sagunto Generación, S.A.", "GENERATOR", "COMBINED_CYCLE", None, "A"),
    ("Alpenstrom Handels GmbH", "TRADER", None, "AT", None),
    ("Energías Renovables del Segura, S.L.", "GENERATOR", "MIXED", None, "B"),
    ("Vientos de Tarifa, S.A.", "GENERATOR", "WIND", None, "A"),
    ("Energia Adriatica Trading S.p.A.", "TRADER", None, "IT", None),
    ("Planta Solar Guadiana, S.A.", "GENERATOR", "SOLAR", None, "A"),
    ("Cooperativa Eléctrica de Crevillent, S. Coop.", "GENERATOR", "MIXED", None, "F"),
    ("Benelux Power Exchange Services B.V.", "TRADER", None, "NL", None),
    ("Centrales Hidráulicas del Ebro, S.A.", "GENERATOR", "HYDRO", None, "A"),
    ("Cogeneradora Cerámica de Castellón, S.L.", "GENERATOR", "COGENERATION", None, "B"),
    ("Mercados Energéticos del Sur, S.A.", "TRADER", None, None, "A"),
    ("Eólicas de Galicia Norte, S.L.", "GENERATOR", "WIND", None, "B"),
    ("Helios Extremadura Energía, S.L.", "GENERATOR", "SOLAR", None, "B"),
    ("Hellenic Power Trading S.A.", "TRADER", None, "EL", None),
    ("Ciclos Combinados del Besòs, S.L.", "GENERATOR", "COMBINED_CYCLE", None, "B"),
    ("Minihidráulica del Pirineo, S.L.", "GENERATOR", "HYDRO", None, "B"),
    ("Baltic Energy Trade UAB", "TRADER", None, "LT", None),
    ("Energia Solar do Alentejo, Lda.", "GENERATOR", "SOLAR", "PT", None),
    ("Generación Mixta Cantábrica, S.A.", "GENERATOR", "MIXED", None, "A"),
    ("Danube Energy Trading S.R.L.", "TRADER", None, "RO", None),
    ("Eólica Montes de Navarra, S.A.", "GENERATOR", "WIND", None, "A"),
    ("Celtic Energy Markets Ltd", "TRADER", None, "IE", None),
    ("Solar Almería Este, S.L.", "GENERATOR", "SOLAR", None, "B"),
    ("Polska Energia Obrót Sp. z o.o.", "TRADER", None, "PL", None),
    ("Nuclenor Garoña Desmantelamiento, S.A.", "GENERATOR", "NUCLEAR", None, "A"),
)
VAT_PREFIX_COUNTRY = {"EL": "GR", "XI": "GB"}

# Hourly consumption shape by local clock hour, per segment (relative; scaled by contracted power).
RESIDENTIAL_SHAPE = (
    0.35,
    0.28,
    0.25,
    0.24,
    0.24,
    0.27,
    0.38,
    0.55,
    0.62,
    0.55,
    0.5,
    0.5,
    0.52,
    0.6,
    0.68,
    0.58,
    0.5,
    0.55,
    0.7,
    0.9,
    1.0,
    1.0,
    0.85,
    0.55,
)
SME_SHAPE = (
    0.2,
    0.2,
    0.2,
    0.2,
    0.2,
    0.2,
    0.25,
    0.4,
    0.8,
    1.0,
    1.0,
    1.0,
    1.0,
    0.9,
    0.85,
    0.95,
    1.0,
    1.0,
    0.9,
    0.7,
    0.5,
    0.3,
    0.25,
    0.2,
)
INDUSTRIAL_SHAPE = (
    0.7,
    0.7,
    0.7,
    0.7,
    0.7,
    0.72,
    0.8,
    0.9,
    0.95,
    0.95,
    0.95,
    0.95,
    0.95,
    0.95,
    0.95,
    0.95,
    0.95,
    0.9,
    0.85,
    0.8,
    0.78,
    0.75,
    0.72,
    0.7,
)
HOURLY_SHAPE = {"RESIDENTIAL": RESIDENTIAL_SHAPE, "SME": SME_SHAPE, "INDUSTRIAL": INDUSTRIAL_SHAPE}
KWH_PER_KW = {"RESIDENTIAL": 0.09, "SME": 0.25, "INDUSTRIAL": 0.55}
WEEKEND_FACTOR = {"RESIDENTIAL": 1.1, "SME": 0.4, "INDUSTRIAL": 0.8}
# Day-ahead price shape by local hour: cheap solar midday, evening peak.
PRICE_SHAPE = (
    0.92,
    0.88,
    0.85,
    0.84,
    0.85,
    0.9,
    1.0,
    1.12,
    1.15,
    1.0,
    0.75,
    0.55,
    0.42,
    0.38,
    0.4,
    0.5,
    0.68,
    0.9,
    1.15,
    1.32,
    1.38,
    1.3,
    1.15,
    1.0,
)
# Retail margin over the hour's market price (€/MWh), by period index (P1..P6) and segment.
SALE_MARGIN = {
    "RESIDENTIAL": (95.0, 55.0, 20.0, 20.0, 20.0, 20.0),
    "SME": (70.0, 55.0, 42.0, 32.0, 22.0, 12.0),
    "INDUSTRIAL": (38.0, 30.0, 22.0, 16.0, 11.0, 6.0),
}
# 6-period tariffs: the (peak, shoulder) periods of each month; nights, weekends and holidays are P6.
SIX_PERIOD_SEASON = {
    1: (1, 2),
    2: (1, 2),
    7: (1, 2),
    12: (1, 2),
    3: (2, 3),
    11: (2, 3),
    6: (3, 4),
    8: (3, 4),
    9: (3, 4),
    4: (4, 5),
    5: (4, 5),
    10: (4, 5),
}

TRANSACTION_ERROR_RULES = (
    "transactions.counterparty_id.unknown",
    "transactions.amount_eur.consistency",
    "transactions.price_eur_mwh.range",
    "transactions.tariff_period.tariff",
    "transactions.row.field_count",
    contract.DUPLICATE_EXACT,
    contract.DUPLICATE_KEY,
)
CLIENT_ERROR_RULES = ("clients.cups.format", "clients.tax_id.format")


# --- population ---------------------------------------------------------------------------------------


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


def _make_client(rng: random.Random, client_id: str, signup: date, segment: str | None = None) -> Client:
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
        _make_client(rng, f"C{n:07d}", first + timedelta(days=rng.randrange(BASE_HISTORY_DAYS)))
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
        result += [_make_client(rng, f"C{d:%Y%m%d}{n:03d}", d) for n in range(1, count + 1)]
        d += timedelta(days=1)
    return result


def _anchor(start: date) -> date:
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


# --- transactions -------------------------------------------------------------------------------------


def delivery_hours(day: date) -> list[datetime]:
    """The Madrid delivery hours of a day: 23 on the spring DST day, 25 on the autumn one."""
    start = datetime(day.year, day.month, day.day, tzinfo=MADRID).astimezone(UTC)
    nxt = day + timedelta(days=1)
    end = datetime(nxt.year, nxt.month, nxt.day, tzinfo=MADRID).astimezone(UTC)
    count = int((end - start).total_seconds()) // 3600
    return [(start + timedelta(hours=h)).astimezone(MADRID) for h in range(count)]


def _is_off_day(day: date) -> bool:
    return day.weekday() >= 5 or (day.month, day.day) in NATIONAL_HOLIDAYS


def period_2_0td(day: date, hour: int) -> int:
    """Period number (1..3) of a 2.0TD supply at a local clock hour."""
    if _is_off_day(day) or hour < 8:
        return 3
    return 1 if 10 <= hour < 14 or 18 <= hour < 22 else 2


def period_six(day: date, hour: int) -> int:
    """Period number (1..6) of a 3.0TD / 6.xTD supply: the season decides which periods peak and shoulder use."""
    if _is_off_day(day) or hour < 8:
        return 6
    peak, shoulder = SIX_PERIOD_SEASON[day.month]
    return peak if 9 <= hour < 14 or 18 <= hour < 22 else shoulder


def _market_prices(rng: np.random.Generator, day: date, hours: list[datetime]) -> np.ndarray:
    level = rng.uniform(45.0, 110.0)
    # Spring middays are when solar pushes the Iberian price to zero or below.
    solar_depth = 1.25 if day.month in (3, 4, 5) else 0.0
    prices = []
    for h in hours:
        shape = PRICE_SHAPE[h.hour]
        midday = solar_depth if 11 <= h.hour < 17 else 0.0
        prices.append(level * (shape - midday * (1.0 - shape)) + rng.normal(0.0, 3.0))
    return np.clip(np.array(prices), float(contract.PRICE_MIN_EUR_MWH), float(contract.PRICE_MAX_EUR_MWH))


def _round_half_away(values: np.ndarray) -> np.ndarray:
    return (np.sign(values) * np.floor(np.abs(values) + 0.5)).astype(np.int64)


def amount_cents(energy_milli: np.ndarray, price_cents: np.ndarray) -> np.ndarray:
    """amount_eur in cents = energy_kwh / 1000 × price, rounded half away from zero, in exact integers."""
    product = energy_milli.astype(np.int64) * price_cents.astype(np.int64)  # units of 1e-8 €
    return np.sign(product) * ((np.abs(product) + 500_000) // 1_000_000)


def decimal_strings(units: np.ndarray, scale: int) -> pa.Array:
    """Fixed-point text of integers counted in 10^-scale units (e.g. 1500, 3 → '1.500'), built in Arrow."""
    magnitude = np.abs(units)
    whole = pc.cast(pa.array(magnitude // 10**scale), pa.string())
    fraction = pc.utf8_lpad(pc.cast(pa.array(magnitude % 10**scale), pa.string()), width=scale, padding="0")
    text = pc.binary_join_element_wise(whole, fraction, ".")
    if not (units < 0).any():
        return text
    return pc.if_else(pa.array(units < 0), pc.binary_join_element_wise("-", text, ""), text)


@dataclass
class DayTransactions:
    """The day's transactions as text columns, plus raw lines appended after them (the broken rows)."""

    table: pa.Table
    extra_lines: list[str]
    errors: Counter


@dataclass
class _Columns:
    """Numeric columns of the day's transactions, before they become text."""

    is_sale: np.ndarray
    counterparty: np.ndarray  # index into the counterparty id list
    hour: np.ndarray
    period: np.ndarray  # 0..5 for P1..P6, 6 for empty
    energy_milli: np.ndarray
    price_cents: np.ndarray
    amount_cents: np.ndarray


def _sales(
    rng: np.random.Generator, day: date, hours: list[datetime], clients: list[Client], market: np.ndarray
) -> _Columns:
    n, h = len(clients), len(hours)
    contracts = [c.contract_on(day) for c in clients]
    segment = np.array([SEGMENT_CODES[c.segment] for c in clients], dtype=np.int8)
    two_period = np.array([k.tariff == "2.0TD" for k in contracts])
    power = np.array([k.power_kw for k in contracts])
    offset = np.array([c.price_offset for c in clients])

    shapes = np.array([HOURLY_SHAPE[s] for s in contract.SEGMENTS])
    local_hours = np.array([t.hour for t in hours])
    off = _is_off_day(day)
    day_factor = np.array([WEEKEND_FACTOR[s] if off else 1.0 for s in contract.SEGMENTS])
    scale = power * np.array([KWH_PER_KW[s] for s in contract.SEGMENTS])[segment] * day_factor[segment]
    periods = np.array(
        [[period_2_0td(day, t.hour) - 1 for t in hours], [period_six(day, t.hour) - 1 for t in hours]]
    )
    margins = np.array([SALE_MARGIN[s] for s in contract.SEGMENTS])

    hour = np.repeat(np.arange(h), n)
    client = np.tile(np.arange(n), h)
    period = periods[np.where(two_period, 0, 1)[client], hour]
    energy = shapes[segment[client], local_hours[hour]] * scale[client] * rng.lognormal(0.0, 0.25, n * h)
    energy_milli = _round_half_away(energy * 1000)
    # Retail prices never go negative: a negative market hour is passed on as zero, plus the margin.
    price = np.maximum(market[hour], 0.0) + margins[segment[client], period] + offset[client]
    price_cents = np.clip(_round_half_away(price * 100), PRICE_MIN_CENTS, PRICE_MAX_CENTS)
    return _Columns(
        np.ones(n * h, bool),
        client,
        hour,
        period.astype(np.int8),
        energy_milli,
        price_cents,
        amount_cents(energy_milli, price_cents),
    )


def _purchases(
    rng: np.random.Generator,
    sales: _Columns,
    hours: list[datetime],
    providers: list[Provider],
    first_provider_index: int,
    market: np.ndarray,
) -> _Columns:
    """A few providers per hour whose energy covers the hour's sales (with a small surplus)."""
    sold = np.bincount(sales.hour, weights=sales.energy_milli, minlength=len(hours))
    active = [i for i, p in enumerate(providers) if p.active and i > 0]
    rows = []
    for h in range(len(hours)):
        others = (
            rng.choice(active, size=min(len(active), int(rng.integers(2, 6))), replace=False)
            if active
            else []
        )
        chosen = [0, *sorted(int(i) for i in others)]
        shares = np.ones(1)
        if len(chosen) > 1:
            market_share = rng.uniform(0.5, 0.7)
            shares = np.concatenate(
                [[market_share], rng.dirichlet(np.ones(len(chosen) - 1)) * (1 - market_share)]
            )
        total = sold[h] * rng.uniform(0.99, 1.04)
        for p, share in zip(chosen, shares, strict=True):
            rows.append(
                (
                    first_provider_index + p,
                    h,
                    max(int(total * share), 1),
                    int(round((market[h] + providers[p].price_spread) * 100)),
                )
            )
    counterparty, hour, energy, price = (np.array(col, dtype=np.int64) for col in zip(*rows, strict=True))
    price = np.clip(price, PRICE_MIN_CENTS, PRICE_MAX_CENTS)
    return _Columns(
        np.zeros(len(rows), bool),
        counterparty,
        hour,
        np.full(len(rows), 6, np.int8),
        energy,
        price,
        amount_cents(energy, price),
    )


def _concat(a: _Columns, b: _Columns) -> _Columns:
    return _Columns(*(np.concatenate([getattr(a, f), getattr(b, f)]) for f in _Columns.__dataclass_fields__))


def _inject_errors(
    rng: np.random.Generator, cols: _Columns, count: int, two_period_sales: np.ndarray, unknown_index: int
) -> tuple[dict[str, np.ndarray], Counter]:
    """Break ``count`` rows, rules taken in turn; returns the rows chosen per rule (row-level rules applied)."""
    per_rule = {
        rule: count // len(TRANSACTION_ERROR_RULES) + (i < count % len(TRANSACTION_ERROR_RULES))
        for i, rule in enumerate(TRANSACTION_ERROR_RULES)
    }
    chosen_period_rows = rng.choice(
        two_period_sales,
        size=min(per_rule["transactions.tariff_period.tariff"], len(two_period_sales)),
        replace=False,
    )
    per_rule["transactions.tariff_period.tariff"] = len(chosen_period_rows)
    free = np.ones(len(cols.is_sale), bool)
    free[chosen_period_rows] = False
    others = np.flatnonzero(free)
    picked = rng.choice(
        others,
        size=sum(v for k, v in per_rule.items() if k != "transactions.tariff_period.tariff"),
        replace=False,
    )
    rows: dict[str, np.ndarray] = {"transactions.tariff_period.tariff": chosen_period_rows}
    start = 0
    for rule in TRANSACTION_ERROR_RULES:
        if rule != "transactions.tariff_period.tariff":
            rows[rule] = picked[start : start + per_rule[rule]]
            start += per_rule[rule]

    cols.counterparty[rows["transactions.counterparty_id.unknown"]] = unknown_index
    cols.amount_cents[rows["transactions.amount_eur.consistency"]] += 100
    out_of_range = rows["transactions.price_eur_mwh.range"]
    cols.price_cents[out_of_range] = int(contract.PRICE_MAX_EUR_MWH) * 100 + 50_000
    cols.amount_cents[out_of_range] = amount_cents(
        cols.energy_milli[out_of_range], cols.price_cents[out_of_range]
    )
    cols.period[rows["transactions.tariff_period.tariff"]] = 5  # P6 on a three-period supply
    return rows, Counter({rule: len(r) for rule, r in rows.items() if len(r)})


def _text_table(day: date, cols: _Columns, hours: list[datetime], counterparty_ids: list[str]) -> pa.Table:
    n = len(cols.is_sale)
    width = max(7, len(str(n)))
    numbers = pc.utf8_lpad(pc.cast(pa.array(np.arange(1, n + 1)), pa.string()), width=width, padding="0")
    created = [_created_at(t) for t in hours]
    # from_pydict rather than pa.table(): the latter imports pandas to check its argument.
    return pa.Table.from_pydict(
        {
            "transaction_id": pc.binary_join_element_wise(f"T{day:%Y%m%d}-", numbers, ""),
            "transaction_type": pa.array(["PURCHASE", "SALE"]).take(pa.array(cols.is_sale.astype(np.int8))),
            "counterparty_id": pa.array(counterparty_ids).take(pa.array(cols.counterparty)),
            "delivery_start": pa.array([t.isoformat() for t in hours]).take(pa.array(cols.hour)),
            "tariff_period": pa.array([*contract.TARIFF_PERIODS, None], pa.string()).take(
                pa.array(cols.period)
            ),
            "energy_kwh": decimal_strings(cols.energy_milli, 3),
            "price_eur_mwh": decimal_strings(cols.price_cents, 2),
            "amount_eur": decimal_strings(cols.amount_cents, 2),
            "created_at": pa.array(created).take(pa.array(cols.hour)),
        }
    )


def _created_at(delivery: datetime) -> str:
    # Metering settles each hour a few minutes after it ends.
    # Arithmetic in UTC: on DST days wall-clock arithmetic would skip or repeat an hour.
    return (delivery.astimezone(UTC) + timedelta(hours=1, minutes=7)).astimezone(MADRID).isoformat()


def _line(table: pa.Table, row: int) -> str:
    return ",".join("" if v is None else v for v in table.slice(row, 1).to_pylist()[0].values())


def _broken_lines(table: pa.Table, rows: dict[str, np.ndarray]) -> tuple[list[int], list[str]]:
    """Rows removed from the table and raw lines appended instead: short rows and duplicates."""
    removed, lines = [], []
    for r in rows.get("transactions.row.field_count", []):
        removed.append(int(r))
        lines.append(_line(table, int(r)).rsplit(",", 1)[0])
    for r in rows.get(contract.DUPLICATE_EXACT, []):
        lines.append(_line(table, int(r)))
    for r in rows.get(contract.DUPLICATE_KEY, []):
        fields = _line(table, int(r)).split(",")
        energy = int(fields[5].replace(".", "")) + 1000
        price = int(fields[6].replace(".", ""))
        fields[5] = f"{energy / 1000:.3f}"
        fields[7] = f"{int(amount_cents(np.array([energy]), np.array([price]))[0]) / 100:.2f}"
        lines.append(",".join(fields))
    return removed, lines


def day_transactions(
    seed: int, day: date, clients: list[Client], providers: list[Provider], error_rate: float
) -> DayTransactions:
    rng = np.random.default_rng([seed, day.toordinal()])
    hours = delivery_hours(day)
    market = _market_prices(rng, day, hours)
    sales = _sales(rng, day, hours, clients, market)
    cols = _concat(sales, _purchases(rng, sales, hours, providers, len(clients), market))
    counterparty_ids = [c.client_id for c in clients] + [p.provider_id for p in providers] + ["C9999999"]
    rows: dict[str, np.ndarray] = {}
    errors: Counter = Counter()
    if error_rate > 0:
        on_2_0td = np.array([c.contract_on(day).tariff == "2.0TD" for c in clients])
        two_period = np.flatnonzero(on_2_0td[sales.counterparty])
        rows_total = len(cols.is_sale)
        # Every rule at least once, unless the day is too small for that to stay under 1 %.
        count = max(round(rows_total * error_rate), min(len(TRANSACTION_ERROR_RULES), rows_total // 100))
        rows, errors = _inject_errors(rng, cols, count, two_period, len(counterparty_ids) - 1)
    table = _text_table(day, cols, hours, counterparty_ids)
    removed, lines = _broken_lines(table, rows)
    if removed:
        keep = np.ones(table.num_rows, bool)
        keep[removed] = False
        table = table.filter(pa.array(keep))
    return DayTransactions(table, lines, errors)


# --- broken client rows ----------------------------------------------------------------------------------


def broken_client_rows(seed: int, day: date, count: int) -> tuple[list[list[str]], Counter]:
    """Extra clients (with no transactions) whose CUPS letters or NIF letter are wrong."""
    rng = random.Random(f"{seed}:broken-clients:{day.isoformat()}")
    rows, errors = [], Counter()
    for n in range(count):
        client = _make_client(
            rng, f"C{day:%Y%m%d}E{n + 1:02d}", day - timedelta(days=30), segment="RESIDENTIAL"
        )
        row = client_rows([client], day)[0]
        rule = CLIENT_ERROR_RULES[n % len(CLIENT_ERROR_RULES)]
        if rule == "clients.cups.format":
            good = row[4][18:20]
            row[4] = row[4][:18] + next(a + b for a in "TR" for b in "WA" if a + b != good) + row[4][20:]
        else:
            number = ids.make_nif(rng)
            row[1] = number[:-1] + ids.CONTROL_LETTERS[(ids.CONTROL_LETTERS.index(number[-1]) + 1) % 23]
        rows.append(row)
        errors[rule] += 1
    return rows, errors


# --- writing ------------------------------------------------------------------------------------------


def _atomic_write(path: Path, write: Callable[[Path], None]) -> None:
    # A hidden name until complete: crawlers and Spark skip dot files, and the rename is atomic.
    tmp = path.with_name(f".{path.name}.tmp")
    write(tmp)
    os.replace(tmp, path)


def _clear_partition(folder: Path) -> None:
    """Re-generating a date replaces its files: the marker first, so the partition is never 'complete'
    with stale files."""
    (folder / SUCCESS_MARKER).unlink(missing_ok=True)
    for old in folder.glob("*.csv"):
        old.unlink()


def _write_snapshot(path: Path, header: tuple[str, ...], rows: list[list[str]]) -> None:
    def write(tmp: Path) -> None:
        with tmp.open("w", encoding="utf-8", newline="") as f:
            writer = csv.writer(f, lineterminator="\n")
            writer.writerow(header)
            writer.writerows(rows)

    _atomic_write(path, write)


def _write_transactions(path: Path, table: pa.Table, extra_lines: list[str]) -> None:
    options = pa_csv.WriteOptions(quoting_style="none", quoting_header="none", eol="\n", batch_size=65_536)

    def write(tmp: Path) -> None:
        pa_csv.write_csv(table, str(tmp), write_options=options)
        if extra_lines:
            with tmp.open("a", encoding="utf-8", newline="") as f:
                f.write("".join(f"{line}\n" for line in extra_lines))

    _atomic_write(path, write)


def _chunks(rows: int) -> Iterator[tuple[int | None, int, int]]:
    count = max(1, math.ceil(rows / ROWS_PER_FILE))
    for i in range(count):
        yield (None if count == 1 else i + 1), i * ROWS_PER_FILE, min(rows, (i + 1) * ROWS_PER_FILE)


@dataclass
class _Run:
    out: Path
    progress: Callable[[str], None]
    files: list[str]

    def entity_folder(self, entity: str, day: date) -> Path:
        folder = self.out / Path(contract.raw_key(entity, day.isoformat())).parent
        folder.mkdir(parents=True, exist_ok=True)
        _clear_partition(folder)
        return folder

    def path(self, entity: str, day: date, n: int | None) -> Path:
        key = contract.raw_key(entity, day.isoformat(), n)
        self.files.append(key)
        return self.out / key

    def complete(self, folder: Path) -> None:
        _atomic_write(folder / SUCCESS_MARKER, lambda tmp: tmp.write_bytes(b""))


# --- entry points -------------------------------------------------------------------------------------


def _default_out() -> Path:
    from energy_datalake import config, templates

    return config.local_path(f"s3://{templates.load().lake_bucket}/raw")


def _check_arguments(days: int, clients: int, providers: int, error_rate: float) -> None:
    if days < 1 or clients < 1 or providers < 1:
        raise ValueError("days, clients and providers must be at least 1")
    if not 0 <= error_rate <= MAX_ERROR_RATE:
        raise ValueError(
            f"error_rate must be between 0 and {MAX_ERROR_RATE} so the quarantine threshold never trips"
        )


def generate(
    start_date: str,
    days: int = 1,
    clients: int = 5000,
    providers: int = 40,
    seed: int = 42,
    out: str | Path | None = None,
    error_rate: float = 0.001,
    progress: Callable[[str], None] | None = print,
) -> dict:
    """Write ``days`` days of exports from ``start_date`` under the raw-zone folder ``out``.

    Returns ``{"out", "files" (keys relative to out), "rows" {date: {entity: rows written}},
    "errors" {date: {rule: count}}, "errors_total" {rule: count}}``.
    """
    _check_arguments(days, clients, providers, error_rate)
    start = date.fromisoformat(start_date)
    run = _Run(Path(out) if out is not None else _default_out(), progress or (lambda _msg: None), [])
    anchor = _anchor(start)
    population = base_population(seed, clients, anchor)
    provider_list = make_providers(seed, providers)
    summary: dict = {
        "out": str(run.out),
        "files": run.files,
        "rows": {},
        "errors": {},
        "errors_total": Counter(),
    }
    for offset in range(days):
        day = start + timedelta(days=offset)
        day_clients = population + signups(seed, clients, anchor, day)
        rows, errors = _write_day(run, seed, day, day_clients, provider_list, error_rate)
        summary["rows"][day.isoformat()] = rows
        summary["errors"][day.isoformat()] = dict(errors)
        summary["errors_total"].update(errors)
    summary["errors_total"] = dict(summary["errors_total"])
    return summary


def _write_day(
    run: _Run, seed: int, day: date, clients: list[Client], providers: list[Provider], error_rate: float
) -> tuple[dict[str, int], Counter]:
    rows: dict[str, int] = {}
    folder = run.entity_folder("providers", day)
    _write_snapshot(
        run.path("providers", day, None), contract.PROVIDERS.column_names, provider_rows(providers)
    )
    run.complete(folder)
    rows["providers"] = len(providers)

    client_table = client_rows(clients, day)
    errors: Counter = Counter()
    if error_rate > 0:
        broken, errors = broken_client_rows(seed, day, round(len(clients) * error_rate))
        client_table += broken
    folder = run.entity_folder("clients", day)
    _write_snapshot(run.path("clients", day, None), contract.CLIENTS.column_names, client_table)
    run.complete(folder)
    rows["clients"] = len(client_table)

    tx = day_transactions(seed, day, clients, providers, error_rate)
    errors.update(tx.errors)
    folder = run.entity_folder("transactions", day)
    chunks = list(_chunks(tx.table.num_rows))
    for i, (n, lo, hi) in enumerate(chunks):
        path = run.path("transactions", day, n)
        extra = tx.extra_lines if i == len(chunks) - 1 else []
        _write_transactions(path, tx.table.slice(lo, hi - lo), extra)
        run.progress(f"{day} transactions: {path.name} ({hi - lo + len(extra):,} rows)")
    run.complete(folder)
    rows["transactions"] = tx.table.num_rows + len(tx.extra_lines)
    run.progress(
        f"{day} done: {rows['providers']} providers, {rows['clients']:,} clients, "
        f"{rows['transactions']:,} transactions, {sum(errors.values())} rows breaking rules"
    )
    return rows, errors


def main(args) -> int:
    """``datalake generate``: write the exports and print a short summary."""
    try:
        summary = generate(
            args.date,
            days=args.days,
            clients=args.clients,
            providers=args.providers,
            seed=args.seed,
            out=args.out,
            error_rate=args.error_rate,
        )
    except ValueError as exc:
        print(f"datalake generate: {exc}")
        return 2
    total = Counter()
    for per_entity in summary["rows"].values():
        total.update(per_entity)
    print(
        f"wrote {len(summary['files'])} files under {summary['out']}: "
        + ", ".join(f"{n:,} {entity}" for entity, n in total.items())
    )
    if summary["errors_total"]:
        print(
            "rows breaking the contract on purpose: "
            + ", ".join(f"{rule} {n}" for rule, n in sorted(summary["errors_total"].items()))
        )
    return 0
