"""A real `jupyter server` started with a platform secret in its environment: once it answers, the
secret is in no place a kernel or a job of the same user could read it, yet its backend works."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import HARDHAT_KEYS, start_live_server

KEY = HARDHAT_KEYS[0]


def test_the_secret_leaves_the_servers_environment_even_its_start_block(tmp_path: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OCEAN_PRIVATE_KEY", KEY)  # inherited by the server at its start
    server = start_live_server(tmp_path / "jupyter", backends={
        "ocean": {"kind": "ocean", "url": "http://127.0.0.1:9"},  # no provider: only the key matters here
    })
    try:
        start_block = Path(f"/proc/{server.process.pid}/environ").read_bytes()
        assert KEY[2:].encode() not in start_block, "/proc/<pid>/environ still shows the key"
        assert b"OCEAN_PRIVATE_KEY=" in start_block, "the variable is still listed, its value blanked"
        with server.client() as client:
            ocean = {b["name"]: b for b in client.backends()}["ocean"]
            assert ocean["available"] and ocean["consumer_address"].startswith("0x"), "the backend kept its key"
            job = client.submit(command='echo "key:${OCEAN_PRIVATE_KEY:-none}"; cat /proc/$PPID/environ | tr "\\0" "\\n"',
                                name="env probe")
            done = job.wait(timeout=60, progress=False)
            log = done.logs()
        assert done.state.value == "SUCCEEDED", log
        assert "key:none" in log and KEY[2:] not in log
    finally:
        server.stop()
