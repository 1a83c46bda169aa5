"""``ComputeApp``: the Jupyter server extension. Owns the configuration, the store, the
backends, the monitor and the event hub, and registers the REST routes.

Configure it in ``jupyter_server_config.py``::

    c.ComputeApp.backends = {
        "local": {"kind": "local", "max_jobs": 4},
        "maap": {"kind": "maap", "url": "https://api.maap-project.org/api", "token_env": "MAAP_PGT"},
    }
"""

from __future__ import annotations

import asyncio
import functools
import os
import shutil
from pathlib import Path
from typing import Any

from jupyter_core.paths import jupyter_data_dir
from jupyter_server.extension.application import ExtensionApp
from jupyter_server.utils import url_path_join
from traitlets import Bool, Dict, Float, Int, Unicode, default

from ..backends.base import Backend, backend_class
from ..backends.secrets import forget, withhold
from ..client import ENV_TOKEN, ENV_URL
from ..errors import ComputeError, public_reason
from .events import EventHub
from .monitor import Monitor
from .proxy_upstream import ProxyClient
from .routes import ROUTES, tornado_pattern
from . import loop_watch
from .sandboxes import SandboxSet, start_sandboxes
from .service import JobService
from .store import JobStore
from .webhooks import WebhookTokens

#: The file that marks a data dir as sandbox mode's own (which a fresh start may empty).
SANDBOX_MARK = ".jupyter-compute-sandbox"
#: What a fresh sandbox start removes from its data dir (the store, uploads, job and stand-in folders).
SANDBOX_DATA = ("jobs.sqlite", "jobs.sqlite-wal", "jobs.sqlite-shm", "uploads", "backends", "sandboxes")

#: Variables that hold the server's own credentials; never passed on to a job.
SERVER_SECRET_ENV = (ENV_TOKEN, "JUPYTER_TOKEN", "JPY_API_TOKEN")


def _named_env(config: Any) -> set[str]:
    """The values of ``*_env`` keys in a config, at any depth (e.g. storage profiles' keys)."""
    if isinstance(config, dict):
        found = {v for k, v in config.items() if str(k).endswith("_env") and isinstance(v, str)}
        return found.union(*(_named_env(v) for v in config.values()))
    if isinstance(config, (list, tuple)):
        return set().union(*(_named_env(v) for v in config))
    return set()


def clear_sandbox_data(data: Path) -> bool:
    """Empty the sandbox's data dir of its jobs and files; False (nothing removed) when the folder exists
    but is not marked as the sandbox's (it may be a real store that ``data_dir`` was pointed at)."""
    if data.exists() and any(data.iterdir()) and not (data / SANDBOX_MARK).exists():
        return False
    for name in SANDBOX_DATA:
        path = data / name
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
    return True


def secret_env_names(configs: dict[str, dict[str, Any]]) -> list[str]:
    """Every environment variable holding a backend's secret: named in its config, or its default."""
    named = set(SERVER_SECRET_ENV)
    for name, config in configs.items():
        named |= _named_env(config)
        try:
            cls = backend_class(str(config.get("kind", name)))
        except ComputeError:
            continue
        named |= {default for key, default in cls.secret_env_defaults.items() if key not in config}
    return sorted(named)


class ComputeApp(ExtensionApp):
    """Run and watch compute jobs on many platforms from JupyterLab."""

    name = "jupyter_compute"
    load_other_extensions = True

    backends = Dict(
        key_trait=Unicode(),
        value_trait=Dict(),
        help="Named backends: {name: {'kind': 'local'|'ocean'|...|'module:Class', ...its settings}}. "
        "Secrets are named by environment variable (e.g. 'token_env'), never written here.",
    ).tag(config=True)

    sandbox = Bool(
        False, help="Start every platform's local stand-in with the server and configure a backend for each "
        "(maap, maap-ogc, datastory, modelarts, ocean), for demos; backends named the same here win.",
    ).tag(config=True)

    enable_local = Bool(True, help="Configure the embedded 'local' backend even if not listed.").tag(config=True)

    data_dir = Unicode(
        help="Where the job store, the uploads and the local backend's job folders live (default "
        "<jupyter data dir>/compute, or <jupyter data dir>/compute-sandbox in sandbox mode: demo jobs never "
        "mix with real ones).",
    ).tag(config=True)

    sandbox_keep_data = Bool(
        False, help="In sandbox mode, keep the demo's jobs, uploads and stand-ins' files from one start to the "
        "next. By default each start begins afresh (the stand-ins forget their jobs when they stop).",
    ).tag(config=True)

    monitor_concurrency = Int(8, help="How many platform status calls the monitor makes at once.").tag(config=True)

    backend_start_timeout = Float(
        10.0, help="Seconds the server waits for a backend's start (e.g. its first call to its platform).",
    ).tag(config=True)

    proxy_timeout = Float(60.0, help="Seconds the passthrough waits for a platform's answer.").tag(config=True)

    proxy_max_body_size = Int(
        0, help="The largest request body the passthrough takes, in bytes (0: no limit; the body streams through).",
    ).tag(config=True)

    webhook_base_url = Unicode(
        "", help="This server's URL as the platforms can reach it, for their callbacks "
        "(default: the server's own connection URL). Empty callbacks mean polling only.",
    ).tag(config=True)

    @default("data_dir")
    def _default_data_dir(self) -> str:
        return str(Path(jupyter_data_dir()) / ("compute-sandbox" if self.sandbox else "compute"))

    _sandboxes: SandboxSet | None = None
    #: The passthrough's HTTP client (made before the server listens: it opens connections as it needs them).
    proxy_client: ProxyClient

    def initialize_settings(self) -> None:
        loop_watch.install_from_env()
        self.hub = EventHub()
        if self.sandbox:
            self._prepare_sandbox_data()
        self.store = JobStore(Path(self.data_dir) / "jobs.sqlite")
        self.proxy_client = ProxyClient(self.proxy_timeout)
        self._sandboxes = start_sandboxes(self.log, Path(self.data_dir) / "sandboxes") if self.sandbox else None
        backends, failed = self._build_backends()
        self.service = JobService(self.store, backends, self.hub, log=self.log)
        for name, (kind, exc) in failed.items():
            self.service.mark_unavailable(name, kind, exc)
        self.service.uploads_dir = Path(self.data_dir) / "uploads"
        assert self.serverapp is not None, "initialize_settings runs once the server app is set"
        shared = tuple(Path(p).expanduser().resolve() for p in (self.serverapp.root_dir, self.service.uploads_dir))
        for backend in backends.values():
            backend.local_roots = shared
        # Kernels, terminals and local jobs inherit this process's environment: the platforms' secrets
        # leave it now, before the server takes its first request (the backends read them from memory).
        self._withheld = withhold(self._secret_names)
        if self._withheld:
            self.log.info("jupyter-compute: %d backend secret variable(s) withheld from kernels and jobs: %s",
                          len(self._withheld), ", ".join(self._withheld))
        self.monitor = Monitor(self.service, max_concurrency=self.monitor_concurrency, log=self.log)
        self.webhook_tokens = WebhookTokens(Path(self.data_dir) / "webhook.key")

    def _prepare_sandbox_data(self) -> None:
        """Mark the data dir as the sandbox's; empty it (unless kept) when it is marked so."""
        data = Path(self.data_dir)
        if self.sandbox_keep_data:
            self.log.info("jupyter-compute: sandbox mode keeps its jobs in %s", data)
        elif not clear_sandbox_data(data):
            self.log.warning("jupyter-compute: %s holds jobs that are not the sandbox's own (no %s in it): "
                             "kept; sandbox jobs will be listed with them", data, SANDBOX_MARK)
        else:
            self.log.info("jupyter-compute: sandbox mode starts afresh in %s "
                          "(c.ComputeApp.sandbox_keep_data = True keeps its jobs)", data)
        data.mkdir(parents=True, exist_ok=True)
        if not any(data.iterdir()) or (data / SANDBOX_MARK).exists():
            (data / SANDBOX_MARK).write_text("The jobs of jupyter-compute's sandbox mode (demos) live here.\n")

    def _build_backends(self) -> tuple[dict[str, Backend], dict[str, tuple[str, Exception]]]:
        sandboxes = self._sandboxes.backends if self._sandboxes else {}
        configs: dict[str, dict[str, Any]] = {name: dict(cfg) for name, cfg in {**sandboxes, **self.backends}.items()}
        if self.enable_local:
            configs.setdefault("local", {"kind": "local"})
        hidden = secret_env_names(configs)
        self._secret_names = [name for name in hidden if name not in SERVER_SECRET_ENV]
        built: dict[str, Backend] = {}
        failed: dict[str, tuple[str, Exception]] = {}
        for name, config in configs.items():
            kind = str(config.pop("kind", name))
            if kind == "local":  # local jobs must not inherit the platforms' secrets
                config["hidden_env"] = sorted(set(config.get("hidden_env", [])) | set(hidden))
            try:
                cls = backend_class(kind)
                built[name] = cls(name, config, data_dir=Path(self.data_dir) / "backends" / name, log=self.log)
            except Exception as exc:  # noqa: BLE001 — one misconfigured backend must not stop the others
                self.log.error("jupyter-compute: backend '%s' is not available: %s", name, _log_reason(exc))
                failed[name] = (kind, exc)
        return built, failed

    def initialize_handlers(self) -> None:
        self.handlers.extend((tornado_pattern(template), handler) for template, handler in ROUTES)

    def callback_url(self, backend: str, job_id: str) -> str:
        """The URL a platform calls back for one job (an unguessable token in it)."""
        assert self.serverapp is not None
        base = self.webhook_base_url or self.serverapp.connection_url
        token = self.webhook_tokens.token(backend, job_id)
        return url_path_join(base, "compute/api/webhooks", backend, token)

    async def _start_jupyter_server_extension(self, serverapp: Any) -> None:
        await self.store.open()
        backends = list(self.service.backends.items())
        for name, backend in backends:
            if backend.capabilities.has_webhooks:
                backend.webhook_url = functools.partial(self.callback_url, name)
        # side by side, each bounded: a platform that does not answer delays neither the others nor the server
        await asyncio.gather(*(self._start_backend(name, backend) for name, backend in backends))
        await self.monitor.start()
        os.environ[ENV_URL] = serverapp.connection_url
        token = getattr(serverapp.identity_provider, "token", "") or ""
        if token:
            os.environ[ENV_TOKEN] = token
        self.log.info("jupyter-compute: backends %s", ", ".join(self.service.backends) or "none")

    async def _start_backend(self, name: str, backend: Backend) -> None:
        try:
            await asyncio.wait_for(backend.start(), self.backend_start_timeout)
        except TimeoutError:
            self.log.warning("jupyter-compute: backend '%s' took over %g s to start; going on without waiting",
                             name, self.backend_start_timeout)
        except Exception as exc:  # noqa: BLE001 — one broken platform must not stop the others
            self.log.error("jupyter-compute: backend '%s' failed to start: %s", name, _log_reason(exc))
            self.service.mark_unavailable(name, backend.kind, exc)
            try:  # it leaves the service, so stop_extension will not close what its start opened
                await backend.close()
            except Exception as close_exc:  # noqa: BLE001
                self.log.warning("jupyter-compute: closing backend '%s' failed: %s", name, _log_reason(close_exc))

    async def stop_extension(self) -> None:
        await self.monitor.stop()
        self.hub.close()
        for backend in self.service.backends.values():
            try:
                await backend.close()
            except Exception as exc:  # noqa: BLE001
                self.log.warning("jupyter-compute: closing backend '%s' failed: %s", backend.name, _log_reason(exc))
        await self.proxy_client.aclose()
        await self.store.close()
        if self._sandboxes is not None:
            await asyncio.to_thread(self._sandboxes.stop)
        forget(getattr(self, "_withheld", []))  # last: calls still in flight above needed them
        for name in (ENV_URL, ENV_TOKEN):
            os.environ.pop(name, None)


def _log_reason(exc: BaseException) -> str:
    """An error as words for the log, by the one rule for error text (the details may quote a secret)."""
    return public_reason(exc, "details withheld")
