"""How the command line shows sizes and query results, on both targets."""

from __future__ import annotations


def format_bytes(n: int) -> str:
    """Athena's way of showing data scanned: ``512 B``, ``1.23 MB``."""
    value = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:.0f} B" if unit == "B" else f"{value:.2f} {unit}"
        value /= 1024
    raise AssertionError(n)


def format_table(columns: list[str], rows: list[tuple]) -> str:
    """Columns padded to their widest cell, a rule under the header, NULL for None."""
    cells = [["NULL" if v is None else str(v) for v in row] for row in rows]
    widths = [max([len(c), *(len(r[i]) for r in cells)]) for i, c in enumerate(columns)]
    lines = [
        " | ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)),
        "-+-".join("-" * w for w in widths),
    ]
    lines += [" | ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)) for r in cells]
    return "\n".join(lines)
