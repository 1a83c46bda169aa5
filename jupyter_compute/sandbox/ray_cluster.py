"""A real Ray cluster on this machine, on loopback only, for sandbox mode and tests.

The head is ``ray start --head --block``; each further node is a small Python program that starts a Ray
worker node the way ``ray start --address=… --block`` does (see ``_WORKER_NODE``). Each runs in a session
of its own, with ``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0`` and ``127.0.0.1`` as its address, which keeps
every Ray port on loopback, and on ports chosen free (Ray's defaults collide between two clusters).

A cluster's processes are found again by session, as descendants of those (a job's entry point runs in
a session of its own), and by a marker in their environment (a job's processes whose parents are gone);
``stop()`` ends all of them.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import httpx
import psutil

#: Set in the environment of the cluster's processes (inherited by its jobs) to the cluster's temp dir.
MARKER_ENV = "JUPYTER_COMPUTE_RAY_CLUSTER"
LOOPBACK = "127.0.0.1"
#: What the cluster's processes (and so its jobs) take from the environment of the process starting it: the
#: rest (a Jupyter server's credentials above all) stays out.
#: (No RAY_* variable either: a server's Ray dashboard token may be one; Ray's settings here are set below.)
INHERITED_ENV = frozenset({"PATH", "HOME", "USER", "LOGNAME", "SHELL", "LANG", "LANGUAGE", "TZ", "TMPDIR", "TERM",
                           "VIRTUAL_ENV", "PIP_CONFIG_FILE", "SSL_CERT_FILE", "SSL_CERT_DIR",
                           "REQUESTS_CA_BUNDLE"})  # fmt: skip
INHERITED_PREFIXES = ("LC_",)
#: How long a node's processes get to end after SIGTERM before they are killed.
STOP_GRACE_S = 5.0

# Each worker node unpacks jobs' working_dir packages into a folder of its own: nodes of one machine share the
# session folder, and a node unpacking a package (it deletes, then writes) would pull it from under a job
# running on another node in the same folder.
# `ray start` refuses to add a node to a cluster when RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0, and without
# that variable Ray replaces 127.0.0.1 by the machine's network address. This starts a worker node as
# `ray start --block` does (and as ray.cluster_utils.Cluster.add_node does, in tests of Ray itself), and
# ends the node's whole process group when one of its processes ends (the raylet gives up on a lost head).
_WORKER_NODE = """\
import os, signal, sys, time
from ray._private.node import Node
from ray._private.parameter import RayParams

gcs_address, agent_port, cpus, store_bytes, memory_bytes, temp_dir, resources_dir = sys.argv[1:]
params = RayParams(node_ip_address="127.0.0.1", gcs_address=gcs_address, num_cpus=int(cpus), num_gpus=0,
                   object_store_memory=int(store_bytes), memory=int(memory_bytes), temp_dir=temp_dir,
                   runtime_env_dir_name=resources_dir,
                   dashboard_agent_listen_port=int(agent_port), include_log_monitor=False)
node = Node(params, head=False, shutdown_at_exit=True, spawn_reaper=True)
print("ray worker node started", flush=True)
while not node.dead_processes():
    time.sleep(1)
print("ray worker node: a process ended:", node.dead_processes(), flush=True)
os.killpg(0, signal.SIGKILL)
"""


@dataclass
class _Node:
    """One ``ray start`` (or worker node program) process, leader of a session of its own, and the file
    its output goes to.

    The process is reaped only once its session is over (``reap``): until then its pid, which is the
    session's id, cannot be given to another process, so the session's members are surely this node's.
    """

    name: str
    argv: list[str]
    cpus: int
    log: Path
    process: subprocess.Popen[bytes] | None = None  # None: not started, or reaped

    def exit_code(self) -> int | None:
        """How the process ended (negative: by that signal), without reaping it; None while it runs."""
        if self.process is None:
            return None
        try:
            ended = os.waitid(os.P_PID, self.process.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
        except ChildProcessError:  # reaped already
            return self.process.returncode
        if ended is None:
            return None
        return -ended.si_status if ended.si_code in (os.CLD_KILLED, os.CLD_DUMPED) else ended.si_status

    def signal(self, sig: int, *, group: bool = False) -> None:
        """Send ``sig`` to the process, or to its whole process group; gone is fine."""
        if self.process is not None:
            with contextlib.suppress(OSError):
                (os.killpg if group else os.kill)(self.process.pid, sig)

    def reap(self) -> None:
        """Collect the ended process (waiting a little for it) and forget its session."""
        if self.process is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(5)
                self.process = None


class LocalRayCluster:
    """A head and ``nodes - 1`` worker nodes of ``cpus_per_node`` CPUs each, on loopback.

    ``start()`` returns at once with ``wait=False`` (the processes come up on a thread);
    ``dashboard_url`` and ``gcs_address`` are known as soon as it returns. Logs of the ``ray start``
    processes are ``workdir/ray-head.log`` and ``workdir/ray-node-<n>.log``; jobs without a working
    dir of their own run in ``workdir/cwd``. Ray's own files are in a short temp dir under /tmp
    (its sockets' paths must stay short), removed by ``stop()``.
    """

    def __init__(self, workdir: Path, *, nodes: int = 1, cpus_per_node: int = 1, object_store_mb: int = 100,
                 memory_mb: int = 2048, env: Mapping[str, str] | None = None) -> None:
        if nodes < 1:
            raise ValueError("a cluster has at least its head node")
        self.workdir = Path(workdir)
        self.nodes = nodes
        self.cpus_per_node = cpus_per_node
        self.object_store_bytes = object_store_mb * 1_000_000
        # Each node's "memory" resource, fixed: left to Ray, it is the memory free when the node starts,
        # and nodes started a moment apart would differ (and count as different kinds of node).
        self.memory_bytes = memory_mb * 1024 * 1024
        self.extra_env = dict(env or {})
        self.temp_dir: Path | None = None
        self._ports: dict[str, int] = {}
        self._head: _Node | None = None
        self._workers: list[_Node] = []
        self._numbered = 0  # worker nodes ever started (their logs are numbered)
        self._env: dict[str, str] = {}
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._starter: threading.Thread | None = None
        self._error: BaseException | None = None

    # --- addresses ------------------------------------------------------------------------------

    @property
    def dashboard_url(self) -> str:
        """The dashboard (Jobs REST API), e.g. ``http://127.0.0.1:40123``."""
        return f"http://{LOOPBACK}:{self._port('dashboard')}"

    @property
    def gcs_address(self) -> str:
        """The head's GCS, ``127.0.0.1:<port>`` (what ``ray.init(address=…)`` takes)."""
        return f"{LOOPBACK}:{self._port('gcs')}"

    def _port(self, name: str) -> int:
        if not self._ports:
            raise RuntimeError("the Ray cluster is not started")
        return self._ports[name]

    # --- start ----------------------------------------------------------------------------------

    def start(self, wait: bool = True) -> LocalRayCluster:
        """Start the head and the worker nodes; with ``wait``, return once all are ALIVE."""
        if self._head is not None:
            raise RuntimeError("the Ray cluster was started already")
        (self.workdir / "cwd").mkdir(parents=True, exist_ok=True)
        self.temp_dir = Path(tempfile.mkdtemp(prefix="ray-", dir="/tmp"))
        self._ports = dict(zip(("gcs", "dashboard", "client", "agent"), _free_ports(4), strict=True))
        self._env = self._process_env()
        self._head = _Node("head", self._head_argv(), self.cpus_per_node, self.workdir / "ray-head.log")
        self._workers = [self._worker_node(self.cpus_per_node) for _ in range(self.nodes - 1)]
        atexit.register(self.stop)
        self._starter = threading.Thread(target=self._bring_up, args=(self._head, list(self._workers)),
                                         name="ray-cluster-start", daemon=True)
        self._starter.start()
        if wait:
            self.wait_ready()
        return self

    def _process_env(self) -> dict[str, str]:
        """The cluster's environment: only what running Python and Ray needs from this process's (never a
        secret of the server, which its jobs could read), then ``env``."""
        env = {name: value for name, value in os.environ.items()
               if name in INHERITED_ENV or name.startswith(INHERITED_PREFIXES)}  # fmt: skip
        env.update(self.extra_env)
        env["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"  # with 127.0.0.1 as the node address: loopback only
        env.setdefault("RAY_GRACEFUL_SHUTDOWN_DRAIN_TIMEOUT_S", "0")  # SIGTERM ends a node at once
        env.setdefault("RAY_USAGE_STATS_ENABLED", "0")
        # a job's `python` is this Python (with Ray), whatever the PATH of the server
        env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
        env[MARKER_ENV] = str(self.temp_dir)
        return env

    def _head_argv(self) -> list[str]:
        ports = self._ports
        return [
            sys.executable, "-m", "ray.scripts.scripts", "start", "--head", "--block",
            f"--node-ip-address={LOOPBACK}", f"--dashboard-host={LOOPBACK}", "--include-dashboard=true",
            f"--port={ports['gcs']}", f"--dashboard-port={ports['dashboard']}",
            f"--ray-client-server-port={ports['client']}", f"--dashboard-agent-listen-port={ports['agent']}",
            f"--num-cpus={self.cpus_per_node}", "--num-gpus=0", f"--object-store-memory={self.object_store_bytes}",
            f"--memory={self.memory_bytes}",
            "--disable-usage-stats", f"--temp-dir={self.temp_dir}", "--log-style=record", "--log-color=false",
        ]

    def _worker_node(self, cpus: int) -> _Node:
        self._numbered += 1
        argv = [sys.executable, "-c", _WORKER_NODE, self.gcs_address, str(_free_ports(1)[0]), str(cpus),
                str(self.object_store_bytes), str(self.memory_bytes), str(self.temp_dir),
                f"runtime_resources_node_{self._numbered}"]
        return _Node(f"node-{self._numbered}", argv, cpus, self.workdir / f"ray-node-{self._numbered}.log")

    def _bring_up(self, head: _Node, workers: list[_Node]) -> None:
        """Start the head, then (once its GCS answers) the worker nodes; errors are kept for wait_ready."""
        try:
            self._launch(head)
            self._await_gcs(head, time.monotonic() + 120)
            for node in workers:
                self._launch(node)
        except Exception as exc:  # noqa: BLE001 — reported by wait_ready, on the caller's thread
            self._error = exc

    def _launch(self, node: _Node) -> None:
        with self._lock:
            if self._stopping.is_set():
                raise RuntimeError("the Ray cluster is being stopped")
            with open(node.log, "ab") as log:
                node.process = subprocess.Popen(
                    node.argv, env=self._env, cwd=self.workdir / "cwd", stdin=subprocess.DEVNULL, stdout=log,
                    stderr=subprocess.STDOUT, start_new_session=True)

    def _await_gcs(self, head: _Node, deadline: float) -> None:
        while not self._stopping.is_set():
            if head.exit_code() is not None:
                raise RuntimeError(f"the Ray head exited with code {head.exit_code()}")
            with contextlib.suppress(OSError), socket.create_connection((LOOPBACK, self._ports["gcs"]), 1):
                return
            if time.monotonic() > deadline:
                raise RuntimeError("the Ray head's GCS did not open its port within 120 s")
            time.sleep(0.2)

    # --- readiness ------------------------------------------------------------------------------

    def wait_ready(self, timeout_s: float = 180) -> None:
        """Return once the dashboard answers and every node is ALIVE; RuntimeError (with the end of the
        head's output) when a node process ended, the start failed, or ``timeout_s`` passed."""
        deadline = time.monotonic() + timeout_s
        if self._starter is not None:
            self._starter.join(timeout_s)
        if self._error is not None:
            raise self._failure(f"the Ray cluster did not start: {self._error}") from self._error
        with httpx.Client(base_url=self.dashboard_url, timeout=5, trust_env=False) as client:
            while True:
                ended = [node for node in self._nodes() if node.exit_code() is not None]
                if ended:
                    raise self._failure(f"the Ray {ended[0].name} process ended (code {ended[0].exit_code()})",
                                        ended[0])
                if self._all_alive(client):
                    return
                if time.monotonic() > deadline:
                    raise self._failure(f"the Ray cluster was not ready within {timeout_s:g} s")
                time.sleep(0.5)

    def _all_alive(self, client: httpx.Client) -> bool:
        try:
            if client.get("/api/version").status_code != 200:
                return False
            summary = client.get("/nodes", params={"view": "summary"}).json()["data"]["summary"]
        except (httpx.HTTPError, ValueError, KeyError, TypeError):
            return False
        alive = sum(1 for node in summary if (node.get("raylet") or {}).get("state") == "ALIVE")
        return alive >= len(self._nodes())

    def _failure(self, message: str, node: _Node | None = None) -> RuntimeError:
        tails = [f"--- end of {self._head.log} ---\n{_tail(self._head.log)}"] if self._head else []
        if node is not None and node is not self._head:
            tails.append(f"--- end of {node.log} ---\n{_tail(node.log)}")
        return RuntimeError("\n".join([message, *tails]))

    def _nodes(self) -> list[_Node]:
        return [self._head, *self._workers] if self._head else []

    # --- changes --------------------------------------------------------------------------------

    def add_node(self, cpus: int = 1) -> None:
        """Start one more worker node of ``cpus`` CPUs; return once it is ALIVE."""
        self._await_start()
        node = self._worker_node(cpus)
        self._workers.append(node)  # before it starts: a stop() meanwhile ends it too
        self._launch(node)
        self.wait_ready()

    def kill_head(self) -> None:
        """SIGKILL every process of the head node (its session, and the jobs it started), as a crash would.

        The worker nodes stay up at first; their raylets give up on the lost GCS after 60 s (Ray's
        ``gcs_rpc_server_reconnect_timeout_s``) and their nodes then end.
        """
        self._await_start()
        head = self._require_head()
        _kill_and_wait(self._processes_of([head]), time.monotonic() + 15)
        head.reap()

    def restart_head(self) -> None:
        """Start the head again on the same ports and temp dir, and new worker nodes in place of the old
        ones, and wait until all are ALIVE.

        A head started again is a new cluster (no GCS storage outside the head), which the old worker
        nodes cannot rejoin; and ``ray start`` refuses to start while their raylets still name its GCS.
        So the worker nodes are always replaced, and anything left of the old cluster (a head still
        running, the old jobs) is killed first.
        """
        self._await_start()
        head = self._require_head()
        old = self._workers
        _kill_and_wait(self.processes(), time.monotonic() + 15)
        for node in (head, *old):
            node.reap()
        self._error = None
        self._workers = [self._worker_node(node.cpus) for node in old]
        self._bring_up(head, self._workers)
        self.wait_ready()

    def _await_start(self) -> None:
        if self._starter is not None:
            self._starter.join(180)
        if self._stopping.is_set():
            raise RuntimeError("the Ray cluster is stopped")

    def _require_head(self) -> _Node:
        if self._head is None:
            raise RuntimeError("the Ray cluster is not started")
        return self._head

    # --- processes and stop ---------------------------------------------------------------------

    def processes(self) -> list[psutil.Process]:
        """Every living process of this cluster: its nodes' sessions, their descendants (jobs' entry points
        run in sessions of their own) and any process with this cluster's marker in its environment."""
        return self._processes_of(self._nodes(), marker=str(self.temp_dir) if self.temp_dir else None)

    def _processes_of(self, nodes: Iterable[_Node], marker: str | None = None) -> list[psutil.Process]:
        sessions = {node.process.pid for node in nodes if node.process is not None}
        found = {proc.pid: proc for proc in psutil.process_iter() if _belongs(proc, sessions, marker)}
        for proc in list(found.values()):
            with contextlib.suppress(psutil.Error):
                found.update((child.pid, child) for child in proc.children(recursive=True))
        found.pop(os.getpid(), None)
        return [proc for proc in found.values() if _living(proc)]

    def stop(self) -> None:
        """End every process of the cluster (SIGTERM, then SIGKILL after a grace) and remove its temp dir.
        Idempotent; every wait is bounded."""
        with self._lock:
            self._stopping.set()  # no node starts after this
        atexit.unregister(self.stop)
        if self._starter is not None:
            self._starter.join(15)
        found = self.processes()  # now, while the jobs' entry points are still the nodes' descendants
        nodes = [node for node in self._nodes() if node.process is not None]
        _end(nodes)
        _kill_and_wait([*found, *self.processes()], time.monotonic() + 15)
        for node in nodes:
            node.reap()
        if self.temp_dir is not None:
            shutil.rmtree(self.temp_dir, ignore_errors=True)

    def __enter__(self) -> LocalRayCluster:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _free_ports(count: int) -> list[int]:
    """Distinct free loopback ports (from binding port 0: the ephemeral range, apart from Ray's worker ports)."""
    with contextlib.ExitStack() as stack:
        sockets = [stack.enter_context(socket.socket()) for _ in range(count)]
        for sock in sockets:
            sock.bind((LOOPBACK, 0))
        return [sock.getsockname()[1] for sock in sockets]


def _tail(path: Path, lines: int = 40) -> str:
    try:
        with open(path, "rb") as file:
            file.seek(0, os.SEEK_END)
            file.seek(max(0, file.tell() - 16_000))
            return "\n".join(file.read().decode(errors="replace").splitlines()[-lines:])
    except OSError as exc:
        return f"({exc})"


def _belongs(proc: psutil.Process, sessions: set[int], marker: str | None) -> bool:
    """Whether ``proc`` is in one of ``sessions`` or has ``marker`` in its environment."""
    with contextlib.suppress(OSError):
        if os.getsid(proc.pid) in sessions:
            return True
    if marker is None:
        return False
    # Ray's processes that rename themselves (ray::IDLE …) show an empty environment: found by session.
    try:
        return proc.environ().get(MARKER_ENV) == marker
    except psutil.Error:
        return False


def _living(proc: psutil.Process) -> bool:
    try:
        return proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def _end(nodes: list[_Node]) -> None:
    """SIGTERM to each node's leader (its own shutdown ends the node's processes), then, after a grace,
    SIGKILL to each node's process group."""
    for node in nodes:
        if node.exit_code() is None:
            node.signal(signal.SIGTERM)
    grace = time.monotonic() + STOP_GRACE_S
    while any(node.exit_code() is None for node in nodes) and time.monotonic() < grace:
        time.sleep(0.1)
    for node in nodes:
        node.signal(signal.SIGKILL, group=True)


def _kill_and_wait(procs: Iterable[psutil.Process], deadline: float) -> None:
    """SIGKILL ``procs`` and wait (until ``deadline``) for them to be gone; a zombie counts as gone."""
    procs = list(procs)
    for proc in procs:
        with contextlib.suppress(psutil.Error):
            proc.send_signal(signal.SIGKILL)
    while any(_living(proc) for proc in procs) and time.monotonic() < deadline:
        time.sleep(0.1)

