"""Reference tables of the sample exports: segments, contracted powers, tariffs, provinces, names,
the providers' catalogue, and the hourly shapes of consumption and prices."""

from __future__ import annotations

from itertools import accumulate
from zoneinfo import ZoneInfo

from glue_jobs.lib import contract

MADRID = ZoneInfo(contract.BUSINESS_TIMEZONE)


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
