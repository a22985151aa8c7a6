"""Run the benchmarks (all, or those named) and write their numbers to bench-results.json.

python -m tests.benchmarks                 # trainer, search, inspect
python -m tests.benchmarks trainer         # one of them
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

from tests.benchmarks import (
    efficiency_bench,
    inspect_bench,
    scale_bench,
    search_bench,
    trainer_bench,
)

BENCHMARKS = {
    "trainer": trainer_bench,
    "search": search_bench,
    "scale": scale_bench,
    "inspect": inspect_bench,
    "search-efficiency": efficiency_bench,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "names",
        nargs="*",
        metavar="NAME",
        help=f"benchmarks to run: {', '.join(BENCHMARKS)} (default: all)",
    )
    parser.add_argument("--output", type=Path, default=Path("bench-results.json"))
    parser.add_argument(
        "--seeds", type=int, default=3, help="data seeds of search-efficiency (default 3)"
    )
    parser.add_argument(
        "--only",
        action="append",
        metavar="NAME",
        help="search-efficiency: only searchers whose name contains NAME (repeatable)",
    )
    args = parser.parse_args()
    for name in args.names:
        if name not in BENCHMARKS:
            parser.error(f"unknown benchmark {name!r}; choose from {', '.join(BENCHMARKS)}")
    results = {"machine": platform.platform(), "when": time.strftime("%Y-%m-%dT%H:%M:%S")}
    for name in args.names or BENCHMARKS:
        module = BENCHMARKS[name]
        results[name] = (
            module.main(args.seeds, args.only) if module is efficiency_bench else module.main()
        )
    args.output.write_text(json.dumps(results, indent=2) + "\n")
    print(f"\nwrote {args.output}")


if __name__ == "__main__":
    main()
