"""The loop watch (jupyter_compute.server.loop_watch) that fails any test during which our code blocked an
event loop: it reports a blocking call made by our code, and only that — not a test's own blocking call,
not work sent to a thread, not a module's first import, not time spent waiting for a CPU on a busy machine.

Each case runs in a child Python with its own report file, so its deliberate blocking calls do not fail
this suite (conftest.py's watch covers this process)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

from jupyter_compute.server import loop_watch

PACKAGE_DIR = Path(loop_watch.__file__).resolve().parents[1]

#: Runs the coroutine ``main`` of a piece of code compiled as if it were the file ``as_file``.
RUNNER = textwrap.dedent("""
    import asyncio, sys, time
    from jupyter_compute.server import loop_watch
    loop_watch.install_from_env()
    source, as_file = sys.argv[1], sys.argv[2]
    namespace = {}
    exec(compile(source, as_file, "exec"), namespace)
    asyncio.run(namespace["main"]())
    time.sleep(0.1)  # the watcher's last look
""")


def blocking_calls(tmp_path: Path, source: str, as_file: Path, *, cpus: set[int] | None = None) -> list[dict]:
    report = tmp_path / "report.jsonl"
    env = {**os.environ, loop_watch.ENV_REPORT: str(report), loop_watch.ENV_THRESHOLD_MS: "50"}
    command = [sys.executable, "-c", RUNNER, textwrap.dedent(source), str(as_file)]
    subprocess.run(command, env=env, check=True, timeout=120, preexec_fn=pin_to(cpus) if cpus else None)
    return loop_watch.read_report(report)[0]


def pin_to(cpus: set[int]):
    return lambda: os.sched_setaffinity(0, cpus)


BLOCKS_THE_LOOP = """
    import time
    async def main():
        time.sleep(0.4)
"""


def test_a_blocking_call_in_our_code_is_reported_with_its_place(tmp_path: Path) -> None:
    found = blocking_calls(tmp_path, BLOCKS_THE_LOOP, PACKAGE_DIR / "backends" / "blocking_example.py")
    assert len(found) == 1, found
    assert found[0]["blocking_call_in"] == "backends/blocking_example.py:4 in main"
    assert found[0]["held_ms_at_least"] >= 50


def test_a_tests_own_blocking_call_is_not_ours(tmp_path: Path) -> None:
    assert blocking_calls(tmp_path, BLOCKS_THE_LOOP, tmp_path / "test_something.py") == []


def test_work_sent_to_a_thread_does_not_block(tmp_path: Path) -> None:
    source = """
        import asyncio, time
        async def main():
            await asyncio.to_thread(time.sleep, 0.4)
    """
    assert blocking_calls(tmp_path, source, PACKAGE_DIR / "backends" / "threaded_example.py") == []


def test_a_coroutine_of_ours_calling_a_blocking_library_is_reported(tmp_path: Path) -> None:
    source = """
        import subprocess
        async def main():
            subprocess.run(["sleep", "0.4"], check=True)
    """
    found = blocking_calls(tmp_path, source, PACKAGE_DIR / "server" / "subprocess_example.py")
    assert [f["blocking_call_in"] for f in found] == ["server/subprocess_example.py:4 in main"]


def test_time_spent_waiting_for_a_cpu_is_not_counted(tmp_path: Path) -> None:
    """A callback of 20 ms of work, on a CPU that four busy processes share with it, takes far longer
    than 50 ms by the clock; it held its loop only while it ran, and is not reported."""
    cpu = min(os.sched_getaffinity(0))
    hogs = [subprocess.Popen([sys.executable, "-c", "while True: pass"], preexec_fn=pin_to({cpu}))
            for _ in range(4)]
    try:
        source = """
            import asyncio, time
            walls = []
            async def main():
                for _ in range(5):
                    start, work = time.monotonic(), time.thread_time()
                    while time.thread_time() - work < 0.02:
                        pass
                    walls.append(time.monotonic() - start)
                    await asyncio.sleep(0)  # each 20 ms is a callback of its own
                with open(__file__ + ".walls", "w") as out:
                    out.write(repr(max(walls)))
        """
        as_file = tmp_path / "cpu_example.py"
        found = blocking_calls(tmp_path, source.replace("__file__", repr(str(as_file))),
                               PACKAGE_DIR / "server" / "cpu_example.py", cpus={cpu})
    finally:
        for hog in hogs:
            hog.kill()
            hog.wait()
    longest_wall = float(Path(str(as_file) + ".walls").read_text())
    assert longest_wall > 0.05, f"the busy CPU did not slow the callback ({longest_wall:.3f} s): nothing shown"
    assert found == [], json.dumps(found)


def test_a_first_import_is_not_a_blocking_call(tmp_path: Path) -> None:
    """A module imported for the first time from a callback is read once per process, not each time."""
    (tmp_path / "slow_to_import.py").write_text("import time\ntime.sleep(0.4)\n")
    source = f"""
        import sys
        sys.path.insert(0, {str(tmp_path)!r})
        async def main():
            import slow_to_import
    """
    assert blocking_calls(tmp_path, source, PACKAGE_DIR / "server" / "import_example.py") == []


def test_a_first_import_is_not_a_blocking_call_even_when_the_collector_runs_in_it(tmp_path: Path) -> None:
    """The watch looks at the loop's stack from another thread; seen while the garbage collector's callback
    (the watch's own) runs inside a first import, the import is still what is running, not a blocking call."""
    (tmp_path / "busy_import.py").write_text(textwrap.dedent("""
        import gc, time
        gc.set_threshold(5)
        end = time.process_time() + 0.6
        junk = []
        while time.process_time() < end:
            junk.append([[] for _ in range(20)])
            if len(junk) > 200:
                junk.clear()
        gc.set_threshold(700)
    """))
    source = f"""
        import sys
        sys.path.insert(0, {str(tmp_path)!r})
        async def main():
            import busy_import
    """
    assert blocking_calls(tmp_path, source, PACKAGE_DIR / "server" / "import_example.py") == []


def test_work_in_another_greenlet_while_a_callback_waits_is_not_the_callbacks(tmp_path: Path) -> None:
    """Playwright's sync API runs a test in the main greenlet while a callback of its loop waits in another:
    what the test does meanwhile (closing widgets of ours, say) is not a call that blocks the loop."""
    source = """
        import greenlet, time
        def close_a_panel():
            time.sleep(0.4)
        async def main():
            greenlet.greenlet(close_a_panel).switch()
    """
    assert blocking_calls(tmp_path, source, PACKAGE_DIR / "widgets" / "greenlet_example.py") == []


def test_our_blocking_call_made_from_a_greenlet_inside_a_callback_is_reported(tmp_path: Path) -> None:
    """The same switch, but the callback blocks on its own side when it gets control back: reported."""
    source = """
        import greenlet, time
        async def main():
            greenlet.greenlet(lambda: None).switch()
            time.sleep(0.4)
    """
    found = blocking_calls(tmp_path, source, PACKAGE_DIR / "widgets" / "greenlet_example.py")
    assert [f["blocking_call_in"] for f in found] == ["widgets/greenlet_example.py:5 in main"]
