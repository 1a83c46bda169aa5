"""sleep: sleeps N seconds (params["seconds"] or a number in a granule description, default 1),
then writes output/slept.txt."""

from __future__ import annotations

import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import load_job, number_param


def main() -> int:
    job = load_job()
    seconds = max(0.0, number_param(job, "seconds", 1.0))
    print(f"sleeping {seconds} s", flush=True)
    time.sleep(seconds)
    with open(os.path.join(job["output_dir"], "slept.txt"), "w", encoding="utf-8") as fh:
        fh.write(f"{seconds}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
