"""``import jupyter_compute`` must stay cheap: kernels import it, and so does the server.

Measured in fresh interpreters against a bare ``python -c pass`` baseline; prints a line
``import jupyter_compute: ...`` with the medians, the extra cost and the ratio.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
RUNS = 7
MAX_EXTRA_MS = 150.0
HEAVY = ("pandas", "pyarrow", "ipywidgets", "jupyter_server", "httpx", "nbclient")
BASELINE = "pass"
IMPORT = "import jupyter_compute"


def run_python(code: str, *options: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, *options, "-c", code], cwd=ROOT, check=True,
                          capture_output=True, text=True, timeout=60)


def wall_ms(code: str) -> float:
    started = time.perf_counter()
    run_python(code)
    return (time.perf_counter() - started) * 1000


def import_time_ms() -> float:
    """What ``-X importtime`` says importing the package cost, dependencies included."""
    report = run_python(IMPORT, "-X", "importtime").stderr
    line = next(line for line in report.splitlines() if line.endswith("| jupyter_compute"))
    return int(line.split("|")[1]) / 1000


def test_bench_import_cost(benchmark: Any, capsys: pytest.CaptureFixture[str]) -> None:
    baseline, imported = [], []
    for _ in range(RUNS):  # interleaved, so drift in machine load hits both alike
        baseline.append(wall_ms(BASELINE))
        imported.append(wall_ms(IMPORT))
    baseline_ms, import_ms = statistics.median(baseline), statistics.median(imported)
    benchmark.pedantic(run_python, args=(IMPORT,), rounds=5)
    with capsys.disabled():
        print(f"\nimport jupyter_compute: bare python {baseline_ms:.1f} ms, with import "
              f"{import_ms:.1f} ms (+{import_ms - baseline_ms:.1f} ms, ratio "
              f"{import_ms / baseline_ms:.2f}x; -X importtime {import_time_ms():.1f} ms)")
    assert import_ms - baseline_ms < MAX_EXTRA_MS


def test_import_loads_no_heavy_module() -> None:
    code = f"import json, sys, jupyter_compute; print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))"
    assert json.loads(run_python(code).stdout) == []
