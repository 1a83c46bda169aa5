"""fail: prints a traceback-like text to stderr and exits 1.

The message is params["message"], else the first granule description, else a default.
"""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import load_job


def main() -> int:
    job = load_job()
    message = job.get("params", {}).get("message")
    if not message:
        message = next((g.get("description") for g in job.get("granules", []) if g.get("description")),
                       "the algorithm failed on purpose")
    print("starting the fail algorithm")
    print("Traceback (most recent call last):", file=sys.stderr)
    print('  File "fail.py", line 1, in <module>', file=sys.stderr)
    print(f"RuntimeError: {message}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
