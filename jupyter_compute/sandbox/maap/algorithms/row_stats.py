"""row-stats: per-column count/mean/min/max of each granule CSV -> output/row_stats.csv.

Columns of the output: granule, column, count, mean, min, max. ``count`` is the number of
non-empty cells; mean/min/max are filled only when every non-empty cell is a number.
"""

from __future__ import annotations

import csv
import os
import sys
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import data_granules, load_job

COLUMNS = ["granule", "column", "count", "mean", "min", "max"]


def read_cells(path: str) -> tuple[list[str], dict[str, list[str]]]:
    """The columns of a CSV file (as its header names them) and each one's non-empty cells, stripped."""
    with open(path, newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        columns = list(reader.fieldnames or [])
        values: dict[str, list[str]] = {c: [] for c in columns}
        for record in reader:
            for c in columns:
                cell = (record.get(c) or "").strip()
                if cell:
                    values[c].append(cell)
    return columns, values


def column_row(granule_id: str, column: str, cells: list[str]) -> dict[str, object]:
    """The output row of one column; warns (on stdout) when the column is not numeric."""
    row: dict[str, object] = {"granule": granule_id, "column": column, "count": len(cells),
                              "mean": "", "min": "", "max": ""}
    try:
        numbers = [float(v) for v in cells]
    except ValueError:
        print(f"WARNING: column {column!r} of {granule_id} is not numeric")
        return row
    if numbers:
        row.update(mean=sum(numbers) / len(numbers), min=min(numbers), max=max(numbers))
    return row


def granule_rows(granule: dict[str, Any]) -> list[dict[str, object]]:
    """The output rows of one granule CSV, one per column."""
    columns, values = read_cells(granule["path"])
    print(f"{granule['granule_id']}: {len(columns)} columns")
    return [column_row(granule["granule_id"], c, values[c]) for c in columns]


def main() -> int:
    job = load_job()
    granules = data_granules(job)
    if not granules:
        print("row-stats needs at least one CSV granule", file=sys.stderr)
        return 2
    rows = [row for granule in granules for row in granule_rows(granule)]
    out = os.path.join(job["output_dir"], "row_stats.csv")
    with open(out, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    print(f"wrote {len(rows)} rows to row_stats.csv")
    return 0


if __name__ == "__main__":
    sys.exit(main())
