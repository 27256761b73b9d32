"""``datalake generate``: the command's arguments to ``generate``, its summary, and one-line errors."""

from __future__ import annotations

from collections import Counter

from energy_datalake.generator.exports import generate


def main(args) -> int:
    """``datalake generate``: write the exports and print a short summary."""
    try:
        summary = generate(
            args.date,
            days=args.days,
            clients=args.clients,
            providers=args.providers,
            seed=args.seed,
            out=args.out,
            error_rate=args.error_rate,
        )
    except ValueError as exc:
        print(f"datalake generate: {exc}")
        return 2
    except OSError as exc:  # an --out that is a file, or where nothing can be written
        print(f"datalake generate: cannot write {exc.filename}: {exc.strerror}")
        return 2
    total = Counter()
    for per_entity in summary["rows"].values():
        total.update(per_entity)
    print(
        f"wrote {len(summary['files'])} files under {summary['out']}: "
        + ", ".join(f"{n:,} {entity}" for entity, n in total.items())
    )
    if summary["errors_total"]:
        print(
            "rows breaking the contract on purpose: "
            + ", ".join(f"{rule} {n}" for rule, n in sorted(summary["errors_total"].items()))
        )
    return 0
