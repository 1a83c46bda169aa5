#!/usr/bin/env bash
# The benchmarks (tests/benchmarks/: store pages at 100,000 jobs, the monitor, the sidebar's feed, the import):
# each runs its anchor in the same run and prints the ratio; then the slow campaigns (tests/campaigns/: 200
# submissions through fault-injecting proxies, a platform down for 60 s). Kept out of the test suite
# (scripts/test.sh) so that it stays short; extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/python -m pytest tests/benchmarks tests/campaigns --benchmark-enable -s "$@"
