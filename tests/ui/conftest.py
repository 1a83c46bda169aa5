"""UI tests: a real JupyterLab with jupyter_compute, in a subprocess, driven by Playwright (sync API)
in headless Debian chromium (/usr/bin/chromium, installed by scripts/ui-deps.sh — never by
`playwright install`).

Fixtures
    lab_server   LabServer: JupyterLab on loopback, a fresh root folder, private Jupyter dirs.
    browser      one headless chromium per test module.
    page         a fresh browser context and page per test (1400x900); on failure a screenshot
                 `FAILED-<test>.png` is saved and the browser console is printed.
Helpers (import them: ``from ui.conftest import open_notebook, ...``)
    open_notebook(page, lab_server, path)        open a notebook, wait for its kernel to be idle
    run_all_cells(page)                          Run → Run All Cells, wait until every cell ran
    run_in_new_cell(page, code)                  append a code cell, type ``code``, run it
    wait_for_text(page, text, selector=None)     wait until ``text`` shows (inside ``selector``)
    wait_for_kernel_idle(page)
    cell_errors(page)                            tracebacks shown in the notebook's outputs
    screenshot(page, name)                       PNG in test-artifacts/screenshots/ (kept by CI)
    screenshot_both_themes(page, name)           <name>-light.png and <name>-dark.png
Timeouts are in seconds.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import pytest
from conftest import REPO, LiveServer, start_live_server

CHROMIUM = os.environ.get("JUPYTER_COMPUTE_CHROMIUM", "/usr/bin/chromium")
# As root, chromium needs --no-sandbox; the rest keep it off the (closed) network and quick to start.
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--no-first-run", "--disable-dev-shm-usage",
]
VIEWPORT = {"width": 1400, "height": 900}
SCREENSHOTS = REPO / "test-artifacts" / "screenshots"

# The notebook panel in the main area that is showing (Lumino hides the other tabs' panels).
NOTEBOOK = "#jp-main-dock-panel .jp-NotebookPanel:not(.lm-mod-hidden)"

# JupyterLab settings for the tests: every cell stays in the DOM (no virtual scrolling), no news or
# update checks (the network is closed; their toasts would cover the page).
LAB_SETTINGS = {
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {
        "fetchNews": "false", "checkForUpdates": False,
    },
}


@dataclass
class LabServer:
    """A JupyterLab server subprocess (``server``) serving the notebooks copied into ``root``."""

    server: LiveServer
    root: Path

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def token(self) -> str:
        return self.server.token

    def add(self, source: str | Path, name: str | None = None) -> str:
        """Copy a file (relative paths are from the repository) into the root; return its path there."""
        source = REPO / source
        target = self.root / (name or source.name)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)
        return target.relative_to(self.root).as_posix()

    def lab_url(self, path: str = "") -> str:
        where = f"lab/tree/{quote(path)}" if path else "lab"
        return f"{self.url}{where}?token={self.token}"

    def client(self):
        return self.server.client()


def start_lab(home: Path, extra_args: list[str] = (), backends: dict | None = None,
              settings: dict | None = None) -> LabServer:
    """JupyterLab with the extension, private settings and dirs under ``home``, on loopback
    (``backends``: its ``c.ComputeApp.backends``, as start_live_server takes them; ``settings``: more
    user settings, by file name as in LAB_SETTINGS)."""
    user_settings = {**LAB_SETTINGS, **(settings or {})}
    settings, workspaces = home / "config" / "lab" / "user-settings", home / "config" / "lab" / "workspaces"
    for name, values in user_settings.items():
        (settings / name).parent.mkdir(parents=True, exist_ok=True)
        (settings / name).write_text(json.dumps(values))
    # JupyterLab's own server extension serves /lab; it is enabled in sys.prefix's config already,
    # and here once more in the private config dir (start_live_server's command line names
    # jupyter_compute only, and a second --ServerApp.jpserver_extensions would not merge with it).
    extensions = home / "config" / "jupyter_server_config.d" / "jupyterlab-ui-tests.json"
    extensions.parent.mkdir(parents=True, exist_ok=True)
    extensions.write_text(json.dumps({"ServerApp": {"jpserver_extensions": {"jupyterlab": True}}}))
    server = start_live_server(home, backends=backends, extra_args=[
        f"--LabApp.user_settings_dir={settings}", f"--LabApp.workspaces_dir={workspaces}",
        # window.jupyterapp, which the helpers read the kernel's state and cell errors from
        "--LabApp.expose_app_in_browser=True",
        "--LabApp.news_url=None", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
        *extra_args,
    ])
    return LabServer(server, home / "root")


@pytest.fixture
def lab_server(tmp_path: Path) -> Iterator[LabServer]:
    lab = start_lab(tmp_path / "jupyter")
    yield lab
    lab.server.stop()


def _unavailable(reason: str):
    """The UI tests need the browser: say how to get it, and fail (never skip)."""
    pytest.fail(reason)


# Playwright's sync API marks its own event loop as the thread's running loop between calls, for
# as long as it runs. pytest-jupyter's autouse fixtures would take that loop for theirs and close
# it; the UI tests, all sync, need neither of them. And the browser lives for one module only, so
# that tests after it find no running loop.
@pytest.fixture
def jp_asyncio_loop():
    """Overrides pytest-jupyter's (autouse) fixture: UI tests have no event loop of theirs."""


@pytest.fixture
def jp_server_cleanup():
    """Overrides pytest-jupyter's (autouse) fixture: UI tests run no in-process server."""


@pytest.fixture(scope="module")
def browser():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("playwright is not installed (bash scripts/setup.sh installs the test extra)")
    if not os.access(CHROMIUM, os.X_OK):
        _unavailable(f"{CHROMIUM} is missing: bash scripts/ui-deps.sh installs Debian's chromium")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    setattr(item, f"_report_{report.when}", report)
    return report


@pytest.fixture
def page(browser, request):
    context = browser.new_context(viewport=VIEWPORT)
    context.set_default_timeout(30_000)
    page = context.new_page()
    console: list[str] = []
    page.on("console", lambda message: console.append(f"{message.type}: {message.text}"))
    page.on("pageerror", lambda error: console.append(f"page error: {error}"))
    yield page
    report = getattr(request.node, "_report_call", None)
    if report is not None and report.failed:
        try:
            print(f"screenshot of the failure: {screenshot(page, 'FAILED-' + request.node.name)}")
        except Exception as error:  # noqa: BLE001 — the test's own failure matters more
            print(f"no screenshot of the failure: {error}")
        print("browser console (last 50):", *console[-50:], sep="\n  ")
    context.close()


# ---------------------------------------------------------------------------------------------- helpers

def screenshot(page, name: str, *, full_page: bool = False, animations: str = "disabled") -> Path:
    """Save what the page shows as test-artifacts/screenshots/<name>.png; return the path.

    ``animations="disabled"`` fast-forwards running animations, which ends timed ones (a toast's
    auto-close timer is one): pass ``"allow"`` to leave them running."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / (re.sub(r"[^\w.-]+", "_", name) + ".png")
    page.screenshot(path=str(path), full_page=full_page, animations=animations)
    return path


def screenshot_both_themes(page, name: str, **kwargs) -> tuple[Path, Path]:
    """Screenshots ``<name>-light.png`` and ``<name>-dark.png`` of what the page shows (the light theme
    is restored after); ``kwargs`` as :func:`screenshot` takes them."""
    set_theme(page, "light")
    light = screenshot(page, f"{name}-light", **kwargs)
    set_theme(page, "dark")
    try:
        page.wait_for_timeout(300)  # a frame or two for widgets' own styles to repaint
        dark = screenshot(page, f"{name}-dark", **kwargs)
    finally:
        set_theme(page, "light")
    return light, dark


# The showing notebook's kernel: connected and idle. The toolbar's indicator alone is not enough:
# it says idle for a moment before the session has a kernel ("No Kernel | Initializing"), and a run
# started then asks for a kernel in a dialog.
_KERNEL_IDLE = r"""notebook => {
    if (!window.jupyterapp) throw new Error('window.jupyterapp missing: start JupyterLab with --LabApp.expose_app_in_browser=True');
    const panel = document.querySelector(notebook);
    const kernel = window.jupyterapp.shell.currentWidget?.sessionContext?.session?.kernel;
    return !!panel && !!kernel && kernel.connectionStatus === 'connected' && kernel.status === 'idle'
        && panel.querySelector('.jp-Notebook-ExecutionIndicator')?.dataset.status === 'idle';
}"""


def wait_for_kernel_idle(page, timeout: float = 60) -> None:
    """Wait until the showing notebook has a kernel, connected and idle."""
    page.wait_for_function(_KERNEL_IDLE, arg=NOTEBOOK, timeout=timeout * 1000, polling=100)


def open_notebook(page, lab_server: LabServer, path: str, timeout: float = 60):
    """Open ``path`` (relative to the server root) in JupyterLab and wait for its kernel to be idle.
    Returns the locator of the notebook panel."""
    page.goto(lab_server.lab_url(path))
    name = path.rsplit("/", 1)[-1]
    page.locator("#jp-main-dock-panel .lm-TabBar-tab.lm-mod-current",
                 has_text=re.compile("^" + re.escape(name) + "$")).wait_for(timeout=timeout * 1000)
    panel = page.locator(NOTEBOOK)
    panel.locator(".jp-Cell").first.wait_for(timeout=timeout * 1000)
    wait_for_kernel_idle(page, timeout)
    return panel


# The errors in the showing notebook's outputs (in the DOM they look like any stderr output).
_ERRORS = r"""() => {
    const model = window.jupyterapp?.shell.currentWidget?.content?.model;
    const errors = [];
    for (let i = 0; i < (model?.cells.length ?? 0); i++) {
        const cell = model.cells.get(i);
        if (cell.type !== 'code') continue;
        for (const output of cell.outputs.toJSON()) {
            if (output.output_type === 'error') {
                errors.push(`cell ${i + 1}: ${output.ename}: ${output.evalue}\n${(output.traceback ?? []).join('\n')}`);
            }
        }
    }
    return errors;
}"""

# Counts the run commands JupyterLab executes (menu items, toolbar buttons and keys all go through
# its command registry); a command's result settles once its cells ran, or stopped at an error.
_WATCH_RUNS = r"""() => {
    if (!window.jupyterapp) throw new Error('window.jupyterapp missing: start JupyterLab with --LabApp.expose_app_in_browser=True');
    if (!window.__jupyterComputeRuns) {
        const runs = window.__jupyterComputeRuns = {started: 0, pending: 0, mark: 0};
        window.jupyterapp.commands.commandExecuted.connect((_, {id, result}) => {
            if (!/(^|:)run/.test(id)) return;
            runs.started++;
            runs.pending++;
            const settle = () => { runs.pending--; };
            Promise.resolve(result).then(settle, settle);
        });
    }
    window.__jupyterComputeRuns.mark = window.__jupyterComputeRuns.started;
}"""

# Where a run started after _WATCH_RUNS is: false while running, 'done' once its commands settled,
# no cell shows '[*]' and the kernel is idle, 'dialog: <text>' when JupyterLab asks something.
_RUN_STATE = r"""notebook => {
    const kernelIdle = KERNEL_IDLE;
    const dialog = document.querySelector('.jp-Dialog');
    if (dialog) return 'dialog: ' + dialog.innerText.replace(/\s+/g, ' ');
    const runs = window.__jupyterComputeRuns;
    if (!runs || runs.started === runs.mark || runs.pending > 0) return false;
    const panel = document.querySelector(notebook);
    const prompts = [...(panel?.querySelectorAll('.jp-CodeCell .jp-InputArea-prompt') ?? [])];
    if (prompts.some(prompt => prompt.textContent.includes('*'))) return false;
    return kernelIdle(notebook) && 'done';
}""".replace("KERNEL_IDLE", _KERNEL_IDLE)


def _start_run(page) -> None:
    page.evaluate(_WATCH_RUNS)


def _wait_for_run(page, timeout: float, raise_on_error: bool) -> None:
    state = page.wait_for_function(_RUN_STATE, arg=NOTEBOOK, timeout=timeout * 1000, polling=100).json_value()
    if state != "done":
        raise AssertionError(f"JupyterLab shows a dialog instead of running the cells: {state}")
    if raise_on_error and (errors := cell_errors(page)):
        raise AssertionError("a cell failed:\n" + "\n\n".join(errors))


def run_all_cells(page, timeout: float = 120, *, raise_on_error: bool = True) -> None:
    """Run → Run All Cells from the menu bar; wait until every cell ran and the kernel is idle.
    Raises AssertionError with the traceback when a cell failed (unless ``raise_on_error=False``)."""
    _start_run(page)
    page.locator("#jp-MainMenu .lm-MenuBar-itemLabel", has_text=re.compile("^Run$")).click()
    page.locator(".lm-Menu .lm-Menu-itemLabel", has_text=re.compile("^Run All Cells$")).click()
    _wait_for_run(page, timeout, raise_on_error)


def run_in_new_cell(page, code: str, timeout: float = 60, *, raise_on_error: bool = True):
    """Append a code cell below the last one, type ``code`` into it and run it (Shift+Enter).
    Returns the locator of the new cell."""
    cells = page.locator(f"{NOTEBOOK} .jp-Notebook .jp-Cell")
    count = cells.count()
    cells.last.locator(".jp-InputPrompt").click()  # selects the cell, command mode
    page.keyboard.press("Escape")
    page.keyboard.press("b")  # insert a cell below, which becomes the active one
    cell = cells.nth(count)
    cell.wait_for(timeout=timeout * 1000)
    cell.locator(".cm-content").click()
    cell.locator(".cm-content").fill(code)  # fill: no auto-closed brackets or auto-indent
    _start_run(page)
    page.keyboard.press("Shift+Enter")
    _wait_for_run(page, timeout, raise_on_error)
    return cell


def wait_for_text(page, text, timeout: float = 30, *, selector: str | None = None):
    """Wait until ``text`` (a substring, or a compiled regex) shows on the page, or inside the first
    element matching ``selector`` that has it (e.g. ``.jp-OutputArea-output``). Returns its locator."""
    scope = page.locator(selector, has_text=text) if selector else page.get_by_text(text)
    found = scope.first
    found.wait_for(timeout=timeout * 1000)
    return found


def cell_errors(page) -> list[str]:
    """The errors the showing notebook's outputs hold: 'cell N: Name: value' and the traceback."""
    return [re.sub(r"\x1b\[[0-9;]*m", "", error) for error in page.evaluate(_ERRORS)]


def run_active_cell(page, timeout: float = 60, *, raise_on_error: bool = True) -> None:
    """Run the showing notebook's active cell (Shift+Enter, as a user would); wait until it ran."""
    _start_run(page)
    page.keyboard.press("Shift+Enter")
    _wait_for_run(page, timeout, raise_on_error)


def set_theme(page, theme: str) -> None:
    """Switch JupyterLab to ``'light'`` or ``'dark'`` and wait until the page shows it."""
    name = {"light": "JupyterLab Light", "dark": "JupyterLab Dark"}[theme]
    page.evaluate("name => window.jupyterapp.commands.execute('apputils:change-theme', {theme: name})", name)
    page.wait_for_function("light => document.body.dataset.jpThemeLight === light",
                           arg="true" if theme == "light" else "false", timeout=30_000)
