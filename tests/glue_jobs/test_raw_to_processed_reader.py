"""raw_reader without Spark: file checks, header by name, and the record locator's lines and raw text."""

from __future__ import annotations

import datetime as dt

import pytest

from glue_jobs.lib.raw_reader import RawFile, inspect_file, iter_records, list_run_files, locate_records

DAY = dt.date(2026, 3, 29)
HEADER = "provider_id,legal_name,tax_id,provider_type,technology,country_code,active,updated_at"


def _file(tmp_path, content: bytes, name="providers_20260329.csv") -> RawFile:
    folder = tmp_path / "providers" / "year=2026" / "month=03" / "day=29"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_bytes(content)
    return inspect_file(list_run_files(str(tmp_path), "providers", DAY)[0])


def test_files_are_listed_in_name_order_with_their_raw_key(tmp_path):
    folder = tmp_path / "clients" / "year=2026" / "month=03" / "day=29"
    folder.mkdir(parents=True)
    for name in ("clients_20260329_2.csv", "clients_20260329.csv", "_SUCCESS"):
        (folder / name).write_text("x")
    files = list_run_files(f"file://{tmp_path}/", "clients", DAY)
    assert [f.source_file for f in files] == [
        "clients/year=2026/month=03/day=29/clients_20260329.csv",
        "clients/year=2026/month=03/day=29/clients_20260329_2.csv",
    ]
    assert list_run_files(str(tmp_path), "clients", dt.date(2026, 3, 30)) == []


def test_a_bom_and_crlf_header_is_read_by_name(tmp_path):
    raw = _file(tmp_path, ("\ufeff" + HEADER.replace("technology,", "") + ",channel\r\nP1\r\n").encode())
    assert raw.readable
    assert raw.columns[0] == "provider_id"
    assert raw.line_sep == "\r\n"
    assert raw.extra_columns == ("channel",)


@pytest.mark.parametrize(
    ("content", "rule", "in_reason", "records"),
    [
        (b"", "file.empty", "empty", 0),
        (b"\xef\xbb\xbf\n", "file.empty", "empty", 0),
        ((HEADER + "\nP1,Compa\xf1ia\n").encode("latin-1"), "file.not_utf8", "not UTF-8", 1),
        (b"provider_id,legal_name\nP1,x\nP2,y\n", "file.missing_required_column", "tax_id, provider_type", 2),
        ((HEADER + ",tax_id\nP1\n").encode(), "file.duplicate_column", "tax_id", 1),
    ],
)
def test_files_that_are_not_the_contract_are_quarantined_whole(tmp_path, content, rule, in_reason, records):
    raw = _file(tmp_path, content)
    assert not raw.readable
    assert raw.rule == rule
    assert in_reason in raw.reason
    assert raw.records == records


def test_the_locator_finds_lines_and_exact_text_across_quoted_newlines(tmp_path):
    rows = ['P1,"two\nlines",x', "", 'P2,"a ""quoted"", comma",y', 'P3,"three\n\nlines"', "P4,plain"]
    raw = _file(tmp_path, (HEADER + "\n" + "\n".join(rows) + "\n").encode())
    located = locate_records(raw, [0, 1, 2, 3])
    assert located.records == 4
    assert located.found == {
        0: (2, 'P1,"two\nlines",x'),
        # The empty line 4 is no record (Spark skips it too).
        1: (5, 'P2,"a ""quoted"", comma",y'),
        2: (6, 'P3,"three\n\nlines"'),
        3: (9, "P4,plain"),
    }


def test_the_locator_keeps_a_quoted_crlf_and_splits_only_on_the_file_separator(tmp_path):
    text = HEADER + '\r\nP1,"a\r\nb",ü\r\nP2,lone\nlf\r\nP3,ñ'
    raw = _file(tmp_path, ("\ufeff" + text).encode())
    located = locate_records(raw, [0, 1, 2])
    # In a CRLF file a lone LF is data (Spark reads "lone\nlf" as one field), but it is a new physical line.
    assert located.found == {0: (2, 'P1,"a\r\nb",ü'), 1: (4, "P2,lone\nlf"), 2: (6, "P3,ñ")}


def test_an_unclosed_quote_runs_to_the_end_of_the_file():
    records = [m.group(1) for m in iter_records('h\n1\n"open,\n2\n', "\n")]
    assert records == ["h", "1", '"open,\n2\n']


def test_on_s3_the_same_files_are_listed_inspected_and_located():
    boto3 = pytest.importorskip("boto3")
    moto = pytest.importorskip("moto")
    with moto.mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket="lake")
        prefix = "raw/providers/year=2026/month=03/day=29/"
        s3.put_object(
            Bucket="lake", Key=prefix + "providers_20260329.csv", Body=(HEADER + "\r\nP1,ñ\r\n").encode()
        )
        s3.put_object(Bucket="lake", Key=prefix + "_SUCCESS", Body=b"")
        s3.put_object(Bucket="lake", Key=prefix + "old/providers_20260328.csv", Body=b"x")
        files = [inspect_file(f) for f in list_run_files("s3://lake/raw/", "providers", DAY)]
        assert [(f.uri, f.source_file) for f in files] == [
            (f"s3://lake/{prefix}providers_20260329.csv", f"{prefix[4:]}providers_20260329.csv")
        ]
        assert files[0].readable and files[0].line_sep == "\r\n"
        assert locate_records(files[0], [0]).found == {0: (2, "P1,ñ")}
