"""word-count: words of all granules (text) -> output/word_counts.csv (word,count).

Words are lower-cased runs of letters, digits and apostrophes; rows sorted by count (descending)
then word.
"""

from __future__ import annotations

import collections
import csv
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import data_granules, load_job


def main() -> int:
    job = load_job()
    granules = data_granules(job)
    if not granules:
        print("word-count needs at least one text granule", file=sys.stderr)
        return 2
    counts: collections.Counter[str] = collections.Counter()
    for granule in granules:
        with open(granule["path"], encoding="utf-8", errors="replace") as fh:
            words = re.findall(r"[\w']+", fh.read().lower())
        counts.update(words)
        print(f"{granule['granule_id']}: {len(words)} words")
    out = os.path.join(job["output_dir"], "word_counts.csv")
    with open(out, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["word", "count"])
        for word, count in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])):
            writer.writerow([word, count])
    return 0


if __name__ == "__main__":
    sys.exit(main())
