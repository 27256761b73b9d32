"""The quality gate (docs/design.md §5): the Athena checks of ``sql/checks/*.sql`` for one run date.

Each file is one Athena (Trino) SQL query, written once for both targets, returning rows of
``check_name, table_name, failures`` (0 = pass). The run date goes in through ``{{ year }}``, ``{{ month }}``,
``{{ day }}`` and ``{{ run_date }}`` placeholders, filled by ``render`` — on AWS too: the target renders each
file with ``render`` and hands the finished SQL to Athena, so both targets run the same text.

The set of check files is fixed (``EXPECTED_QUERIES``): a gate that finds fewer files (a packaging that
left ``sql/checks`` behind) or more fails instead of passing with what it found. A query that errs, returns
no row or a null count fails its check.

Both targets run the checks as the quality gate (workgroup ``quality-gate``, with its Lake Formation grants
from the templates) and turn each query's rows into ``CheckResult``s here; any failure raises ``CheckFailed``
naming every failing check, its table and its count. The local target also writes the results to
``$DATALAKE_HOME/checks/<run_date>.json`` (read by ``datalake status``): ``pipeline.local.run_checks``.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime
from pathlib import Path

from energy_datalake import config
from energy_datalake.files import write_json
from glue_jobs.lib.contract import partition_values

CHECKS_DIR = config.CHECKS_DIR

_PLACEHOLDER = re.compile(r"\{\{\s*(\w+)\s*\}\}")

# The quality gate of docs/architecture.md, one query file each.
EXPECTED_QUERIES = (
    "curated_reconciliation",
    "keys_not_null",
    "keys_unique",
    "partition_exists",
    "raw_reconciliation",
    "referential_integrity",
    "value_ranges",
)
# The workgroup (and Lake Formation principal) the checks run as, on both targets.
QUALITY_GATE_WORKGROUP = "quality-gate"


@dataclass(frozen=True)
class CheckResult:
    name: str
    table: str
    failures: int
    # Bytes scanned by the query (the file) that produced this result; the rows of one file share it.
    bytes_scanned: int
    passed: bool
    query: str = ""
    error: str | None = None


class CheckFailed(RuntimeError):
    """At least one check failed; the message names each failing check, its table and count."""

    def __init__(self, run_date: str, failed: list[CheckResult]):
        self.run_date = run_date
        self.failed = failed
        lines = [
            f"{r.name} on {r.table}: {r.error}"
            if r.error
            else f"{r.name} on {r.table}: {r.failures} offending"
            for r in failed
        ]
        super().__init__(f"{len(failed)} quality check(s) failed for {run_date}:\n  " + "\n  ".join(lines))


class ChecksMissing(RuntimeError):
    """The check files found are not the gate's: a gate with missing checks would pass unseen."""


def check_files(directory: Path = CHECKS_DIR) -> list[Path]:
    """The gate's query files; raises ChecksMissing unless they are exactly ``EXPECTED_QUERIES``."""
    files = sorted(directory.glob("*.sql"))
    found = {path.stem for path in files}
    missing = sorted(set(EXPECTED_QUERIES) - found)
    unexpected = sorted(found - set(EXPECTED_QUERIES))
    if missing or unexpected:
        raise ChecksMissing(
            f"the quality gate expects the checks {', '.join(EXPECTED_QUERIES)} in {directory}"
            + (f"; missing: {', '.join(missing)}" if missing else "")
            + (f"; unexpected: {', '.join(unexpected)}" if unexpected else "")
        )
    return files


def render(sql: str, run_date: str) -> str:
    """Fill the run-date placeholders; an unknown placeholder is an error, never left in the SQL.

    ``{{ year }}``, ``{{ month }}`` and ``{{ day }}`` are the partition values the jobs write the paths
    with (``contract.partition_values``); a ``run_date`` that is not a date raises ValueError.
    """
    day = date.fromisoformat(run_date)
    values = {"run_date": day.isoformat(), **partition_values(day)}

    def fill(match: re.Match) -> str:
        if match.group(1) not in values:
            raise KeyError(f"unknown placeholder {match.group(0)} (known: {', '.join(sorted(values))})")
        return values[match.group(1)]

    return _PLACEHOLDER.sub(fill, sql)


def rendered_checks(run_date: str, directory: Path = CHECKS_DIR) -> dict[str, str]:
    """{check file name: SQL ready for Athena} for one run date."""
    return {path.stem: render(path.read_text(encoding="utf-8"), run_date) for path in check_files(directory)}


def results_of(query: str, rows: list[tuple], bytes_scanned: int) -> list[CheckResult]:
    """The checks of one query's rows (``check_name, table_name, failures``); no row is a failed check."""
    if not rows:
        return [
            CheckResult(query, "-", 0, bytes_scanned, False, query=query, error="the check returned no rows")
        ]
    results = []
    for check_name, table_name, failures in rows:
        error = None if failures is not None else "the check returned no count"
        count = 0 if failures is None else int(failures)
        passed = error is None and count == 0
        results.append(
            CheckResult(check_name, table_name, count, bytes_scanned, passed, query=query, error=error)
        )
    return results


def query_error(query: str, error: Exception) -> CheckResult:
    return CheckResult(query, "-", 0, 0, passed=False, query=query, error=str(error))


def results_path(run_date: str) -> Path:
    return config.home() / "checks" / f"{run_date}.json"


def write_results(run_date: str, results: list[CheckResult]) -> Path:
    path = results_path(run_date)
    document = {
        "run_date": run_date,
        "checked_at": datetime.now(UTC).isoformat(),
        "passed": all(r.passed for r in results),
        "results": [asdict(r) for r in results],
    }
    write_json(path, document)
    return path


def read_results(run_date: str) -> dict | None:
    """The last results written for ``run_date``, or None when the checks never ran for it."""
    path = results_path(run_date)
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else None
