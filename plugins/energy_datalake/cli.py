"""The `datalake` command: generate sample exports, run the daily DAG, inspect the lake, query it, deploy."""

from __future__ import annotations

import argparse
import re
import sys
from datetime import date


def iso_date(text: str) -> str:
    """An argparse type: a calendar date written YYYY-MM-DD, returned as given; anything else is the
    one-line usage error naming the value (``datalake run: error: argument --date: ...``)."""
    if re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", text):
        try:
            date.fromisoformat(text)
            return text
        except ValueError as error:
            raise argparse.ArgumentTypeError(f"{text!r} is not a date: {error}") from None
    raise argparse.ArgumentTypeError(f"{text!r} is not a date written YYYY-MM-DD")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="datalake", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    gen = sub.add_parser(
        "generate", help="write a day's exports (providers, clients, transactions) to the raw zone"
    )
    # The generator checks its own arguments, the date included, each in one line naming the value.
    gen.add_argument("--date", required=True, help="first export date, YYYY-MM-DD")
    gen.add_argument("--days", type=int, default=1, help="number of consecutive days (default 1)")
    gen.add_argument("--clients", type=int, default=5000, help="number of clients (default 5000)")
    gen.add_argument("--providers", type=int, default=40, help="number of providers (default 40)")
    gen.add_argument("--seed", type=int, default=42, help="random seed (default 42)")
    gen.add_argument("--out", help="raw zone folder (default: the local lake's raw zone)")
    gen.add_argument(
        "--error-rate",
        type=float,
        default=0.001,
        help="share of transaction rows (and a few client rows) that break the contract on purpose (default 0.001)",
    )

    run = sub.add_parser("run", help="run the daily DAG through Airflow for a date or a range of dates")
    run.add_argument("--date", required=True, type=iso_date, help="run date, YYYY-MM-DD")
    run.add_argument("--to", type=iso_date, help="last run date of a range (inclusive), YYYY-MM-DD")

    status = sub.add_parser("status", help="rows, files and bytes per zone; quarantine; checks; warehouse")
    status.add_argument("--date", type=iso_date, help="only this run date, YYYY-MM-DD")
    status.add_argument("--json", action="store_true", help="machine-readable output")

    report = sub.add_parser(
        "report",
        help="one self-contained HTML page with charts for a day or a range of days "
        "($DATALAKE_HOME/reports/DATE[_TO]/report.html)",
    )
    report.add_argument("--date", required=True, type=iso_date, help="business date, YYYY-MM-DD")
    report.add_argument("--to", type=iso_date, help="last date of a range (inclusive), YYYY-MM-DD")
    report.add_argument("--out", metavar="FOLDER", help="write report.html and its PNGs here instead")

    query = sub.add_parser(
        "query",
        help="Athena SQL with a workgroup's grants (the local engine, or Athena on DATALAKE_TARGET=aws)",
    )
    from energy_datalake.formatting import DEFAULT_MAX_ROWS, FORMATS, max_rows

    query.add_argument(
        "--workgroup",
        required=True,
        help="the Athena workgroup whose grants apply (locally also etl: the ETL role, which reads all)",
    )
    query.add_argument(
        "--format",
        choices=FORMATS,
        default="table",
        help="table (default): aligned columns; csv: a header line and the rows; json: JSON Lines, one "
        "object per row, decimals, dates and timestamps as strings. csv and json write the row count and "
        "the data scanned to stderr",
    )
    query.add_argument(
        "--max-rows",
        type=max_rows,
        metavar="N",
        help=f"print at most N rows, 0 = all (default {DEFAULT_MAX_ROWS} for table, all for csv and json)",
    )
    query.add_argument(
        "sql",
        help="one Athena statement: a query (information_schema included), SHOW DATABASES, "
        "SHOW TABLES [IN db], SHOW COLUMNS IN db.table, SHOW PARTITIONS db.table or DESCRIBE db.table",
    )

    deploy = sub.add_parser(
        "deploy", help="the deploy step outside Airflow: the local provisioning, or the stacks on AWS"
    )
    deploy.add_argument(
        "--env", help="environment whose parameters are deployed (default $DATALAKE_ENV or dev)"
    )
    deploy.add_argument(
        "--allow-replacement",
        action="store_true",
        help="aws: execute change sets that replace or remove a bucket, the KMS key, a database or the warehouse",
    )
    deploy.add_argument(
        "--bootstrap",
        action="store_true",
        help="aws: first deploy the deploy role's stack with your own credentials and print its ARN",
    )
    deploy.add_argument(
        "--force", action="store_true", help="local: provision again even when nothing changed"
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    # Imports are per command so that `datalake --help` stays instant.
    if args.command == "generate":
        from energy_datalake.generator import main as generate

        return generate(args)
    if args.command == "run":
        from energy_datalake.runner import main as run

        return run(args)
    if args.command == "status":
        from energy_datalake.status import main as status

        return status(args)
    if args.command == "report":
        from energy_datalake.report import main as report

        return report(args)
    if args.command == "query":
        from energy_datalake import config

        if config.target() == "aws":
            from energy_datalake.aws.athena import main as query
        else:
            from energy_datalake.emulator.athena import main as query
        return query(args)
    if args.command == "deploy":
        from energy_datalake.aws.stacks import main as deploy

        return deploy(args)
    raise AssertionError(args.command)


if __name__ == "__main__":
    sys.exit(main())
