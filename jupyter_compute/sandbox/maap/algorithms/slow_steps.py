"""slow-steps: N progress steps (params["steps"] or a number in a granule description, default 3)
of params["delay"] seconds each (default 0.2), one stdout line per step, then output/steps.csv
(step,square)."""

from __future__ import annotations

import csv
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import load_job, number_param


def main() -> int:
    job = load_job()
    steps = int(number_param(job, "steps", 3))
    delay = float(job.get("params", {}).get("delay", 0.2))
    rows = []
    for i in range(1, steps + 1):
        time.sleep(delay)
        print(f"step {i}/{steps}", flush=True)
        rows.append({"step": i, "square": i * i})
    with open(os.path.join(job["output_dir"], "steps.csv"), "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, ["step", "square"])
        writer.writeheader()
        writer.writerows(rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
