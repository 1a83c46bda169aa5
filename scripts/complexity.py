"""Complexity gate (issue 17): no function of jupyter_compute rated E or F by radon, and functions rated C
or worse at no more than 1.0 per 1,000 lines (4.2 when issue 17 measured it; dask-gateway and
jupyter-scheduler: 1.0–1.4). Prints the functions rated C or worse either way."""

from __future__ import annotations

import sys
from pathlib import Path

from radon.complexity import cc_rank, cc_visit

PACKAGE = Path(__file__).resolve().parent.parent / "jupyter_compute"
MAX_C_OR_WORSE_PER_1000_LINES = 1.0
REFUSED_RANKS = {"E", "F"}


def main() -> int:
    lines = 0
    rated: list[tuple[int, str, str]] = []
    for path in sorted(PACKAGE.rglob("*.py")):
        source = path.read_text(encoding="utf-8")
        lines += source.count("\n")
        for block in cc_visit(source):
            if cc_rank(block.complexity) >= "C":
                name = f"{path.relative_to(PACKAGE.parent)}:{block.lineno} {block.fullname}"
                rated.append((block.complexity, cc_rank(block.complexity), name))
    rated.sort(reverse=True)
    rate = len(rated) / lines * 1000
    for complexity, rank, name in rated:
        print(f"  {rank} ({complexity:2d}) {name}")
    print(f"complexity: {len(rated)} functions rated C or worse in {lines} lines = {rate:.2f} per 1,000 "
          f"(at most {MAX_C_OR_WORSE_PER_1000_LINES})")
    refused = [name for _, rank, name in rated if rank in REFUSED_RANKS]
    if refused:
        print(f"complexity: rated E or F (refused): {', '.join(refused)}")
    return 1 if refused or rate > MAX_C_OR_WORSE_PER_1000_LINES else 0


if __name__ == "__main__":
    sys.exit(main())
