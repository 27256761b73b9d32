"""Athena over boto3 (the AWS target's gate and `datalake query`), against botocore's Athena model (Stubber)."""

from __future__ import annotations

import json
from argparse import Namespace
from decimal import Decimal

import boto3
import pytest
from botocore.stub import Stubber

from energy_datalake.aws import athena

WORKGROUP = "analysts"
COLUMNS = [
    {"Name": "tariff", "Type": "varchar"},
    {"Name": "n", "Type": "bigint"},
    {"Name": "kwh", "Type": "decimal"},
]


@pytest.fixture
def client(monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    return boto3.client("athena", region_name="eu-west-1")


def _execution(query_id: str, state: str, reason: str | None = None, scanned: int = 0) -> dict:
    status = {"State": state}
    if reason:
        status["StateChangeReason"] = reason
    return {
        "QueryExecution": {
            "QueryExecutionId": query_id,
            "Status": status,
            "Statistics": {"DataScannedInBytes": scanned},
        }
    }


def _row(*values) -> dict:
    return {"Data": [{"VarCharValue": v} if v is not None else {} for v in values]}


class Clock:
    def __init__(self):
        self.now = 0.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def test_a_query_is_polled_with_a_short_growing_sleep_and_every_page_is_read(client):
    clock = Clock()
    with Stubber(client) as stub:
        stub.add_response(
            "start_query_execution",
            {"QueryExecutionId": "q1"},
            {"QueryString": "SELECT 1", "WorkGroup": WORKGROUP},
        )
        for state in ("QUEUED", "RUNNING", "RUNNING"):
            stub.add_response("get_query_execution", _execution("q1", state), {"QueryExecutionId": "q1"})
        stub.add_response(
            "get_query_execution",
            _execution("q1", "SUCCEEDED", scanned=3 * 2**20),
            {"QueryExecutionId": "q1"},
        )
        stub.add_response(
            "get_query_results",
            {
                "ResultSet": {
                    "Rows": [_row("tariff", "n", "kwh"), _row("2.0TD", "4", "1.500")],
                    "ResultSetMetadata": {"ColumnInfo": COLUMNS},
                },
                "NextToken": "page-2",
            },
            {"QueryExecutionId": "q1"},
        )
        stub.add_response(
            "get_query_results",
            {
                "ResultSet": {
                    "Rows": [_row("3.0TD", "1", None)],
                    "ResultSetMetadata": {"ColumnInfo": COLUMNS},
                },
            },
            {"QueryExecutionId": "q1", "NextToken": "page-2"},
        )
        result = athena.run_query(client, "SELECT 1", WORKGROUP, sleep=clock.sleep, clock=clock)
        stub.assert_no_pending_responses()

    assert clock.sleeps == [0.5, 1.0, 2.0]
    assert result.columns == ["tariff", "n", "kwh"]
    assert result.rows == [("2.0TD", 4, Decimal("1.500")), ("3.0TD", 1, None)]
    assert result.bytes_scanned == 3 * 2**20
    # 10 MB minimum per query at $5 per TB.
    assert result.cost_usd == pytest.approx(10 * 2**20 / 2**40 * 5)


def test_the_gates_queries_start_together_and_a_failure_stands_in_its_result(client):
    clock = Clock()
    with Stubber(client) as stub:
        for name in ("a", "b"):
            stub.add_response(
                "start_query_execution",
                {"QueryExecutionId": name},
                {"QueryString": name, "WorkGroup": "quality-gate"},
            )
        stub.add_response("get_query_execution", _execution("a", "RUNNING"), {"QueryExecutionId": "a"})
        stub.add_response(
            "get_query_execution",
            _execution(
                "b", "FAILED", "TABLE_NOT_FOUND: line 1:15: Table 'awsdatacatalog.processed.x' does not exist"
            ),
            {"QueryExecutionId": "b"},
        )
        stub.add_response("get_query_execution", _execution("a", "SUCCEEDED"), {"QueryExecutionId": "a"})
        stub.add_response(
            "get_query_results",
            {
                "ResultSet": {
                    "Rows": [_row("n"), _row("0")],
                    "ResultSetMetadata": {"ColumnInfo": [COLUMNS[1]]},
                }
            },
            {"QueryExecutionId": "a"},
        )
        results = athena.run_queries(
            client, {"a": "a", "b": "b"}, "quality-gate", raise_errors=False, sleep=clock.sleep, clock=clock
        )
        stub.assert_no_pending_responses()

    assert results["a"].rows == [(0,)]
    assert isinstance(results["b"], athena.AccessDenied)
    assert "table processed.x does not exist or is not granted to workgroup 'quality-gate'" in str(
        results["b"]
    )


@pytest.mark.parametrize(
    ("reason", "error", "message"),
    [
        (
            "Insufficient Lake Formation permission(s) on clients",
            athena.AccessDenied,
            "workgroup 'analysts' may not read clients",
        ),
        (
            "COLUMN_NOT_FOUND: line 1:8: Column 'email' cannot be resolved",
            athena.AccessDenied,
            "column email does not exist or is not granted to workgroup 'analysts'",
        ),
        (
            "Query cancelled! : Bytes scanned limit was exceeded",
            athena.BytesScannedCutoffExceeded,
            "Bytes scanned limit was exceeded",
        ),
        (
            "line 1:1: mismatched input 'SELEC'",
            athena.AthenaQueryFailed,
            "q1 FAILED: line 1:1: mismatched input",
        ),
    ],
)
def test_a_failed_query_says_why_in_the_terms_of_the_local_engine(client, reason, error, message):
    with Stubber(client) as stub:
        stub.add_response("start_query_execution", {"QueryExecutionId": "q1"})
        stub.add_response("get_query_execution", _execution("q1", "FAILED", reason))
        with pytest.raises(error, match=message.replace("(", r"\(").replace(")", r"\)")):
            athena.run_query(client, "SELECT", WORKGROUP, sleep=lambda s: None)


def test_a_query_running_past_the_timeout_is_stopped(client):
    clock = Clock()
    with Stubber(client) as stub:
        stub.add_response("start_query_execution", {"QueryExecutionId": "q1"})
        for _ in range(3):
            stub.add_response("get_query_execution", _execution("q1", "RUNNING"))
        stub.add_response("stop_query_execution", {}, {"QueryExecutionId": "q1"})
        with pytest.raises(athena.AthenaQueryFailed, match="still running after 1 s, stopped: query"):
            athena.run_query(client, "SELECT", WORKGROUP, timeout_seconds=1, sleep=clock.sleep, clock=clock)
        stub.assert_no_pending_responses()


def test_datalake_query_on_aws_prints_the_table_and_what_the_scan_cost(monkeypatch, capsys, client):
    stub = Stubber(client)
    stub.add_response("start_query_execution", {"QueryExecutionId": "q1"})
    stub.add_response("get_query_execution", _execution("q1", "SUCCEEDED", scanned=2**30))
    stub.add_response(
        "get_query_results",
        {"ResultSet": {"Rows": [_row("n"), _row("42")], "ResultSetMetadata": {"ColumnInfo": [COLUMNS[1]]}}},
    )
    stub.activate()
    monkeypatch.setattr(boto3, "client", lambda service, **kwargs: client)

    assert athena.main(Namespace(workgroup="reporting", sql="SELECT count(*) AS n FROM curated.x")) == 0
    out = capsys.readouterr().out
    assert "42" in out
    assert "Data scanned: 1.00 GB ($0.004883 at $5/TB)" in out


def test_datalake_query_on_aws_names_a_denied_column_in_one_line(monkeypatch, capsys, client):
    stub = Stubber(client)
    stub.add_response("start_query_execution", {"QueryExecutionId": "q1"})
    stub.add_response(
        "get_query_execution",
        _execution("q1", "FAILED", "COLUMN_NOT_FOUND: line 1:8: Column 'tax_id' cannot be resolved"),
    )
    stub.activate()
    monkeypatch.setattr(boto3, "client", lambda service, **kwargs: client)

    assert athena.main(Namespace(workgroup="analysts", sql="SELECT tax_id FROM processed.clients")) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "column tax_id" in err and "'analysts'" in err


def test_the_query_command_runs_on_athena_on_the_aws_target(monkeypatch, capsys, client):
    from energy_datalake import cli

    stub = Stubber(client)
    stub.add_response(
        "start_query_execution",
        {"QueryExecutionId": "q1"},
        {"QueryString": "SELECT 1 AS n", "WorkGroup": "reporting"},
    )
    stub.add_response("get_query_execution", _execution("q1", "SUCCEEDED"))
    stub.add_response(
        "get_query_results",
        {"ResultSet": {"Rows": [_row("n"), _row("1")], "ResultSetMetadata": {"ColumnInfo": [COLUMNS[1]]}}},
    )
    stub.activate()
    monkeypatch.setattr(boto3, "client", lambda service, **kwargs: client)
    monkeypatch.setenv("DATALAKE_TARGET", "aws")

    assert cli.main(["query", "--workgroup", "reporting", "SELECT 1 AS n"]) == 0
    stub.assert_no_pending_responses()
    assert "Data scanned: 0 B" in capsys.readouterr().out


def _ddl_execution(query_id: str, sql: str) -> dict:
    execution = _execution(query_id, "SUCCEEDED")
    execution["QueryExecution"].update(Query=sql, StatementType="DDL")
    return execution


def _run_main(monkeypatch, capsys, client, sql: str, rows: list[str], column: str, **options):
    """``datalake query`` on Athena, answered with a DDL result: lines of text in one string column, no
    header row (as Athena returns SHOW and DESCRIBE)."""
    stub = Stubber(client)
    stub.add_response(
        "start_query_execution", {"QueryExecutionId": "q1"}, {"QueryString": sql, "WorkGroup": WORKGROUP}
    )
    stub.add_response("get_query_execution", _ddl_execution("q1", sql))
    stub.add_response(
        "get_query_results",
        {
            "ResultSet": {
                "Rows": [_row(line) for line in rows],
                "ResultSetMetadata": {"ColumnInfo": [{"Name": column, "Type": "string"}]},
            }
        },
    )
    stub.activate()
    monkeypatch.setattr(boto3, "client", lambda service, **kwargs: client)
    args = Namespace(workgroup=WORKGROUP, sql=sql, format="table", max_rows=None)
    for name, value in options.items():
        setattr(args, name, value)
    code = athena.main(args)
    stub.assert_no_pending_responses()
    stub.deactivate()
    captured = capsys.readouterr()
    return code, captured.out, captured.err


# DESCRIBE's lines as Athena writes them: fields padded to 20 and separated by tabs, the partition keys again
# under a header of their own, blank separator lines.
DESCRIBE_LINES = [
    "client_id           \tstring              \t                    ",
    "tariff              \tstring              \tATR access tariff   ",
    "year                \tstring              \t                    ",
    "                    \t                    \t                    ",
    "# Partition Information\t \t ",
    "# col_name            \tdata_type           \tcomment             ",
    "                    \t                    \t                    ",
    "year                \tstring              \t                    ",
]


def test_describe_on_aws_prints_athenas_tab_separated_lines_as_columns(monkeypatch, capsys, client):
    code, out, _ = _run_main(
        monkeypatch, capsys, client, "DESCRIBE processed.clients", DESCRIBE_LINES, "col_name", format="csv"
    )

    assert code == 0
    assert out.splitlines() == [
        "col_name,data_type,comment",
        "client_id,string,",
        "tariff,string,ATR access tariff",
        "year,string,",
        "# Partition Information,,",
        "year,string,",
    ]


def test_describe_on_aws_in_the_table_format_is_free_of_charge(monkeypatch, capsys, client):
    code, out, _ = _run_main(
        monkeypatch, capsys, client, "describe processed.clients", DESCRIBE_LINES, "col_name"
    )

    assert code == 0
    assert out.splitlines()[0].split(" | ")[0].strip() == "col_name"
    assert "\t" not in out
    # Athena bills no DDL statement, not even the 10 MB minimum of a query.
    assert "Data scanned: 0 B ($0.000000 at $5/TB)" in out


def test_show_columns_on_aws_loses_the_padding_and_keeps_the_first_line(monkeypatch, capsys, client):
    code, out, err = _run_main(
        monkeypatch,
        capsys,
        client,
        "SHOW COLUMNS IN processed.clients",
        ["field               ", "client_id           ", "tariff              "],
        "field",
        format="json",
    )

    assert code == 0
    # A DDL result has no header row: a first line equal to the column's name is data.
    assert [json.loads(line) for line in out.splitlines()] == [
        {"field": "field"},
        {"field": "client_id"},
        {"field": "tariff"},
    ]
    assert "(3 rows in " in err and "Data scanned: 0 B" in err


def test_a_big_result_on_aws_shows_100_rows_unless_asked(monkeypatch, capsys, client):
    lines = [f"table_{i:03}" for i in range(150)]

    code, out, _ = _run_main(monkeypatch, capsys, client, "SHOW TABLES IN curated", lines, "tab_name")
    assert code == 0
    assert "table_099" in out and "table_100" not in out
    assert "(showing 100 of 150 rows in " in out

    code, out, _ = _run_main(
        monkeypatch, capsys, client, "SHOW TABLES IN curated", lines, "tab_name", max_rows=0
    )
    assert code == 0 and "table_149" in out and "showing" not in out


@pytest.mark.parametrize(
    ("reason", "expected"),
    [
        (
            "line 2:6: mismatched input 'curated'. Expecting: ',', 'FROM'",
            "datalake query: syntax error at line 2, column 6: mismatched input 'curated'. Expecting: ',', 'FROM'",
        ),
        (
            "FAILED: ParseException line 2:5 cannot recognize input near 'curated' '.' 'x'",
            "datalake query: syntax error at line 2, column 6: cannot recognize input near 'curated' '.' 'x'",
        ),
    ],
)
def test_a_syntax_error_on_aws_is_one_line_and_a_caret_exit_2(monkeypatch, capsys, client, reason, expected):
    sql = "SELECT *\nFORM curated.x"
    stub = Stubber(client)
    stub.add_response("start_query_execution", {"QueryExecutionId": "q1"})
    stub.add_response("get_query_execution", _execution("q1", "FAILED", reason))
    stub.activate()
    monkeypatch.setattr(boto3, "client", lambda service, **kwargs: client)

    assert athena.main(Namespace(workgroup=WORKGROUP, sql=sql)) == 2
    assert capsys.readouterr().err.splitlines() == [expected, "  FORM curated.x", "       ^"]
