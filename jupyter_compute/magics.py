"""IPython magics for compute jobs: ``%load_ext jupyter_compute``.

``%submit_job``/``%%submit_job``, ``%jobs``, ``%job``, ``%job_logs``, ``%job_results``,
``%cancel_job``, ``%job_detail``, ``%job_action`` and ``%compute_connect``. Each one's ``--help``
(and ``%magic?``) is built from its declared arguments. They reach the server only through one
:class:`~jupyter_compute.client.Client`, created on first use (it finds the server by itself;
``%compute_connect`` sets one explicitly).

Every expected failure (a :class:`~jupyter_compute.errors.ComputeError`, a bad argument) prints
one line on stderr, ``<magic>: <what went wrong>``, and nothing is submitted. ``--wait`` shows the
job's state in one line, updated in place until the job ends; a job that failed says so there, in
words.

Ctrl-C never shows a traceback either: it stops the waiting or reading the magic does (a job
it submitted keeps running), with at most one line saying so.

A job id may be given as a unique prefix (8 characters are plenty); without one, the job last
submitted with ``%submit_job`` in this kernel is meant. That job is also kept in the user
namespace as ``_job``.
"""

from __future__ import annotations

import functools
import json
import keyword
import os
import re
import sys
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar, cast

from IPython.core.error import UsageError
from IPython.core.magic import (
    Magics,
    line_cell_magic,
    line_magic,
    magics_class,
    no_var_expand,
)
from IPython.core.magic_arguments import argument, magic_arguments, parse_argstring

from . import results as _results
from .client import Client, Job
from .errors import ComputeError, InvalidSpec, NotFound
from .formatting import (
    elapsed_seconds,
    format_duration,
    format_size,
    format_when,
    one_line,
    program_text,
    state_line,
)
from .magics_line import parse_param, program_fields, split_submit_line, tokens
from .models import JobState, ResultFile
from .widgets.facts import detail_html, detail_text

if TYPE_CHECKING:
    import argparse

    import pandas

__all__ = ["ComputeMagics", "load_ipython_extension", "parse_param", "program_fields", "split_submit_line"]

#: The variable of the user namespace that holds the job last submitted by ``%submit_job``.
LAST_JOB_VAR = "_job"
#: Seconds between two reads of a followed log that brought nothing new.
FOLLOW_POLL_S = 0.5
#: Jobs asked for per page when a prefix is resolved (the server's largest page).
_RESOLVE_PAGE = 1000
_RESOLVE_MAX_PAGES = 100
_FULL_ID = re.compile(r"[0-9a-f]{32}")
_HELP_FLAGS = frozenset({"-h", "--help"})

_F = TypeVar("_F", bound=Callable[..., Any])


# --- errors -----------------------------------------------------------------------------------


def _report(magic: str, error: BaseException | str) -> None:
    """Print an expected failure as one line on stderr."""
    sys.stdout.flush()
    print(f"{magic}: {one_line(error)}", file=sys.stderr, flush=True)


def _expected_errors(func: _F) -> _F:
    """Turn ComputeError and UsageError into one line on stderr (sparkmagic's habit).

    A Ctrl-C that the magic itself does not handle prints ``<magic>: interrupted``, no traceback.
    """
    magic = func.__name__

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except (ComputeError, UsageError) as exc:
            _report(magic, exc)
            return None
        except KeyboardInterrupt:
            _report(magic, "interrupted")
            return None

    return cast(_F, wrapper)


# --- showing jobs -----------------------------------------------------------------------------


def short_id(job_id: str) -> str:
    return job_id[:8]


def jobs_frame(jobs: list[Job]) -> pandas.DataFrame:
    """The jobs as a table: short id (the index), name, backend, state, native status, ..."""
    import pandas as pd

    rows = [
        {
            "id": short_id(job.id),
            "name": job.name,
            "backend": job.backend,
            "state": job.state.value,
            "native status": job.native_status,
            "created": format_when(job.created),
            "elapsed": format_duration(elapsed_seconds(job)),
            "message": job.message,
        }
        for job in jobs
    ]
    columns = ["id", "name", "backend", "state", "native status", "created", "elapsed", "message"]
    return pd.DataFrame(rows, columns=columns).set_index("id")


def results_table(files: list[ResultFile]) -> str:
    """One line per result file: name, size, kind, media type (aligned)."""
    if not files:
        return "  (no results)"
    name_width = max(len(f.name) for f in files)
    sizes = [format_size(f.size) or "?" for f in files]
    size_width = max(len(s) for s in sizes)
    return "\n".join(
        f"  {f.name.ljust(name_width)}  {size.rjust(size_width)}  {f.kind:<6}  {f.media_type or ''}".rstrip()
        for f, size in zip(files, sizes, strict=True)
    )


def job_details(job: Job, files: list[ResultFile]) -> str:
    spec = job.spec
    rows = [
        ("id", job.id),
        ("name", job.name),
        ("backend", job.backend),
        ("state", job.state.value),
        ("native status", job.native_status),
        ("message", one_line(job.message)),
        ("remote id", job.remote_id or ""),
        ("program", program_text(spec)),
        ("environment", spec.environment or ""),
        ("cluster", spec.cluster or ""),
        ("params", ", ".join(f"{k}={json.dumps(v)}" for k, v in spec.params.items())),
        ("tags", ", ".join(job.tags)),
        ("timeout", format_duration(spec.timeout_s) if spec.timeout_s else ""),
        ("created", format_when(job.created)),
        ("started", format_when(job.started)),
        ("finished", format_when(job.finished)),
        ("elapsed", format_duration(elapsed_seconds(job))),
    ]
    width = max(len(label) for label, _ in rows)
    lines = [f"{label.ljust(width)}  {value}".rstrip() for label, value in rows if value]
    lines.append(f"results ({len(files)}):")
    lines.append(results_table(files))
    return "\n".join(lines)


def tabular_result(job: Job, files: list[ResultFile], name: str | None) -> str:
    """The result to load: ``name`` if given, else the job's only tabular output."""
    if name is not None:
        if all(f.name != name for f in files):
            raise NotFound(f"job {short_id(job.id)} has no result '{name}' (its results: {_names(files)})")
        return name
    tables = [f.name for f in files if f.kind == "output" and _results.is_tabular(f.name, f.media_type)]
    if len(tables) == 1:
        return tables[0]
    if tables:
        raise InvalidSpec(
            f"job {short_id(job.id)} has several tabular results ({', '.join(tables)}); "
            "pick one with --name"
        )
    raise NotFound(
        f"job {short_id(job.id)} has no tabular result (its results: {_names(files)}); pick one with --name"
    )


def _names(files: list[ResultFile]) -> str:
    """The files' names for a message: ``a.csv, log.txt`` (``none`` for no file)."""
    return ", ".join(f.name for f in files) or "none"


def _check_variable(name: str | None) -> None:
    if name is not None and (not name.isidentifier() or keyword.iskeyword(name)):
        raise UsageError(f"-o wants a Python variable name, not '{name}'")


# --- the arguments of %submit_job and %compute_connect ----------------------------------------


def _program_of(program: str, cell: str | None) -> dict[str, Any]:
    """The spec field naming what to run: the cell's code (``%%submit_job``), else the line's program.

    A line without a program gives none: some kinds of job run no program of ours (a ModelArts
    service deploys ``extra.model_id``), and the server says so, naming the field, when one was needed.
    """
    if cell is None:
        return program_fields(program) if program else {}
    if program:
        raise UsageError(f"%%submit_job takes only options; the cell is the program (got {program!r})")
    if not cell.strip():
        raise UsageError("the cell is empty: write the Python code to run in it")
    return {"code": cell}


def _submit_spec(args: argparse.Namespace, program: dict[str, Any]) -> dict[str, Any]:
    """The job spec ``%submit_job``'s options and program make: only the fields given."""
    spec = {
        "backend": args.backend,
        "name": args.name,
        "environment": args.env,
        "cluster": args.cluster,
        "params": dict(parse_param(p) for p in args.param),
        "extra": dict(parse_param(x, "--extra") for x in args.extra),
        "tags": args.tag,
        "timeout_s": args.timeout,
        **program,
    }
    return {k: v for k, v in spec.items() if v not in (None, "", [], {})}


def _connect_token(args: argparse.Namespace) -> str | None:
    """The token ``%compute_connect`` was given (typed, or named by ``--token-env``)."""
    if args.token and args.token_env:
        raise UsageError("give --token or --token-env, not both")
    token: str | None = _token_from_env(args.token_env) if args.token_env else args.token
    if token and not args.url:
        raise UsageError(f"{'--token-env' if args.token_env else '--token'} goes with a URL")
    return token


def _token_from_env(variable: str) -> str:
    token = os.environ.get(variable)
    if not token:
        raise UsageError(f"the environment variable {variable} is not set (--token-env)")
    return token


def _backend_names(client: Client) -> list[str]:
    """The names of the server's backends; the client is closed when they cannot be listed."""
    try:
        return [b.get("name", "?") for b in client.backends()]
    except BaseException:
        client.close()
        raise


# --- the magics -------------------------------------------------------------------------------


@magics_class
class ComputeMagics(Magics):
    """Submit, list, watch, stop and read compute jobs through the jupyter-compute server."""

    def __init__(self, shell: Any = None, client: Client | None = None) -> None:
        super().__init__(shell)
        self._client = client
        self._last_job_id: str | None = None

    # the client ---------------------------------------------------------------------------
    @property
    def client(self) -> Client:
        """The client every magic talks through, found on first use."""
        if self._client is None:
            try:
                self._client = Client()
            except ComputeError as exc:
                raise ComputeError(f"{exc}; or run %compute_connect URL --token-env VAR") from None
        return self._client

    def _set_client(self, client: Client) -> None:
        old, self._client = self._client, client
        if old is not None:
            old.close()

    # helpers ------------------------------------------------------------------------------
    def _help_asked(self, func: Callable[..., Any], line: str) -> bool:
        words = {t.value for t in tokens(line)}
        if words & _HELP_FLAGS:
            print(func.parser.format_help())  # type: ignore[attr-defined]
            return True
        return False

    def resolve(self, ref: str | None) -> str:
        """The full id of the job ``ref`` names: a full id, or a unique prefix of one."""
        if ref is None:
            if self._last_job_id is None:
                raise UsageError("give a job id (a unique prefix is enough)")
            return self._last_job_id
        prefix = ref.strip().lower()
        if not prefix:
            raise UsageError("give a job id (a unique prefix is enough)")
        if _FULL_ID.fullmatch(prefix):
            return prefix
        matches = self._ids_starting_with(prefix)
        if not matches:
            raise NotFound(f"no job id starts with '{ref}'")
        if len(matches) > 1:
            raise InvalidSpec(f"'{ref}' matches {len(matches)} jobs; give more of the id")
        return matches.pop()

    def _ids_starting_with(self, prefix: str) -> set[str]:
        """The ids of the jobs the server finds for ``prefix`` that start with it (page by page)."""
        matches: set[str] = set()
        offset = 0
        for _ in range(_RESOLVE_MAX_PAGES):
            page = self.client.jobs(q=prefix, limit=_RESOLVE_PAGE, offset=offset)
            matches.update(job.id for job in page if job.id.lower().startswith(prefix))
            offset += len(page)
            if not page or offset >= page.total:
                break
        return matches

    def _store(self, variable: str, value: Any) -> None:
        assert self.shell is not None, "magics are registered with a shell"
        self.shell.user_ns[variable] = value

    def _load_frame(self, job: Job, name: str | None, variable: str) -> pandas.DataFrame:
        files = self.client.results(job.id)
        chosen = tabular_result(job, files, name)
        frame = self.client.to_pandas(job.id, chosen)
        self._store(variable, frame)
        rows, cols = frame.shape
        print(f"loaded {chosen!r} ({rows} rows × {cols} columns) into {variable}", flush=True)
        return frame

    def _wait(self, job: Job) -> bool:
        """Wait for the job; False when interrupted (the job keeps running).

        Its state line (:func:`~jupyter_compute.formatting.state_line`) is kept up to date in place
        and ends as the one final line: ``... SUCCEEDED (1.2 s)``, or ``... FAILED (1.2 s): <why>``
        for a job that did not succeed (said in words, never a traceback).
        """
        try:
            job.wait(progress=True, raise_on_failure=False)
        except KeyboardInterrupt:
            self._stopped_waiting(job)
            return False
        return True

    @staticmethod
    def _stopped_waiting(job: Job) -> None:
        job_id = short_id(job.id)
        print(
            f"stopped waiting: job {job_id} keeps running (%job_logs {job_id} --follow to watch, "
            f"%cancel_job {job_id} to stop it)",
            file=sys.stderr,
            flush=True,
        )

    def _keep(self, job: Job) -> None:
        """Make ``job`` the last submitted one: the default of the other magics, and ``_job``."""
        self._last_job_id = job.id
        self._store(LAST_JOB_VAR, job)

    def _submit(self, spec: dict[str, Any]) -> Job | None:
        """Submit ``spec``; on Ctrl-C, one line saying whether the job was submitted (then None).

        The submission carries an idempotency key of our own. After an interrupt the same spec
        is sent once more (without retries) with that key: the server answers the job it took for
        that key, so nothing runs twice. (The server has no look-up by key: a request it had not
        received yet is submitted then, once.) That job becomes ``_job``, to watch or cancel.
        """
        client = self.client
        key = uuid.uuid4().hex
        try:
            return client.submit(spec, idempotency_key=key)
        except KeyboardInterrupt:
            pass
        retries, client.retries = client.retries, 0
        try:
            job = client.submit(spec, idempotency_key=key)
        except KeyboardInterrupt:
            _report("submit_job", "interrupted while sending the job: it may have been submitted (see %jobs)")
            return None
        except ComputeError as exc:
            _report("submit_job", f"interrupted; the job was not submitted ({one_line(exc)})")
            return None
        finally:
            client.retries = retries
        self._keep(job)
        job_id = short_id(job.id)
        _report(
            "submit_job",
            f"interrupted, but the server has the job: job {job_id} {job.name!r} on {job.backend}: "
            f"{job.state.value}, kept in {LAST_JOB_VAR} (%cancel_job {job_id} to stop it)",
        )
        return None

    # %submit_job / %%submit_job -----------------------------------------------------------
    @magic_arguments()
    @argument("-h", "--help", action="store_true", help="Show this help.")
    @argument("-b", "--backend", help="Backend to run on (default: local).")
    @argument("-e", "--env", metavar="ENV", help="Environment of the backend (a size, queue or flavor).")
    @argument("-c", "--cluster", help="Cluster or pool of the backend.")
    @argument("-n", "--name", help="Name of the job (default: the program).")
    @argument(
        "-p", "--param", action="append", default=[], metavar="NAME=VALUE",
        help="A parameter; the value is read as JSON when it is (3, true, [1,2]), else as text. "
        "Repeat for several. Commands and scripts see it as $JUPYTER_COMPUTE_PARAM_<NAME>.",
    )  # fmt: skip
    @argument(
        "-x", "--extra", action="append", default=[], metavar="NAME=VALUE",
        help="A platform-specific value, passed to the backend as extra.NAME (ModelArts: "
        "kind=batch-service, model_id=..., workflow_id=...); read as JSON when it is, else as text. "
        "Repeat for several.",
    )  # fmt: skip
    @argument("-t", "--tag", action="append", default=[], metavar="TAG", help="A tag; repeat for several.")
    @argument("--timeout", type=float, metavar="SECONDS", help="Stop the job after this many seconds.")
    @argument("-w", "--wait", action="store_true", help="Wait for the job to finish, showing its state.")
    @argument(
        "-o", "--out", metavar="VAR",
        help="Wait, then load the job's only tabular result into the DataFrame VAR.",
    )  # fmt: skip
    @argument(
        "program", nargs="*",
        help="A shell command, a script.py or a notebook.ipynb, after all options. It is sent "
        "exactly as typed, its own flags included. In the cell form the cell is the Python code to run. "
        "Leave it out for a job that runs none (the server says when one is needed).",
    )  # fmt: skip
    @no_var_expand
    @line_cell_magic
    @_expected_errors
    def submit_job(self, line: str, cell: str | None = None) -> None:
        """Submit a compute job: a shell command, a script.py or a notebook.ipynb.

        %submit_job [options] PROGRAM   runs PROGRAM. Options go before the program (as with
        docker run or ssh): the first word that is not an option starts the program, and the
        rest of the line is its own, flags included (%submit_job --wait python train.py
        --timeout 30 runs train.py with --timeout 30; the job gets no timeout). Everything after
        -- is the program too. %%submit_job [options] runs the cell as Python code.
        Without a program the job is what its options say: a kind of job that runs no program
        (%submit_job -b modelarts -x kind=real-time-service -x model_id=MODEL deploys a model);
        the server refuses it, naming the field, when its kind needs one.
        Prints the job's id and state; the job is kept in the variable _job. $ and {} are not
        expanded: the line goes to the job as typed.
        """
        parser = self.submit_job.parser
        options, program = split_submit_line(parser, line)
        args = parser.parse_args(options)
        if args.help:
            print(parser.format_help())
            return
        _check_variable(args.out)
        job = self._submit(_submit_spec(args, _program_of(program, cell)))
        if job is None:
            return
        self._keep(job)
        if self._announce_and_wait(job, wait=args.wait or bool(args.out)) and args.out:
            self._load_output(job, args.out)

    def _announce_and_wait(self, job: Job, *, wait: bool) -> bool:
        """Say the job was submitted; with ``wait``, wait for it. Whether it has ended (not on Ctrl-C)."""
        try:
            print(f"Submitted job {short_id(job.id)} {job.name!r} on {job.backend}: {job.state.value}", flush=True)
            return wait and self._wait(job)
        except KeyboardInterrupt:
            self._stopped_waiting(job)
            return False

    def _load_output(self, job: Job, variable: str) -> None:
        """Load the ended job's only tabular result into ``variable``; an error if it did not succeed."""
        if job.state is not JobState.SUCCEEDED:
            job_id = short_id(job.id)
            raise ComputeError(
                f"nothing loaded into {variable}: the job did not succeed (%job_logs {job_id} shows its log)"
            )
        self._load_frame(job, None, variable)

    # %jobs --------------------------------------------------------------------------------
    @magic_arguments()
    @argument("-h", "--help", action="store_true", help="Show this help.")
    @argument("-b", "--backend", help="Only jobs of this backend.")
    @argument(
        "-s", "--state", action="append", default=[], metavar="STATE",
        help="Only jobs in this state (QUEUED, RUNNING, SUCCEEDED, FAILED, CANCELLED, TIMED_OUT, "
        "UNKNOWN); repeat for several.",
    )  # fmt: skip
    @argument("-t", "--tag", help="Only jobs with this tag.")
    @argument("-q", "--search", metavar="TEXT", help="Only jobs whose name, id, status or message has TEXT.")
    @argument("-l", "--limit", type=int, default=20, help="How many jobs to show, newest first (default 20).")
    @line_magic
    @_expected_errors
    def jobs(self, line: str) -> None:
        """List recent jobs, newest first: id, name, backend, state, native status, created, elapsed, message."""
        if self._help_asked(self.jobs, line):
            return
        args = parse_argstring(self.jobs, line)
        if args.limit < 1:
            raise UsageError("--limit must be 1 or more")
        page = self.client.jobs(
            backend=args.backend, state=args.state or None, tag=args.tag, q=args.search,
            limit=args.limit,
        )  # fmt: skip
        if not page:
            print("no jobs match" if line.strip() else "no jobs", flush=True)
            return
        if len(page) < page.total:
            print(f"{len(page)} of {page.total} jobs (newest first; --limit shows more)", flush=True)
        else:
            print(f"{page.total} job{'s' if page.total != 1 else ''}", flush=True)
        from IPython.display import display

        display(jobs_frame(list(page)))

    # %job ---------------------------------------------------------------------------------
    @magic_arguments()
    @argument("-h", "--help", action="store_true", help="Show this help.")
    @argument("id", nargs="?", help="The job's id or a unique prefix of it (default: the last submitted).")
    @line_magic
    @_expected_errors
    def job(self, line: str) -> None:
        """Show one job: its fields, and its results with their sizes."""
        if self._help_asked(self.job, line):
            return
        args = parse_argstring(self.job, line)
        job = self.client.job(self.resolve(args.id))
        try:
            files = self.client.results(job.id)
        except ComputeError:
            files = list(job.results)
        print(job_details(job, files), flush=True)

    # %job_logs ----------------------------------------------------------------------------
    @magic_arguments()
    @argument("-h", "--help", action="store_true", help="Show this help.")
    @argument("-f", "--follow", action="store_true", help="Keep printing new lines until the job ends (Ctrl-C stops).")
    @argument("id", nargs="?", help="The job's id or a unique prefix of it (default: the last submitted).")
    @line_magic
    @_expected_errors
    def job_logs(self, line: str) -> None:
        """Print a job's log; with --follow, stream new lines as they are written."""
        if self._help_asked(self.job_logs, line):
            return
        args = parse_argstring(self.job_logs, line)
        job_id = self.resolve(args.id)
        if not args.follow:
            text = self.client.job(job_id).logs()
            print(text, end="" if text.endswith("\n") or not text else "\n", flush=True)
            return
        try:
            for text in self.client.follow_logs(job_id, poll=FOLLOW_POLL_S):
                print(text, end="", flush=True)
        except KeyboardInterrupt:
            return  # stop following, quietly

    # %job_results -------------------------------------------------------------------------
    @magic_arguments()
    @argument("-h", "--help", action="store_true", help="Show this help.")
    @argument("-n", "--name", help="The result to load with -o (default: the only tabular one).")
    @argument("-o", "--out", metavar="VAR", help="Load the result into the DataFrame VAR and show its head.")
    @argument("id", nargs="?", help="The job's id or a unique prefix of it (default: the last submitted).")
    @line_magic
    @_expected_errors
    def job_results(self, line: str) -> None:
        """List a job's results with their sizes; with -o, load one into a DataFrame."""
        if self._help_asked(self.job_results, line):
            return
        args = parse_argstring(self.job_results, line)
        _check_variable(args.out)
        job = self.client.job(self.resolve(args.id))
        files = self.client.results(job.id)
        print(f"{state_line(job)}; results ({len(files)}):", flush=True)
        print(results_table(files), flush=True)
        if args.out:
            frame = self._load_frame(job, args.name, args.out)
            from IPython.display import display

            display(frame.head())
        elif args.name:
            raise UsageError("--name picks the result to load: give -o VAR too")

    # %cancel_job --------------------------------------------------------------------------
    @magic_arguments()
    @argument("-h", "--help", action="store_true", help="Show this help.")
    @argument("id", nargs="?", help="The job's id or a unique prefix of it (default: the last submitted).")
    @line_magic
    @_expected_errors
    def cancel_job(self, line: str) -> None:
        """Stop a job; prints its state after the request."""
        if self._help_asked(self.cancel_job, line):
            return
        args = parse_argstring(self.cancel_job, line)
        job_id = self.resolve(args.id)
        before = self.client.job(job_id)
        if before.is_terminal:
            print(f"{state_line(before)} (it had already ended)", flush=True)
            return
        print(state_line(self.client.cancel(job_id)), flush=True)

    # %job_detail ---------------------------------------------------------------------------
    @magic_arguments()
    @argument("-h", "--help", action="store_true", help="Show this help.")
    @argument("id", nargs="?", help="The job's id or a unique prefix of it (default: the last submitted).")
    @line_magic
    @_expected_errors
    def job_detail(self, line: str) -> None:
        """Show what a job's platform says of it beyond its status (its facts, as a table) and the
        actions it offers now (run one with %job_action)."""
        if self._help_asked(self.job_detail, line):
            return
        args = parse_argstring(self.job_detail, line)
        detail = self.client.job_detail(self.resolve(args.id))
        from IPython.display import display

        display({"text/plain": detail_text(detail), "text/html": detail_html(detail)}, raw=True)

    # %job_action ---------------------------------------------------------------------------
    @magic_arguments()
    @argument("-h", "--help", action="store_true", help="Show this help.")
    @argument(
        "-v", "--value", action="append", default=[], metavar="NAME=VALUE",
        help="A value of the action's form, by field name; read as JSON when it is, else as text. "
        "Repeat for several.",
    )  # fmt: skip
    @argument("id", nargs="?", help="The job's id or a unique prefix of it (default: the last submitted).")
    @argument("action", nargs="?", help="The action to run: one %%job_detail lists for the job.")
    @line_magic
    @_expected_errors
    def job_action(self, line: str) -> None:
        """Run an action a job offers beyond cancel and delete (%job_detail lists them, with the
        values each takes); prints the job's state after it. %job_action ACTION acts on the job last
        submitted."""
        if self._help_asked(self.job_action, line):
            return
        # Split as a shell splits (not as parse_argstring does), so -v "text=two words" is one value.
        args = self.job_action.parser.parse_args([t.value for t in tokens(line)])
        ref, action = (None, args.id) if args.action is None else (args.id, args.action)
        if not action:
            raise UsageError("give the action to run (%job_detail JOB lists them)")
        values = dict(parse_param(v, "--value") for v in args.value)
        print(state_line(self.client.act(self.resolve(ref), action, **values)), flush=True)

    # %compute_connect ---------------------------------------------------------------------
    @magic_arguments()
    @argument("-h", "--help", action="store_true", help="Show this help.")
    @argument(
        "--token-env", metavar="VAR",
        help="Read the server's token from the environment variable VAR (keeps it out of the notebook).",
    )  # fmt: skip
    @argument(
        "--token",
        help="The server's token, typed here: it is saved in the notebook and the input history, "
        "so prefer --token-env (default: the token of a running server at URL).",
    )  # fmt: skip
    @argument("url", nargs="?", help="The Jupyter server's URL with its base_url (default: find it again).")
    @line_magic
    @_expected_errors
    def compute_connect(self, line: str) -> None:
        """Choose the Jupyter server the job magics talk to (they find it by themselves otherwise)."""
        if self._help_asked(self.compute_connect, line):
            return
        args = parse_argstring(self.compute_connect, line)
        token = _connect_token(args)
        client = Client(args.url, token) if args.url else Client()
        names = _backend_names(client)
        self._set_client(client)
        print(f"connected to {client.url} (backends: {', '.join(names) or 'none'})", flush=True)


def load_ipython_extension(ipython: Any) -> None:
    """Register the job magics with ``ipython``."""
    ipython.register_magics(ComputeMagics)
