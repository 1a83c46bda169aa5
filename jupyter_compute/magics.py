"""IPython magics for compute jobs: ``%load_ext jupyter_compute``.

``%submit_job``/``%%submit_job``, ``%jobs``, ``%job``, ``%job_logs``, ``%job_results``,
``%cancel_job`` and ``%compute_connect``. Each one's ``--help`` (and ``%magic?``) is built from
its declared arguments. They reach the server only through one :class:`~jupyter_compute.client.Client`,
created on first use (it finds the server by itself; ``%compute_connect`` sets one explicitly).

Every expected failure (a :class:`~jupyter_compute.errors.ComputeError`, a bad argument) prints
one line on stderr, ``<magic>: <what went wrong>``, and nothing is submitted.

A job id may be given as a unique prefix (8 characters are plenty); without one, the job last
submitted with ``%submit_job`` in this kernel is meant. That job is also kept in the user
namespace as ``_job``.
"""

from __future__ import annotations

import functools
import json
import keyword
import math
import re
import shlex
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

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
from .models import JobState, ResultFile, utcnow

if TYPE_CHECKING:
    import argparse

    import pandas

__all__ = ["ComputeMagics", "load_ipython_extension"]

#: The variable of the user namespace that holds the job last submitted by ``%submit_job``.
LAST_JOB_VAR = "_job"
#: Seconds between two reads of a log that is followed.
FOLLOW_POLL_S = 0.5
#: While following a log that brings nothing new, the job's state is checked this often.
FOLLOW_STATE_CHECK_S = 2.0
#: Jobs asked for per page when a prefix is resolved (the server's largest page).
_RESOLVE_PAGE = 1000
_RESOLVE_MAX_PAGES = 100
_FULL_ID = re.compile(r"[0-9a-f]{32}")
_HELP_FLAGS = frozenset({"-h", "--help"})
#: A log chunk this long may have been cut at the server's limit: read on without pausing.
_FULL_CHUNK = 64 * 1024

_F = TypeVar("_F", bound=Callable[..., Any])


# --- errors -----------------------------------------------------------------------------------


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _report(magic: str, error: BaseException) -> None:
    """Print an expected failure as one line on stderr."""
    sys.stdout.flush()
    print(f"{magic}: {_one_line(str(error))}", file=sys.stderr, flush=True)


def _expected_errors(func: _F) -> _F:
    """Turn ComputeError and UsageError into one line on stderr (sparkmagic's habit)."""
    magic = func.__name__

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except (ComputeError, UsageError) as exc:
            _report(magic, exc)
            return None

    return wrapper  # type: ignore[return-value]


# --- splitting a submit line ------------------------------------------------------------------


@dataclass
class _Token:
    start: int
    end: int
    text: str

    @property
    def value(self) -> str:
        """The token with shell quoting removed (as typed if the quotes are unbalanced)."""
        try:
            parts = shlex.split(self.text)
        except ValueError:
            return self.text
        return parts[0] if len(parts) == 1 else self.text


def _tokens(line: str) -> list[_Token]:
    """Shell-like words of ``line`` with their positions; quotes and backslashes keep words whole."""
    tokens: list[_Token] = []
    i, n = 0, len(line)
    while i < n:
        if line[i].isspace():
            i += 1
            continue
        start, quote = i, None
        while i < n:
            char = line[i]
            if quote is not None:
                if char == "\\" and quote == '"' and i + 1 < n:
                    i += 2
                    continue
                if char == quote:
                    quote = None
            elif char in "'\"":
                quote = char
            elif char == "\\" and i + 1 < n:
                i += 2
                continue
            elif char.isspace():
                break
            i += 1
        tokens.append(_Token(start, i, line[start:i]))
    return tokens


def _is_option(word: str) -> bool:
    return word.startswith("-") and len(word) > 1 and not _is_number(word)


def _is_number(word: str) -> bool:
    try:
        float(word)
    except ValueError:
        return False
    return True


def _arity(parser: argparse.ArgumentParser, word: str) -> int | None:
    """How many words option ``word`` takes after it; None if it is no option of ``parser``."""
    if word.startswith("--") and "=" in word:
        name = word.split("=", 1)[0]
        return 0 if name in parser._option_string_actions else None
    action = parser._option_string_actions.get(word)
    if action is None:
        return None
    return 0 if action.nargs == 0 else 1


def _all_long_options(parser: argparse.ArgumentParser, words: list[str]) -> bool:
    """Whether ``words`` are nothing but long options of ``parser`` with their values."""
    i = 0
    while i < len(words):
        if not words[i].startswith("--"):
            return False
        arity = _arity(parser, words[i])
        if arity is None or (arity and i + arity >= len(words)):
            return False
        i += 1 + arity
    return True


def split_submit_line(parser: argparse.ArgumentParser, line: str) -> tuple[list[str], str]:
    """The option words of a ``%submit_job`` line, and its program exactly as typed.

    Options (short or long) come first; long ones may also follow the program. ``--`` ends the
    options: everything after it is the program, even words that look like options.
    """
    tokens = _tokens(line)
    options: list[str] = []
    i, explicit = 0, False
    while i < len(tokens):
        word = tokens[i].value
        if tokens[i].text == "--":
            i, explicit = i + 1, True
            break
        if not _is_option(word):
            break
        arity = _arity(parser, word)
        if arity is None:
            raise UsageError(
                f"unrecognized option '{word}' (see %submit_job --help; put -- before a program "
                "that starts with '-')"
            )
        options.extend(t.value for t in tokens[i : i + 1 + arity])
        i += 1 + arity
    start, end = i, len(tokens)
    if not explicit:
        for j in range(start + 1, len(tokens)):
            words = [t.value for t in tokens[j:]]
            if tokens[j].text.startswith("--") and _all_long_options(parser, words):
                options.extend(words)
                end = j
                break
    program = line[tokens[start].start : tokens[end - 1].end] if start < end else ""
    return options, program


def parse_param(text: str) -> tuple[str, Any]:
    """``name=value``: the value read as JSON when it is (numbers, true/false, lists), else text."""
    name, sep, raw = text.partition("=")
    name = name.strip()
    if not sep:
        raise UsageError(f"parameter '{text}' has no value: write --param name=value")
    if not name:
        raise UsageError(f"parameter '{text}' has no name: write --param name=value")
    try:
        value = json.loads(raw)
    except ValueError:
        return name, raw
    if isinstance(value, float) and not math.isfinite(value):
        return name, raw
    return name, value


def program_fields(program: str, cwd: Path | None = None) -> dict[str, str]:
    """The spec field of a ``%submit_job`` program: a script, a notebook, else a shell command.

    A single word ending in ``.py`` that names an existing file is a script, one ending in
    ``.ipynb`` a notebook (both sent as absolute paths when they exist here); anything else is
    a shell command, sent exactly as typed.
    """
    tokens = _tokens(program)
    if len(tokens) == 1:
        word = tokens[0].value
        path = Path(word).expanduser()
        if not path.is_absolute():
            path = (cwd or Path.cwd()) / path
        if word.endswith(".py") and path.is_file():
            return {"script": str(path.resolve())}
        if word.endswith(".ipynb"):
            return {"notebook": str(path.resolve()) if path.is_file() else word}
    return {"command": program}


# --- showing jobs -----------------------------------------------------------------------------


def short_id(job_id: str) -> str:
    return job_id[:8]


def human_size(size: int | None) -> str:
    if size is None:
        return "?"
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{size} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} B"  # pragma: no cover - the loop always returns


def human_duration(seconds: float | None) -> str:
    if seconds is None:
        return ""
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {secs} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min"


def elapsed_s(job: Job) -> float | None:
    """Seconds the job has run (so far, or in all once it ended); None before it started."""
    start = job.started or (job.created if job.is_terminal else None)
    if start is None:
        return None
    end = job.finished or (None if job.is_terminal else utcnow())
    if end is None:
        return None
    return max(0.0, (end - start).total_seconds())


def local_time(value: datetime | None) -> str:
    return value.astimezone().strftime("%Y-%m-%d %H:%M:%S") if value else ""


def state_line(job: Job) -> str:
    """``job 1a2b3c4d 'name' on local: SUCCEEDED (1.2 s)``, with the message when it did not succeed."""
    line = f"job {short_id(job.id)} {job.name!r} on {job.backend}: {job.state.value}"
    took = elapsed_s(job)
    if job.is_terminal and took is not None:
        line += f" ({human_duration(took)})"
    if job.message and job.is_terminal and job.state is not JobState.SUCCEEDED:
        line += f": {_one_line(job.message)}"
    return line


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
            "created": local_time(job.created),
            "elapsed": human_duration(elapsed_s(job)),
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
    sizes = [human_size(f.size) for f in files]
    size_width = max(len(s) for s in sizes)
    return "\n".join(
        f"  {f.name.ljust(name_width)}  {size.rjust(size_width)}  {f.kind:<6}  {f.media_type or ''}".rstrip()
        for f, size in zip(files, sizes)
    )


def program_text(job: Job) -> str:
    spec = job.spec
    for field in ("command", "script", "notebook", "algorithm"):
        value = getattr(spec, field)
        if value:
            return f"{field}: {value}"
    if spec.code:
        lines = spec.code.strip().splitlines() or [""]
        more = f" (+{len(lines) - 1} lines)" if len(lines) > 1 else ""
        return f"code: {lines[0]}{more}"
    return ""


def job_details(job: Job, files: list[ResultFile]) -> str:
    spec = job.spec
    rows = [
        ("id", job.id),
        ("name", job.name),
        ("backend", job.backend),
        ("state", job.state.value),
        ("native status", job.native_status),
        ("message", _one_line(job.message)),
        ("remote id", job.remote_id or ""),
        ("program", program_text(job)),
        ("environment", spec.environment or ""),
        ("cluster", spec.cluster or ""),
        ("params", ", ".join(f"{k}={json.dumps(v)}" for k, v in spec.params.items())),
        ("tags", ", ".join(job.tags)),
        ("timeout", human_duration(spec.timeout_s) if spec.timeout_s else ""),
        ("created", local_time(job.created)),
        ("started", local_time(job.started)),
        ("finished", local_time(job.finished)),
        ("elapsed", human_duration(elapsed_s(job))),
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
            names = ", ".join(f.name for f in files) or "none"
            raise NotFound(f"job {short_id(job.id)} has no result '{name}' (its results: {names})")
        return name
    tables = [f.name for f in files if f.kind == "output" and _results.is_tabular(f.name, f.media_type)]
    if len(tables) == 1:
        return tables[0]
    if tables:
        raise InvalidSpec(
            f"job {short_id(job.id)} has several tabular results ({', '.join(tables)}); "
            "pick one with --name"
        )
    names = ", ".join(f.name for f in files) or "none"
    raise NotFound(
        f"job {short_id(job.id)} has no tabular result (its results: {names}); pick one with --name"
    )


def _check_variable(name: str | None) -> None:
    if name is not None and (not name.isidentifier() or keyword.iskeyword(name)):
        raise UsageError(f"-o wants a Python variable name, not '{name}'")


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
                raise ComputeError(f"{exc}; or run %compute_connect URL --token TOKEN") from None
        return self._client

    def _set_client(self, client: Client) -> None:
        old, self._client = self._client, client
        if old is not None:
            old.close()

    # helpers ------------------------------------------------------------------------------
    def _help_asked(self, func: Callable[..., Any], line: str) -> bool:
        words = {t.value for t in _tokens(line)}
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
        matches: set[str] = set()
        offset = 0
        for _ in range(_RESOLVE_MAX_PAGES):
            page = self.client.jobs(q=prefix, limit=_RESOLVE_PAGE, offset=offset)
            matches.update(job.id for job in page if job.id.lower().startswith(prefix))
            offset += len(page)
            if not page or offset >= page.total:
                break
        if not matches:
            raise NotFound(f"no job id starts with '{ref}'")
        if len(matches) > 1:
            raise InvalidSpec(f"'{ref}' matches {len(matches)} jobs; give more of the id")
        return matches.pop()

    def _store(self, variable: str, value: Any) -> None:
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
        """Wait for the job with a progress line; False when interrupted (the job keeps running)."""
        try:
            job.wait(progress=True)
        except KeyboardInterrupt:
            job_id = short_id(job.id)
            print(
                f"stopped waiting: job {job_id} keeps running (%job_logs {job_id} --follow to watch, "
                f"%cancel_job {job_id} to stop it)",
                file=sys.stderr,
                flush=True,
            )
            return False
        print(state_line(job), flush=True)
        return True

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
    @argument("-t", "--tag", action="append", default=[], metavar="TAG", help="A tag; repeat for several.")
    @argument("--timeout", type=float, metavar="SECONDS", help="Stop the job after this many seconds.")
    @argument("-w", "--wait", action="store_true", help="Wait for the job to finish, showing its state.")
    @argument(
        "-o", "--out", metavar="VAR",
        help="Wait, then load the job's only tabular result into the DataFrame VAR.",
    )  # fmt: skip
    @argument(
        "program", nargs="*",
        help="A shell command (sent exactly as typed), a script.py or a notebook.ipynb. "
        "In the cell form the cell is the Python code to run.",
    )  # fmt: skip
    @no_var_expand
    @line_cell_magic
    @_expected_errors
    def submit_job(self, line: str, cell: str | None = None) -> None:
        """Submit a compute job: a shell command, a script.py or a notebook.ipynb.

        %submit_job [options] PROGRAM   runs PROGRAM; long options may also follow it, and
        everything after -- is the program. %%submit_job [options] runs the cell as Python code.
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
        params = dict(parse_param(p) for p in args.param)
        if cell is not None:
            if program:
                raise UsageError(f"%%submit_job takes only options; the cell is the program (got {program!r})")
            if not cell.strip():
                raise UsageError("the cell is empty: write the Python code to run in it")
            fields: dict[str, Any] = {"code": cell}
        else:
            if not program:
                raise UsageError(
                    "give a command, a script.py or a notebook.ipynb to run (see %submit_job --help)"
                )
            fields = program_fields(program)
        spec = {
            "backend": args.backend,
            "name": args.name,
            "environment": args.env,
            "cluster": args.cluster,
            "params": params,
            "tags": args.tag,
            "timeout_s": args.timeout,
            **fields,
        }
        job = self.client.submit({k: v for k, v in spec.items() if v not in (None, "", [], {})})
        self._last_job_id = job.id
        self._store(LAST_JOB_VAR, job)
        print(f"Submitted job {short_id(job.id)} {job.name!r} on {job.backend}: {job.state.value}", flush=True)
        if not (args.wait or args.out):
            return
        if not self._wait(job) or not args.out:
            return
        if job.state is not JobState.SUCCEEDED:
            raise ComputeError(f"job {short_id(job.id)} {job.state.value}; nothing loaded into {args.out}")
        self._load_frame(job, None, args.out)

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
            for text in self._follow(job_id):
                print(text, end="", flush=True)
        except KeyboardInterrupt:
            return  # stop following, quietly

    def _follow(self, job_id: str) -> Iterator[str]:
        """The log's new text as it is written, until it is complete (or the job ended)."""
        offset = 0
        ended = False
        last_check = time.monotonic()
        while True:
            chunk = self.client.logs(job_id, offset)
            if chunk.text:
                yield chunk.text
            if chunk.complete or (ended and not chunk.text):
                return
            offset = max(offset, chunk.offset)
            if len(chunk.text) >= _FULL_CHUNK:
                continue  # a chunk has a size limit: more is waiting already
            if not chunk.text and time.monotonic() - last_check >= FOLLOW_STATE_CHECK_S:
                # A backend whose log never says "complete": stop once the job ended and all is read.
                ended = self.client.job(job_id).is_terminal
                last_check = time.monotonic()
                if ended:
                    continue
            time.sleep(FOLLOW_POLL_S)

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

    # %compute_connect ---------------------------------------------------------------------
    @magic_arguments()
    @argument("-h", "--help", action="store_true", help="Show this help.")
    @argument("--token", help="The server's token (default: the one of a running server at URL).")
    @argument("url", nargs="?", help="The Jupyter server's URL with its base_url (default: find it again).")
    @line_magic
    @_expected_errors
    def compute_connect(self, line: str) -> None:
        """Choose the Jupyter server the job magics talk to (they find it by themselves otherwise)."""
        if self._help_asked(self.compute_connect, line):
            return
        args = parse_argstring(self.compute_connect, line)
        if args.token and not args.url:
            raise UsageError("--token goes with a URL")
        client = Client(args.url, args.token) if args.url else Client()
        try:
            names = [b.get("name", "?") for b in client.backends()]
        except BaseException:
            client.close()
            raise
        self._set_client(client)
        print(f"connected to {client.url} (backends: {', '.join(names) or 'none'})", flush=True)


def load_ipython_extension(ipython: Any) -> None:
    """Register the job magics with ``ipython``."""
    ipython.register_magics(ComputeMagics)
