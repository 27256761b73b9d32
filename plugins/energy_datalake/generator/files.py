"""Writing the exports: CSV files under hidden names renamed when complete, split into numbered
files, each partition marked complete by ``_SUCCESS`` last."""

from __future__ import annotations

import csv
import math
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pa_csv

from glue_jobs.lib import contract

SUCCESS_MARKER = "_SUCCESS"
ROWS_PER_FILE = 500_000


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


def write_snapshot(path: Path, header: tuple[str, ...], rows: list[list[str]]) -> None:
    def write(tmp: Path) -> None:
        with tmp.open("w", encoding="utf-8", newline="") as f:
            writer = csv.writer(f, lineterminator="\n")
            writer.writerow(header)
            writer.writerows(rows)

    _atomic_write(path, write)


def write_transactions(path: Path, table: pa.Table, extra_lines: list[str]) -> None:
    options = pa_csv.WriteOptions(quoting_style="none", quoting_header="none", eol="\n", batch_size=65_536)

    def write(tmp: Path) -> None:
        pa_csv.write_csv(table, str(tmp), write_options=options)
        if extra_lines:
            with tmp.open("a", encoding="utf-8", newline="") as f:
                f.write("".join(f"{line}\n" for line in extra_lines))

    _atomic_write(path, write)


def file_parts(rows: int) -> Iterator[tuple[int | None, int, int]]:
    count = max(1, math.ceil(rows / ROWS_PER_FILE))
    for i in range(count):
        yield (None if count == 1 else i + 1), i * ROWS_PER_FILE, min(rows, (i + 1) * ROWS_PER_FILE)


@dataclass
class RawZone:
    """The raw-zone folder being written: a partition is emptied before its files are written and marked
    complete after them; ``files`` lists the keys written, relative to ``out``."""

    out: Path
    progress: Callable[[str], None]
    files: list[str]

    def entity_folder(self, entity: str, day: date) -> Path:
        folder = self.out / Path(contract.raw_key(entity, day)).parent
        folder.mkdir(parents=True, exist_ok=True)
        _clear_partition(folder)
        return folder

    def path(self, entity: str, day: date, n: int | None) -> Path:
        key = contract.raw_key(entity, day, n)
        self.files.append(key)
        return self.out / key

    def complete(self, folder: Path) -> None:
        _atomic_write(folder / SUCCESS_MARKER, lambda tmp: tmp.write_bytes(b""))
