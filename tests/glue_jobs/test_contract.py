"""The run date's partition: one set of values for every zone's paths, the raw keys and the checks' SQL."""

from __future__ import annotations

import datetime as dt

from glue_jobs.lib import contract


def test_the_partition_values_are_zero_padded_text():
    assert contract.partition_values(dt.date(987, 3, 9)) == {"year": "0987", "month": "03", "day": "09"}
    assert contract.partition_values(dt.date(2026, 12, 31)) == {"year": "2026", "month": "12", "day": "31"}


def test_the_partition_path_is_built_from_the_partition_values():
    assert contract.partition_path(dt.date(2026, 3, 9)) == "year=2026/month=03/day=09"
    assert contract.partition_path(dt.date(987, 11, 30)) == "year=0987/month=11/day=30"


def test_a_raw_key_is_the_entity_the_partition_and_the_dated_file_name():
    day = dt.date(2026, 3, 9)
    assert contract.raw_key("clients", day) == "clients/year=2026/month=03/day=09/clients_20260309.csv"
    assert contract.raw_key("transactions", day, 2) == (
        "transactions/year=2026/month=03/day=09/transactions_20260309_2.csv"
    )
