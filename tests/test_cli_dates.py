"""The date arguments of `datalake run`, `datalake status` and `datalake report` are checked before anything starts: a bad one
is argparse's usage and one error line naming it, exit code 2, never a traceback. (`datalake generate`
checks its own, tests/emulator/test_generator.py.)"""

from __future__ import annotations

import pytest

from energy_datalake import cli


@pytest.mark.parametrize(
    "argv,named",
    [
        (["run", "--date", "2026-02-30"], "argument --date: '2026-02-30' is not a date: day is out of range"),
        (["run", "--date", "2026-03-29", "--to", "tomorrow"], "argument --to: 'tomorrow' is not a date"),
        (["status", "--date", "2026-3-1"], "argument --date: '2026-3-1' is not a date written YYYY-MM-DD"),
        (
            ["report", "--date", "2026-02-30"],
            "argument --date: '2026-02-30' is not a date: day is out of range",
        ),
        (["report", "--date", "2026-03-29", "--to", "20260330"], "argument --to: '20260330' is not a date"),
        (["status", "--date", "20260329"], "argument --date: '20260329' is not a date written YYYY-MM-DD"),
        (
            ["run", "--date", "2026-13-01"],
            "argument --date: '2026-13-01' is not a date: month must be in 1..12",
        ),
    ],
)
def test_a_bad_date_is_one_line_naming_it(argv, named, capsys, datalake_home):
    with pytest.raises(SystemExit) as exit_:
        cli.main(argv)
    err = capsys.readouterr().err
    assert exit_.value.code == 2
    assert named in err
    assert "Traceback" not in err
    # argparse's usage, then the error as the last line: nothing ran, so nothing else is said.
    lines = err.strip().splitlines()
    assert lines[0].startswith("usage: datalake ") and named in lines[-1]
    assert all(line.startswith(("usage: ", " ")) for line in lines[:-1])
    assert not any(datalake_home.iterdir())


def test_a_range_that_ends_before_it_starts_is_refused_before_airflow_starts(capsys, datalake_home):
    assert cli.main(["run", "--date", "2026-03-29", "--to", "2026-03-28"]) == 2
    assert capsys.readouterr().err.strip() == "datalake run: --to 2026-03-28 is before --date 2026-03-29"
    assert not any(datalake_home.iterdir())


def test_a_good_date_is_passed_on_as_written():
    assert cli.build_parser().parse_args(["status", "--date", "2024-02-29"]).date == "2024-02-29"
