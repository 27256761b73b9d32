"""`datalake generate`: realistic daily exports of the retailer's system, in the raw layout of the contract.

One day is three exports: the providers snapshot, the clients snapshot and the day's transactions (one SALE
per client and delivery hour, hourly PURCHASES from providers that cover the sales). Everything derives
from the seed and the export date, so the same arguments always give the same bytes, and a date's
population does not depend on which date a run started from:

- the base population (``clients`` clients) is drawn once from the seed; each client switches between two
  contracts (tariff / contracted power) every ``population.CONTRACT_PERIOD_DAYS`` days at its own phase,
  so about 0.5 % of the clients change each day and the warehouse's ``dim_client`` history has something
  to record;
- a few new clients sign up each day from ``population.SIGNUP_EPOCH`` on (or from the run's first date
  when earlier).

Optionally a small share of rows break named rules of the contract (``error_rate``), so the quarantine and
the duplicate handling have work to do; the summary lists them by rule name.

Transactions are built with numpy and formatted and written by pyarrow (1 M rows in seconds); snapshots go
through the csv module, whose minimal RFC 4180 quoting keeps names such as ``"Muñoz, Begoña"`` intact.
Each file is written under a hidden temporary name and renamed; ``_SUCCESS`` is written last.

Modules, each importing only those before it: ``identifiers`` (valid CUPS and tax ids), ``reference``
(tables), ``population`` (clients, providers, their snapshot rows), ``columns`` (exact numeric columns),
``errors`` (the broken rows), ``transactions``, ``files`` (writing), ``exports`` (``generate``) and ``cli``.
"""

from __future__ import annotations

from energy_datalake.generator.cli import main
from energy_datalake.generator.errors import CLIENT_ERROR_RULES, MAX_ERROR_RATE, TRANSACTION_ERROR_RULES
from energy_datalake.generator.exports import generate

__all__ = ["CLIENT_ERROR_RULES", "MAX_ERROR_RATE", "TRANSACTION_ERROR_RULES", "generate", "main"]
