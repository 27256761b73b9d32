"""``datalake report``: one self-contained HTML page (and its charts as PNG) for a day or a range of days.

For each date: the hourly price curve and the energy purchased vs sold per hour, in Madrid time (a day of
23 or 25 hours is drawn with 23 or 25 points, the two 02:00 hours of October told apart by their zone);
the day's balance; sales by segment and tariff; the top providers; quarantined rows by rule; the quality
checks with the data they scanned; the DAG run's task durations. A range also gets one chart of the
days side by side. The page embeds every chart as a base64 PNG, so the HTML file alone opens anywhere;
the same PNGs are written beside it.

Everything is read, nothing is written to the lake: the curated Parquet partitions of each date (pyarrow),
the quarantine (``status.quarantined_by_rule``), the checks' results file (``checks.read_results``) and
Airflow's metadata database (``airflow_env.latest_run``). A date without curated tables, quarantine or
check results is a "no data" section (with its run's state, when Airflow recorded one); a range without
any is an error (``NoReportData``).
"""

from __future__ import annotations

import datetime as dt
import os
import sys
import tempfile
from pathlib import Path

from energy_datalake import config
from energy_datalake.report.data import NoReportData, lake_root, read_day
from energy_datalake.report.page import render_page

__all__ = ["NoReportData", "main", "write_report"]


def default_out(first: dt.date, last: dt.date) -> Path:
    return config.home() / "reports" / (f"{first}" if first == last else f"{first}_{last}")


def write_report(first: dt.date, last: dt.date, out: Path | None = None) -> Path:
    """Writes ``report.html`` and its charts' PNGs to ``out`` (default ``$DATALAKE_HOME/reports/<first>[_<last>]``);
    returns the HTML's path. Raises NoReportData when no date from ``first`` to ``last`` has data."""
    if last < first:
        raise ValueError(f"the last date {last} is before the first date {first}")
    lake = lake_root()
    days = [read_day(lake, first + dt.timedelta(days=n)) for n in range((last - first).days + 1)]
    if not any(d.has_data for d in days):
        span = f"{first}" if first == last else f"{first} to {last}"
        raise NoReportData(f"no data for {span} in {lake}")
    page = render_page(first, last, lake, days)
    out = Path(out) if out is not None else default_out(first, last)
    out.mkdir(parents=True, exist_ok=True)
    for chart in page.charts:
        _write_atomically(out / f"{chart.name}.png", chart.png)
    return _write_atomically(out / "report.html", page.html.encode("utf-8"))


def _write_atomically(path: Path, data: bytes) -> Path:
    # A browser open on the old page never reads half of the new one.
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        # mkstemp's 0600 would keep the page from anyone the folder is shared with.
        os.fchmod(fd, 0o644)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def main(args) -> int:
    """``datalake report --date D [--to D2] [--out FOLDER]`` (the CLI has checked both dates' form): 0 written,
    1 no data in the range, 2 ``--to`` before ``--date``."""
    first = dt.date.fromisoformat(args.date)
    last = dt.date.fromisoformat(args.to) if args.to else first
    if last < first:
        print(f"datalake report: --to {last} is before --date {first}", file=sys.stderr)
        return 2
    try:
        path = write_report(first, last, Path(args.out) if args.out else None)
    except NoReportData as error:
        print(f"datalake report: {error}", file=sys.stderr)
        return 1
    print(f"Report written to {path}")
    return 0
