"""row-stats: per-column count/mean/min/max of each granule CSV -> output/row_stats.csv.

Columns of the output: granule, column, count, mean, min, max. ``count`` is the number of
non-empty cells; mean/min/max are filled only when every non-empty cell is a number.
"""

from __future__ import annotations

import csv
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import data_granules, load_job


def main() -> int:
    job = load_job()
    granules = data_granules(job)
    if not granules:
        print("row-stats needs at least one CSV granule", file=sys.stderr)
        return 2
    rows = []
    for granule in granules:
        with open(granule["path"], newline="", encoding="utf-8") as fh:
            reader = csv.DictReader(fh)
            columns = reader.fieldnames or []
            values: dict[str, list[str]] = {c: [] for c in columns}
            for record in reader:
                for c in columns:
                    cell = (record.get(c) or "").strip()
                    if cell:
                        values[c].append(cell)
        print(f"{granule['granule_id']}: {len(columns)} columns")
        for c in columns:
            cells = values[c]
            try:
                numbers = [float(v) for v in cells]
            except ValueError:
                numbers = None
                print(f"WARNING: column {c!r} of {granule['granule_id']} is not numeric")
            row = {"granule": granule["granule_id"], "column": c, "count": len(cells),
                   "mean": "", "min": "", "max": ""}
            if numbers:
                row.update(mean=sum(numbers) / len(numbers), min=min(numbers), max=max(numbers))
            rows.append(row)
    out = os.path.join(job["output_dir"], "row_stats.csv")
    with open(out, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, ["granule", "column", "count", "mean", "min", "max"])
        writer.writeheader()
        writer.writerows(rows)
    print(f"wrote {len(rows)} rows to row_stats.csv")
    return 0


if __name__ == "__main__":
    sys.exit(main())
