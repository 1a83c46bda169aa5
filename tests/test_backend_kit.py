"""The backend contract, run over every backend of the kit (``backend_kit.CASES``) against its local
stand-in: each test drives the backend object through its Python API, over real HTTP on loopback, as
the server's JobService does (a spec is checked by ``validate`` in a thread, then submitted).

One started backend (and its stand-in) is shared by the tests of a case: the ``kit`` fixture is
module-scoped and runs the backend on one event loop of its own. Each test submits its own jobs or
uses the case's quick job, which is submitted (once) by whichever test asks for it first, so the
tests do not depend on their order. Waits poll with generous deadlines; none sleeps and hopes.

No blocking call: conftest's autouse ``no_blocking_call_in_our_code`` fails any test during which our
code held an event loop for over 50 ms, so every test here checks that too.
"""

from __future__ import annotations

import ast
import asyncio
import contextlib
import dataclasses
import inspect
import json
import textwrap
import uuid
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
from backend_kit import CASES, KitCase, KitSite
from conftest import read_result, wait_status

from jupyter_compute.backends.base import Backend, Submission
from jupyter_compute.errors import ComputeError, NotFound, NotSupported
from jupyter_compute.models import JobSpec, JobState, LogChunk, RemoteStatus

T = TypeVar("T")

#: How long a job may take to reach the state a test waits for (the machine is shared and slow).
WAIT_S = 180.0
POLL_S = 0.25
#: A remote id and a job id no platform knows.
NO_SUCH_JOB = "kit-no-such-job"
NO_SUCH_RESULT = "kit-no-such-result.csv"

#: Each capability flag → the methods it promises. ``can_list`` promises ``list_jobs`` (the job list of
#: the account, all pages): neither ``status_many`` (every backend answers it; ``batch_status`` says
#: whether it is one request) nor ``recover`` (every platform with anything to look a job up by
#: implements it) is what it promises.
#: ``can_proxy`` promises no method (it concerns ``api_base`` and the server's passthrough).
CAPABILITY_METHODS: dict[str, tuple[str, ...]] = {
    "can_cancel": ("cancel",),
    "can_delete": ("delete",),
    "can_list": ("list_jobs",),
    "has_logs": ("logs",),
    "has_results": ("results", "open_result"),
    "has_environments": ("environments",),
    "has_clusters": ("clusters",),
    "has_webhooks": ("handle_webhook",),
}

#: How each method is called to see it refused (a flag False): NotSupported, whatever the arguments.
UNSUPPORTED_CALLS: dict[str, Callable[[Any], Awaitable[Any]]] = {
    "cancel": lambda b: b.cancel(NO_SUCH_JOB),
    "delete": lambda b: b.delete(NO_SUCH_JOB),
    "list_jobs": lambda b: b.list_jobs(),
    "logs": lambda b: b.logs(NO_SUCH_JOB, 0),
    "results": lambda b: b.results(NO_SUCH_JOB),
    "open_result": lambda b: read_result(b, NO_SUCH_JOB, NO_SUCH_RESULT),
    "environments": lambda b: b.environments(),
    "clusters": lambda b: b.clusters(),
    "handle_webhook": lambda b: b.handle_webhook(NO_SUCH_JOB, {}),
}


# --- what "implements" means ---------------------------------------------------------------------


def implements(cls: type[Backend], name: str) -> bool:
    """Whether ``cls`` implements the method ``name``: it has its own (it overrides Backend's, or Backend
    has none) and that is more than Backend's default spelled again (only ``raise NotSupported(…)``, or
    only ``return None``, after a docstring: a platform that cannot, said in the platform's words)."""
    method = getattr(cls, name, None)
    if method is None or method is getattr(Backend, name, None):
        return False
    return not _restates_default(method)


def _restates_default(method: Callable[..., Any]) -> bool:
    tree = ast.parse(textwrap.dedent(inspect.getsource(method)))
    function = tree.body[0]
    assert isinstance(function, (ast.FunctionDef, ast.AsyncFunctionDef)), function
    body = function.body
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
        body = body[1:]  # the docstring
    if len(body) != 1:
        return False
    statement = body[0]
    if isinstance(statement, ast.Return):
        return statement.value is None or (isinstance(statement.value, ast.Constant) and statement.value.value is None)
    if isinstance(statement, ast.Raise) and isinstance(statement.exc, ast.Call):
        called = statement.exc.func
        return getattr(called, "id", getattr(called, "attr", None)) == NotSupported.__name__
    return False


# --- answers as text, secrets ----------------------------------------------------------------------


def _json_default(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    if hasattr(value, "to_dict"):
        return value.to_dict()
    return str(value)


def as_text(value: Any) -> str:
    """An answer as every way it may be shown: repr, JSON (dataclasses, ``to_dict``), an error's words."""
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    texts = [repr(value)]
    if isinstance(value, BaseException):
        texts.append(str(value))
        if isinstance(value, ComputeError):
            texts.append(json.dumps(value.to_dict(), default=str))
    else:
        texts.append(json.dumps(value, default=_json_default))
    return "\n".join(texts)


def secrets_in(secrets: tuple[str, ...], texts: list[str]) -> list[str]:
    """Each (secret, answer) where an answer carries a secret (any letter case), shown without the secret."""
    found = []
    for text in texts:
        for number, secret in enumerate(secrets):
            if secret.lower() in text.lower():
                found.append(f"secret #{number} in: {text.lower().replace(secret.lower(), '<SECRET>')[:300]}")
    return found


# --- the kit: one started backend per case -------------------------------------------------------


@dataclasses.dataclass
class QuickJob:
    """The case's quick job, submitted once and waited for."""

    job_id: str
    submission: Submission
    final: RemoteStatus

    @property
    def remote_id(self) -> str:
        return self.submission.remote_id


@dataclasses.dataclass
class Kit:
    """A case's backend started against its stand-in, on an event loop of its own."""

    case: KitCase
    backend: Backend
    runner: asyncio.Runner
    workdir: Path
    seen: list[str] = dataclasses.field(default_factory=list)
    long_jobs: list[str] = dataclasses.field(default_factory=list)
    #: Where the answers of the running test begin in ``seen``.
    first_answer: int = 0
    _quick: QuickJob | None = None

    def run(self, body: Callable[[Backend], Awaitable[T]]) -> T:
        """Run an async test body with the backend, on the kit's loop."""
        return self.runner.run(body(self.backend))  # type: ignore[arg-type]

    def keep(self, value: T) -> T:
        """Note an answer (to look for secrets in) and hand it back."""
        self.seen.append(as_text(value))
        return value

    def caught(self, info: pytest.ExceptionInfo[BaseException]) -> None:
        """Note an error the backend raised."""
        self.keep(info.value)

    async def submit(self, spec: JobSpec, job_id: str) -> Submission:
        """As JobService submits: the spec checked in a thread, then sent."""
        checked = self.keep(await asyncio.to_thread(self.backend.validate, spec))
        return self.keep(await self.backend.submit(checked, job_id))

    async def wait(self, remote_id: str, states: set[JobState] | None = None) -> RemoteStatus:
        """Poll the job's status until it is final (or in ``states``, or final)."""
        wanted = None if states is None else {*states, *(s for s in JobState if s.is_terminal)}
        return self.keep(await wait_status(self.backend, remote_id, wanted, timeout=WAIT_S, every=POLL_S))

    def job_id(self, what: str) -> str:
        return f"kit-{what}-{uuid.uuid4().hex[:10]}"

    async def quick_job(self) -> QuickJob:
        """The case's quick job, finished (submitted by the first test that asks)."""
        if self._quick is None:
            job_id = self.job_id("quick")
            submission = await self.submit(self.case.quick(self.workdir), job_id)
            self._quick = QuickJob(job_id, submission, await self.wait(submission.remote_id))
        return self._quick

    async def succeeded_quick_job(self) -> QuickJob:
        job = await self.quick_job()
        assert job.final.state is JobState.SUCCEEDED, f"the quick job did not succeed: {job.final}"
        return job

    async def long_job(self) -> str:
        """A long job, submitted and seen running (or already final): its remote id."""
        assert self.case.long is not None, f"case {self.case.id} has no long spec"
        submission = await self.submit(self.case.long(self.workdir), self.job_id("long"))
        self.long_jobs.append(submission.remote_id)
        running = await self.wait(submission.remote_id, {JobState.RUNNING})
        assert running.state is JobState.RUNNING, f"the long job ended before it could be stopped: {running}"
        return submission.remote_id

    async def stop_long_jobs(self) -> None:
        """Cancel what long jobs may still run (a failed test's), so the stand-in stops quickly."""
        if not self.backend.capabilities.can_cancel:
            return
        for remote_id in self.long_jobs:
            with contextlib.suppress(ComputeError):
                await self.backend.cancel(remote_id)

    def assert_no_secret(self, *, everything: bool = False) -> None:
        """No secret in the answers noted by this test (``everything``: by every test of the case so far)."""
        leaks = secrets_in(self.case.secrets, self.seen if everything else self.seen[self.first_answer:])
        assert not leaks, f"{self.case.id}: {len(leaks)} answers carry a secret:\n" + "\n".join(leaks)


@pytest.fixture(scope="module", params=CASES, ids=[case.id for case in CASES])
def started_kit(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Kit]:
    """The case's backend started against its stand-in, shared by the tests of the case."""
    case: KitCase = request.param
    workdir = tmp_path_factory.mktemp(f"kit-{case.id}")
    with contextlib.ExitStack() as stand_ins, pytest.MonkeyPatch.context() as env, asyncio.Runner() as runner:
        for name, value in case.env.items():
            env.setenv(name, value)
        site = KitSite(workdir, request.getfixturevalue, stand_ins.enter_context)
        started = case.started(site)
        backend = runner.run(started.__aenter__())
        kit = Kit(case, backend, runner, workdir)
        try:
            yield kit
        finally:
            try:
                runner.run(kit.stop_long_jobs())
            finally:
                runner.run(started.__aexit__(None, None, None))


@pytest.fixture
def kit(started_kit: Kit) -> Kit:
    """The case's started kit, noting where this test's answers begin."""
    started_kit.first_answer = len(started_kit.seen)
    return started_kit


def offers(kit: Kit, flag: str) -> bool:
    """Whether the backend's platform can do what ``flag`` promises; where it cannot, its methods must refuse
    with NotSupported (checked here), and the test has nothing more to check."""
    if getattr(kit.backend.capabilities, flag):
        return True

    async def refused(b: Backend) -> None:
        for method in CAPABILITY_METHODS[flag]:
            with pytest.raises(NotSupported):
                await UNSUPPORTED_CALLS[method](b)

    kit.run(refused)
    return False


# --- the contract ---------------------------------------------------------------------------------


def test_a_quick_job_succeeds(kit: Kit) -> None:
    async def body(b: Backend) -> None:
        job = await kit.quick_job()
        assert job.remote_id and isinstance(job.remote_id, str)
        assert isinstance(job.submission.status, RemoteStatus)
        assert job.final.state is JobState.SUCCEEDED, f"{kit.case.id}: the quick job ended {job.final}"
        again = kit.keep(await b.status(job.remote_id))
        assert again.state is JobState.SUCCEEDED, again
        many = kit.keep(await b.status_many([job.remote_id]))
        assert many[job.remote_id].state is JobState.SUCCEEDED, many

    kit.run(body)
    kit.assert_no_secret()


def test_logs_of_a_finished_job_are_read_to_the_end(kit: Kit) -> None:
    if not offers(kit, "has_logs"):
        return

    async def body(b: Backend) -> None:
        job = await kit.succeeded_quick_job()
        chunk: LogChunk = kit.keep(await b.logs(job.remote_id, 0))
        deadline = asyncio.get_running_loop().time() + WAIT_S
        while not chunk.complete:  # a platform may publish a finished job's log a little later
            assert asyncio.get_running_loop().time() < deadline, f"the log never completed: {chunk}"
            await asyncio.sleep(POLL_S)
            chunk = kit.keep(await b.logs(job.remote_id, 0))
        assert isinstance(chunk.text, str) and chunk.text, chunk
        if kit.case.log_line:
            assert kit.case.log_line in chunk.text, chunk
        assert chunk.offset > 0, chunk
        rest: LogChunk = kit.keep(await b.logs(job.remote_id, chunk.offset))
        assert (rest.text, rest.offset, rest.complete) == ("", chunk.offset, True), rest

    kit.run(body)
    kit.assert_no_secret()


def test_results_are_listed_and_streamed(kit: Kit) -> None:
    if not offers(kit, "has_results"):
        return

    async def body(b: Backend) -> None:
        job = await kit.succeeded_quick_job()
        files = kit.keep(await b.results(job.remote_id))
        names = [f.name for f in files]
        assert names and len(set(names)) == len(names), names
        if kit.case.result_name:
            assert kit.case.result_name in names, names
        contents = {f.name: kit.keep(await read_result(b, job.remote_id, f.name)) for f in files}
        assert any(contents.values()), f"every result is empty: {names}"
        wrong_sizes = [(f.name, f.size, len(contents[f.name])) for f in files
                       if f.size is not None and f.size != len(contents[f.name])]  # fmt: skip
        assert not wrong_sizes, f"listed size ≠ bytes streamed (name, size, bytes): {wrong_sizes}"
        with pytest.raises(NotFound) as caught:
            await read_result(b, job.remote_id, NO_SUCH_RESULT)
        kit.caught(caught)

    kit.run(body)
    kit.assert_no_secret()


def test_a_cancelled_job_ends_cancelled(kit: Kit) -> None:
    if not offers(kit, "can_cancel"):
        return

    async def body(b: Backend) -> None:
        remote_id = await kit.long_job()
        await b.cancel(remote_id)
        final = await kit.wait(remote_id)
        assert final.state in kit.case.cancel_ends, f"{kit.case.id}: a cancelled job ended {final}"

    kit.run(body)
    kit.assert_no_secret()


def test_a_deleted_job_is_gone(kit: Kit) -> None:
    if not offers(kit, "can_delete"):
        return

    async def body(b: Backend) -> None:
        submission = await kit.submit(kit.case.quick(kit.workdir), kit.job_id("delete"))
        assert (await kit.wait(submission.remote_id)).state.is_terminal
        await b.delete(submission.remote_id)
        with pytest.raises(NotFound) as caught:
            await b.status(submission.remote_id)
        kit.caught(caught)

    kit.run(body)
    kit.assert_no_secret()


def test_a_running_job_deleted_is_stopped_and_gone(kit: Kit) -> None:
    """Backend.delete: "Remove the job from the platform, stopping it first if it still runs"."""
    if not offers(kit, "can_delete"):
        return

    async def body(b: Backend) -> None:
        remote_id = await kit.long_job()
        await b.delete(remote_id)
        with pytest.raises(NotFound) as caught:
            await b.status(remote_id)
        kit.caught(caught)

    kit.run(body)
    kit.assert_no_secret()


def test_capabilities_are_true_exactly_where_the_methods_are_implemented(kit: Kit) -> None:
    cls, capabilities = type(kit.backend), kit.backend.capabilities
    assert kit.keep(kit.backend.describe())["capabilities"] == capabilities.to_dict()
    wrong: list[str] = []

    async def body(b: Backend) -> None:
        for flag, methods in CAPABILITY_METHODS.items():
            promised = getattr(capabilities, flag)
            for name in methods:
                if implements(cls, name) != promised:
                    wrong.append(f"{flag} is {promised} but {cls.__name__}.{name} is "
                                 f"{'not ' if promised else ''}implemented")  # fmt: skip
                if promised or not hasattr(b, name):
                    continue
                try:
                    answer = await UNSUPPORTED_CALLS[name](b)
                except NotSupported as refused:
                    kit.keep(refused)
                except Exception as other:  # noqa: BLE001 — any other outcome is reported below
                    kit.keep(other)
                    wrong.append(f"{flag} is False but {name} raised {type(other).__name__}: {other}")
                else:
                    wrong.append(f"{flag} is False but {name} answered {kit.keep(answer)!r}")

    kit.run(body)
    assert not wrong, f"{kit.case.id} ({cls.__name__}):\n" + "\n".join(wrong)
    kit.assert_no_secret()


def test_a_lost_submission_answer_is_recovered_by_our_job_id(kit: Kit) -> None:
    async def body(b: Backend) -> None:
        job = await kit.quick_job()
        found = kit.keep(await b.recover(job.job_id))
        if implements(type(b), "recover"):
            assert found == job.remote_id, f"recover({job.job_id!r}) answered {found!r}, not {job.remote_id!r}"
        else:  # the platform keeps nothing of ours to find a job by (said in the backend's recover)
            assert found is None, found
        assert kit.keep(await b.recover(kit.job_id("never-submitted"))) is None

    kit.run(body)
    kit.assert_no_secret()


def test_no_answer_carries_a_secret(kit: Kit) -> None:
    assert kit.case.secrets or kit.case.id == "local", "a remote platform's config holds a secret"
    capabilities = kit.backend.capabilities

    async def body(b: Backend) -> None:
        kit.keep(b.describe())
        kit.keep(b.form().to_dict())
        if capabilities.has_environments:
            kit.keep(await b.environments())
        if capabilities.has_clusters:
            kit.keep(await b.clusters())
        job = await kit.quick_job()
        kit.keep(await b.status(job.remote_id))
        kit.keep(await b.status_many([job.remote_id]))
        if capabilities.has_logs:
            kit.keep(await b.logs(job.remote_id, 0))
        if capabilities.has_results:
            for result in kit.keep(await b.results(job.remote_id)):
                kit.keep(await read_result(b, job.remote_id, result.name))
            with pytest.raises(NotFound) as missing:
                await read_result(b, job.remote_id, NO_SUCH_RESULT)
            kit.caught(missing)
        with pytest.raises(NotFound) as unknown:
            await b.status(NO_SUCH_JOB)
        kit.caught(unknown)
        for flag, methods in CAPABILITY_METHODS.items():
            if not getattr(capabilities, flag):
                for name in methods:
                    if hasattr(b, name):
                        with pytest.raises(NotSupported) as refused:
                            await UNSUPPORTED_CALLS[name](b)
                        kit.caught(refused)

    kit.run(body)
    kit.assert_no_secret(everything=True)
