"""The durable job registry: every job ever submitted, in one SQLite file (WAL mode).

All SQLite work runs on one dedicated worker thread that owns the connection, so the
Jupyter server's event loop never waits on the disk. Times are stored as integer
microseconds since the epoch (UTC): they sort correctly and round-trip exactly. Tags live
both in a JSON column (read with the job) and in the indexed ``job_tags`` table (filtering).
Each job also keeps its summary, the JSON of a job in a list page, rewritten with every change, so that a page
of the job list (:meth:`JobStore.page`) is read as text, without decoding a job on the event loop or off it.
The summaries' shape is numbered (``SUMMARY_FORMAT``, kept in the one-row ``meta`` table): a store opening a
file whose summaries are of another number rewrites them all first; a missing one is built when read.

Creates and updates queued together (concurrent submissions) are written in one transaction, each in a
savepoint of its own, and none is answered before that transaction has committed (see ``SerialWorker``).
"""

from __future__ import annotations

import asyncio
import builtins
import json
import sqlite3
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta, UTC
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

from ..errors import ComputeError, InvalidSpec, NotFound
from ..models import TERMINAL_STATES, Job, JobSpec, JobState, ResultFile, parse_time, utcnow
from . import cursor as cursors
from .serial_worker import SerialWorker

T = TypeVar("T")

BUSY_TIMEOUT_MS = 5000
MAX_LIMIT = 1000
SORT_KEYS = ("created", "updated", "name", "state", "backend", "started", "finished")
SEARCHED_COLUMNS = ("name", "id", "remote_id", "native_status", "message")
ACTIVE_STATES = tuple(state.value for state in JobState if state not in TERMINAL_STATES)

# Migration i takes the database from ``PRAGMA user_version`` i to i + 1.
MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (
        """CREATE TABLE jobs (
            seq INTEGER PRIMARY KEY,        -- stable unique key: tie-breaker of every sort
            id TEXT NOT NULL UNIQUE,
            backend TEXT NOT NULL,
            remote_id TEXT,
            name TEXT NOT NULL DEFAULT '',
            state TEXT NOT NULL,
            native_status TEXT NOT NULL DEFAULT '',
            message TEXT NOT NULL DEFAULT '',
            created INTEGER NOT NULL,       -- microseconds since the epoch, UTC
            updated INTEGER NOT NULL,
            started INTEGER,
            finished INTEGER,
            tags TEXT NOT NULL DEFAULT '[]',
            results TEXT NOT NULL DEFAULT '[]',
            spec TEXT NOT NULL,
            idempotency_key TEXT
        )""",
        "CREATE UNIQUE INDEX jobs_idempotency_key ON jobs (idempotency_key) "
        "WHERE idempotency_key IS NOT NULL",
        "CREATE INDEX jobs_created ON jobs (created)",
        "CREATE INDEX jobs_updated ON jobs (updated)",
        "CREATE INDEX jobs_backend_created ON jobs (backend, created)",
        "CREATE INDEX jobs_state_created ON jobs (state, created)",
        """CREATE TABLE job_tags (
            tag TEXT NOT NULL,
            job_seq INTEGER NOT NULL REFERENCES jobs (seq) ON DELETE CASCADE,
            PRIMARY KEY (tag, job_seq)
        ) WITHOUT ROWID""",
        "CREATE INDEX job_tags_job ON job_tags (job_seq)",
    ),
    (  # Job.to_dict(summary=True) as JSON text, of format meta.summary_format (see _refresh_summaries)
        "ALTER TABLE jobs ADD COLUMN summary TEXT",
    ),
    (
        """CREATE TABLE meta (
            one INTEGER PRIMARY KEY CHECK (one = 1),
            summary_format INTEGER NOT NULL  -- the SUMMARY_FORMAT the summaries were written in
        )""",
        "INSERT INTO meta (one, summary_format) VALUES (1, 0)",
    ),
)
SCHEMA_VERSION = len(MIGRATIONS)
#: The shape of the stored summaries: raise it whenever ``Job.to_dict(summary=True)`` or :func:`_summary`
#: changes what they hold, and every summary is rewritten the next time a store opens the file.
SUMMARY_FORMAT = 1
#: How many summaries are rewritten per statement when a store refreshes them.
_REFRESH_BATCH = 500

_COLUMNS = (
    "id", "backend", "remote_id", "name", "state", "native_status", "message", "created",
    "updated", "started", "finished", "tags", "results", "spec", "idempotency_key",
)
_SELECT = f"SELECT {', '.join(_COLUMNS)} FROM jobs"
_SELECT_FOR_UPDATE = f"SELECT seq, {', '.join(_COLUMNS)} FROM jobs WHERE id = ?"
_COLUMN_AT = {column: i for i, column in enumerate(_COLUMNS)}
_INSERTED = (*_COLUMNS, "summary")
_INSERT = (
    f"INSERT INTO jobs ({', '.join(_INSERTED)}) VALUES ({', '.join('?' * len(_INSERTED))}) "
    "ON CONFLICT DO NOTHING"
)
_INSERT_TAGS = "INSERT INTO job_tags (tag, job_seq) VALUES (?, ?)"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
_STATUS_COLUMNS = frozenset({"state", "native_status", "message", "started", "finished"})


# encoding -------------------------------------------------------------------------------
def _to_us(value: datetime | str | None) -> int | None:
    parsed = parse_time(value)
    return None if parsed is None else (parsed - _EPOCH) // _MICROSECOND


def _at(microseconds: int) -> datetime:
    return _EPOCH + timedelta(microseconds=microseconds)


def _from_us(value: int | None) -> datetime | None:
    return None if value is None else _at(value)


def _json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


def _text(value: str | None) -> str:
    return value or ""


def _state(value: JobState | str) -> str:
    try:
        return JobState(str(value).upper()).value
    except ValueError:
        known = ", ".join(state.value for state in JobState)
        raise InvalidSpec(f"unknown state '{value}' (one of {known})", field="state") from None


def _reopens(current: str, columns: Mapping[str, Any]) -> bool:
    """Whether ``columns`` would make a job in state ``current`` active again after it ended."""
    return current not in ACTIVE_STATES and columns.get("state", current) in ACTIVE_STATES


def _columns(changes: Mapping[str, Any]) -> tuple[dict[str, Any], list[str] | None]:
    """The columns (stamped ``updated``) and tags of an update's ``changes``; TypeError for an unknown field."""
    unknown = set(changes) - UPDATABLE
    if unknown:
        allowed = ", ".join(sorted(UPDATABLE))
        raise TypeError(f"cannot update {', '.join(sorted(unknown))} (only {allowed})")
    columns = {key: _UPDATERS[key](value) for key, value in changes.items()}
    columns["updated"] = _to_us(utcnow())
    return columns, (_tags(changes["tags"]) if "tags" in changes else None)


def _tags(tags: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(tags))


def _results(results: Iterable[ResultFile]) -> str:
    return _json([result.to_dict() for result in results])


_UPDATERS: dict[str, Callable[[Any], Any]] = {
    "remote_id": lambda value: value,
    "state": _state,
    "native_status": _text,
    "message": _text,
    "started": _to_us,
    "finished": _to_us,
    "results": _results,
    "name": _text,
    "tags": lambda tags: _json(_tags(tags)),
}
UPDATABLE = frozenset(_UPDATERS)


def _summary(job: Job) -> str:
    """The job as a list page carries it, as JSON text (its tags once each, as they are kept)."""
    data = job.to_dict(summary=True)
    data["tags"] = _tags(data["tags"])
    return _json(data)


def _job_to_row(job: Job) -> tuple[Any, ...]:
    return (
        job.id, job.backend, job.remote_id, job.name, _state(job.state), job.native_status,
        job.message, _to_us(job.created), _to_us(job.updated), _to_us(job.started),
        _to_us(job.finished), _json(_tags(job.tags)), _results(job.results),
        _json(job.spec.to_dict()), job.idempotency_key, _summary(job),
    )


def _job_from_row(row: Sequence[Any]) -> Job:
    (job_id, backend, remote_id, name, state, native_status, message, created, updated,
     started, finished, tags, results, spec, idempotency_key) = row
    return Job(
        id=job_id, backend=backend, spec=JobSpec.from_known_fields(json.loads(spec)), name=name,
        remote_id=remote_id, state=JobState(state), native_status=native_status,
        message=message, created=_at(created), updated=_at(updated),
        started=_from_us(started), finished=_from_us(finished), tags=json.loads(tags),
        results=[ResultFile.from_dict(r) for r in json.loads(results)],
        idempotency_key=idempotency_key,
    )


# list pages -----------------------------------------------------------------------------
@dataclass(frozen=True)
class PageText:
    """One page of the job list: its jobs as a JSON array (UTF-8), how many match in all, the position of
    its first job, and the cursor of the next page (None on the last)."""

    jobs: bytes
    total: int
    offset: int
    next: str | None


@dataclass(frozen=True)
class _PageQuery:
    """What the worker thread needs to read one page."""

    where: str
    params: builtins.list[Any]
    key: str
    descending: bool
    limit: int
    offset: int
    after: cursors.Cursor | None
    fingerprint: str

    @property
    def order_by(self) -> str:
        direction = "DESC" if self.descending else "ASC"
        return f" ORDER BY {self.key} {direction}, seq {direction}"

    def select(self, columns: str) -> tuple[str, builtins.list[Any]]:
        """The SELECT (and its parameters) of ``columns`` of the page's rows, and of the row after them if any.
        The inner query sorts only the keys (the outer one reads the full rows): unindexed sorts stay light."""
        where, params = self.where, self.params
        if self.after is not None:
            condition, values = cursors.after(self.key, self.descending, self.after)
            where, params = f"{where} AND {condition}" if where else f" WHERE {condition}", [*params, *values]
        sql = (f"SELECT {columns} FROM jobs WHERE seq IN "
               f"(SELECT seq FROM jobs{where}{self.order_by} LIMIT ? OFFSET ?){self.order_by}")
        return sql, [*params, self.limit + 1, self.offset]


def _query_print(sort: str, backend: str | None, state: Any, tag: str | None, q: str | None) -> str:
    states = None if state is None else sorted(_state(s) for s in ([state] if isinstance(state, str) else state))
    return cursors.fingerprint([sort, backend, states, tag, q.strip() if q and q.strip() else None])


def _page_query(
    filters: tuple[str | None, Any, str | None, str | None], sort: str, limit: int, offset: int,
    cursor: str | None = None,
) -> _PageQuery:
    """The checked query of a page: ``filters`` are backend, state, tag and q (see :meth:`JobStore.page`)."""
    key, descending = _sort_key(sort)
    _check_page(limit, offset)
    where, params = _where(*filters)
    query_print = _query_print(sort, *filters)
    after = None
    if cursor is not None:
        if offset:
            raise InvalidSpec("give 'cursor' or 'offset', not both", field="cursor")
        after = cursors.decode(cursor, query_print, key)
    return _PageQuery(where, params, key, descending, limit, offset, after, query_print)


# queries --------------------------------------------------------------------------------
def _sort_key(sort: str) -> tuple[str, bool]:
    """The column and direction (descending?) of ``sort``."""
    descending = sort.startswith("-")
    key = sort[1:] if descending else sort
    if key not in SORT_KEYS:
        keys = ", ".join(SORT_KEYS)
        raise InvalidSpec(f"cannot sort by '{sort}' (one of {keys}, '-' first for descending)",
                          field="sort")
    return key, descending


def _check_page(limit: int, offset: int) -> None:
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_LIMIT:
        raise InvalidSpec(f"'limit' must be an integer from 1 to {MAX_LIMIT}", field="limit")
    if isinstance(offset, bool) or not isinstance(offset, int) or offset < 0:
        raise InvalidSpec("'offset' must be an integer of 0 or more", field="offset")


def _like_pattern(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _where(
    backend: str | None,
    state: JobState | str | Iterable[JobState | str] | None,
    tag: str | None,
    q: str | None,
) -> tuple[str, list[Any]]:
    """The WHERE clause (with its parameters) of the list filters, combined with AND."""
    clauses: list[str] = []
    params: list[Any] = []
    if backend is not None:
        clauses.append("backend = ?")
        params.append(backend)
    if state is not None:
        states = [state] if isinstance(state, str) else list(state)
        clauses.append(f"state IN ({', '.join('?' * len(states))})")
        params.extend(_state(s) for s in states)
    if tag is not None:
        clauses.append("seq IN (SELECT job_seq FROM job_tags WHERE tag = ?)")
        params.append(tag)
    if q and q.strip():
        clauses.append("(" + " OR ".join(f"{c} LIKE ? ESCAPE '\\'" for c in SEARCHED_COLUMNS) + ")")
        params.extend([_like_pattern(q.strip())] * len(SEARCHED_COLUMNS))
    return (" WHERE " + " AND ".join(clauses) if clauses else ""), params


def _prefix_end(prefix: str) -> str | None:
    """The least string greater than every string that starts with ``prefix`` (None: no bound)."""
    stem = prefix.rstrip(chr(0x10FFFF))
    if not stem:
        return None
    following = ord(stem[-1]) + 1
    if 0xD800 <= following <= 0xDFFF:  # surrogates are not characters: skip them
        following = 0xE000
    return stem[:-1] + chr(following)


@contextmanager
def _transaction(conn: sqlite3.Connection, kind: str = "IMMEDIATE", *,
                 one_statement: bool = False) -> Iterator[sqlite3.Connection]:
    """A transaction; inside one already open (a group of writes, see ``JobStore``), a savepoint, so that a
    write that fails undoes only itself. ``one_statement``: the write changes the file with one statement at
    most, which SQLite undoes by itself when it fails: inside a group it needs no savepoint."""
    if conn.in_transaction:
        if one_statement:
            yield conn
            return
        with _savepoint(conn):
            yield conn
        return
    conn.execute(f"BEGIN {kind}")
    try:
        yield conn
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


@contextmanager
def _savepoint(conn: sqlite3.Connection) -> Iterator[None]:
    conn.execute("SAVEPOINT write")
    try:
        yield
    except BaseException:
        conn.execute("ROLLBACK TO write")
        conn.execute("RELEASE write")
        raise
    conn.execute("RELEASE write")


def _migrate(conn: sqlite3.Connection) -> None:
    with _transaction(conn):
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise ComputeError(
                f"the job database has schema version {version}, newer than this "
                f"jupyter-compute understands ({SCHEMA_VERSION}); upgrade jupyter-compute"
            )
        for statements in MIGRATIONS[version:]:
            for statement in statements:
                conn.execute(statement)
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        _refresh_summaries(conn)


def _refresh_summaries(conn: sqlite3.Connection) -> None:
    """Rewrite every job's summary (in the caller's transaction) unless they are of ``SUMMARY_FORMAT``:
    those of another format would be served as they are, in a shape this code no longer writes."""
    if conn.execute("SELECT summary_format FROM meta").fetchone()[0] == SUMMARY_FORMAT:
        return
    last = -1
    while rows := conn.execute(f"SELECT seq, {', '.join(_COLUMNS)} FROM jobs WHERE seq > ? ORDER BY seq LIMIT ?",
                               (last, _REFRESH_BATCH)).fetchall():
        conn.executemany("UPDATE jobs SET summary = ? WHERE seq = ?",
                         [(_summary(_job_from_row(row[1:])), row[0]) for row in rows])
        last = rows[-1][0]
    conn.execute("UPDATE meta SET summary_format = ?", (SUMMARY_FORMAT,))


def _summaries(conn: sqlite3.Connection, rows: Sequence[Sequence[Any]]) -> Iterator[str]:
    """The summaries of page ``rows`` (summary first, seq last); one missing (NULL) is built afresh."""
    for row in rows:
        if row[0] is not None:
            yield row[0]
        else:
            job = _select_one(conn, " WHERE seq = ?", (row[-1],))
            assert job is not None  # read in the page's transaction
            yield _summary(job)


def _insert(conn: sqlite3.Connection, job: Job) -> bool:
    """Insert one job and its tags; False (and nothing written) if its id or key is taken."""
    cursor = conn.execute(_INSERT, _job_to_row(job))
    if cursor.rowcount == 0:
        return False
    if job.tags:
        conn.executemany(_INSERT_TAGS, [(tag, cursor.lastrowid) for tag in _tags(job.tags)])
    return True


def _select(conn: sqlite3.Connection, sql: str, params: Sequence[Any] = ()) -> list[Job]:
    return [_job_from_row(row) for row in conn.execute(_SELECT + sql, params)]


def _select_one(conn: sqlite3.Connection, sql: str, params: Sequence[Any]) -> Job | None:
    row = conn.execute(_SELECT + sql, params).fetchone()
    return None if row is None else _job_from_row(row)


def _count(conn: sqlite3.Connection, where: str, params: Sequence[Any]) -> int:
    return int(conn.execute("SELECT count(*) FROM jobs" + where, params).fetchone()[0])


def _rewrite_summary(conn: sqlite3.Connection, seq: int) -> Job:
    """The job of row ``seq`` as it is now, its summary rewritten to match (after every change)."""
    job = _select_one(conn, " WHERE seq = ?", (seq,))
    assert job is not None
    conn.execute("UPDATE jobs SET summary = ? WHERE seq = ?", (_summary(job), seq))
    return job


def _not_found(job_id: str) -> NotFound:
    return NotFound(f"no job with id '{job_id}'", field="job_id", job_id=job_id)


# the store ------------------------------------------------------------------------------
class JobStore:
    """Every job ever submitted, in a SQLite file; all methods are coroutines.

    Use ``await store.open()`` / ``await store.close()`` or ``async with JobStore(path)``.
    """

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self._worker: SerialWorker | None = None
        self._conn: sqlite3.Connection | None = None

    async def __aenter__(self) -> JobStore:
        await self.open()
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    # lifecycle --------------------------------------------------------------------------
    async def open(self) -> None:
        """Create the file (and its folders) if needed, bring its schema up to date."""
        if self._worker is not None:
            return
        self._worker = SerialWorker("jupyter-compute-store", group=self._group)
        try:
            await self._run(self._connect)
        except BaseException:
            self._worker.shutdown()
            self._worker = None
            raise

    async def close(self) -> None:
        """Close the connection and stop the worker thread (a no-op when not open)."""
        if self._worker is None:
            return
        try:
            await self._run(self._disconnect)
        finally:
            self._worker.shutdown()
            self._worker = None

    # writes -----------------------------------------------------------------------------
    async def create(self, job: Job) -> tuple[Job, bool]:
        """Record a new job: ``(job, True)``, or ``(existing, False)`` if its idempotency key was seen."""
        return await self._run(self._create, job, grouped=True)

    async def bulk_create(self, jobs: Iterable[Job]) -> int:
        """Record many jobs in one transaction (skipping taken ids and keys); the number inserted. ``jobs`` is
        read on the store's thread (a generator of many jobs may take a while)."""
        return await self._run(self._bulk_create, jobs)

    async def update(self, job_id: str, **changes: Any) -> Job:
        """Change some of a job's fields (see ``UPDATABLE``), stamp ``updated``; the new job. A finished job
        stays finished: a status that would make it active again is dropped (see :meth:`reactivate`)."""
        return await self.update_in_turn(job_id, **changes)

    def update_in_turn(self, job_id: str, **changes: Any) -> asyncio.Future[Job]:
        """:meth:`update`, its place among the store's calls taken at once: a call made after this one (a read)
        sees it. The future of the new job."""
        columns, tags = _columns(changes)
        return self._submit(self._update, job_id, columns, tags, grouped=True)

    async def reactivate(self, job_id: str, **changes: Any) -> Job:
        """:meth:`update` that may make a finished job active again, in one transaction (a job an action
        such as "run again" started anew)."""
        columns, tags = _columns(changes)
        return await self._run(self._update, job_id, columns, tags, True)

    async def reopen(self, job_id: str, native_status: str) -> Job | None:
        """Put a FAILED job whose native status is ``native_status`` back to QUEUED ("submitting"), for a
        new try of its submission; None when it is not such a job (e.g. a concurrent retry took it)."""
        return await self._run(self._reopen, job_id, native_status)

    async def delete(self, job_id: str) -> None:
        """Forget a job (NotFound if there is none with that id)."""
        await self._run(self._delete, job_id)

    # reads ------------------------------------------------------------------------------
    async def get(self, job_id: str) -> Job:
        """The job with this exact id, or NotFound."""
        job = await self._run(self._get, job_id)
        if job is None:
            raise _not_found(job_id)
        return job

    async def find(self, prefix: str) -> Job:
        """The job with this id, or the only one whose id starts with ``prefix``."""
        if not prefix:
            raise InvalidSpec("a job id (or the start of one) is needed", field="job_id")
        return await self._run(self._find, prefix)

    async def active(self, backend: str | None = None) -> builtins.list[Job]:
        """Every job not yet in a terminal state (oldest first), optionally of one backend."""
        return await self._run(self._active, backend)

    async def list(
        self,
        *,
        backend: str | None = None,
        state: JobState | str | Iterable[JobState | str] | None = None,
        tag: str | None = None,
        q: str | None = None,
        sort: str = "-created",
        limit: int = 50,
        offset: int = 0,
    ) -> tuple[builtins.list[Job], int]:
        """One page of the jobs matching every filter given, and how many match in all.

        ``state`` may be one state or several (any of them); ``q`` is case-insensitive
        text searched in name, id, remote_id, native_status and message; ``sort`` is one
        of ``SORT_KEYS``, with a leading ``-`` for descending order.
        """
        query = _page_query((backend, state, tag, q), sort, limit, offset)
        return await self._run(self._list, query)

    async def page(
        self,
        *,
        backend: str | None = None,
        state: JobState | str | Iterable[JobState | str] | None = None,
        tag: str | None = None,
        q: str | None = None,
        sort: str = "-created",
        limit: int = 50,
        offset: int = 0,
        cursor: str | None = None,
    ) -> PageText:
        """One page of the job list as JSON text, written on the store's thread: the filters and sort of
        :meth:`list`, from ``offset`` or from ``cursor`` (a page's ``next``, for the same filters and sort)."""
        query = _page_query((backend, state, tag, q), sort, limit, offset, cursor)
        return await self._run(self._page, query)

    async def remote_ids(self, backend: str) -> builtins.set[str]:
        """The platform ids of every job recorded for ``backend`` (finished ones too)."""
        return await self._run(self._remote_ids, backend)

    # worker-thread side -----------------------------------------------------------------
    async def _run(self, function: Callable[..., T], *args: Any, grouped: bool = False) -> T:
        """``function(*args)`` on the store's thread; ``grouped``: a small write that may share one transaction
        (one commit) with the small writes queued beside it."""
        return await self._submit(function, *args, grouped=grouped)

    def _submit(self, function: Callable[..., T], *args: Any, grouped: bool = False) -> asyncio.Future[T]:
        """:meth:`_run`, its place in the order of the store's calls taken now: the future of its outcome."""
        if self._worker is None:
            raise ComputeError("the job store is not open")
        return self._worker.submit(function, *args, grouped=grouped)

    @contextmanager
    def _group(self) -> Iterator[None]:
        with _transaction(self._db):
            yield

    @property
    def _db(self) -> sqlite3.Connection:
        if self._conn is None:
            raise ComputeError("the job store is not open")
        return self._conn

    def _connect(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        try:
            conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = NORMAL")
            conn.execute("PRAGMA foreign_keys = ON")
            _migrate(conn)
        except BaseException:
            conn.close()
            raise
        self._conn = conn

    def _disconnect(self) -> None:
        conn, self._conn = self._db, None
        try:
            conn.execute("PRAGMA optimize")
        finally:
            conn.close()

    def _create(self, job: Job) -> tuple[Job, bool]:
        with _transaction(self._db, one_statement=not job.tags) as conn:
            if _insert(conn, job):
                return job, True
            existing = None
            if job.idempotency_key is not None:
                existing = _select_one(conn, " WHERE idempotency_key = ?", (job.idempotency_key,))
        if existing is None:
            raise ComputeError(f"a job with id '{job.id}' already exists", job_id=job.id)
        return existing, False

    def _bulk_create(self, jobs: Iterable[Job]) -> int:
        with _transaction(self._db) as conn:
            return sum(_insert(conn, job) for job in jobs)

    def _update(self, job_id: str, columns: dict[str, Any], tags: builtins.list[str] | None,
                reactivate: bool = False) -> Job:  # fmt: skip
        with _transaction(self._db, one_statement=tags is None) as conn:
            found = conn.execute(_SELECT_FOR_UPDATE, (job_id,)).fetchone()
            if found is None:
                raise _not_found(job_id)
            seq, row = found[0], list(found[1:])
            if not reactivate and _reopens(row[_COLUMN_AT["state"]], columns):
                # A finished job stays finished: a stale status read before it ended is dropped.
                columns = {k: v for k, v in columns.items() if k not in _STATUS_COLUMNS}
            for column, value in columns.items():  # the row as it will be: its summary is written with it
                row[_COLUMN_AT[column]] = value
            job = _job_from_row(row)
            assignments = "".join(f"{column} = ?, " for column in columns)
            conn.execute(f"UPDATE jobs SET {assignments}summary = ? WHERE seq = ?",
                         [*columns.values(), _summary(job), seq])
            if tags is not None:
                conn.execute("DELETE FROM job_tags WHERE job_seq = ?", (seq,))
                conn.executemany(_INSERT_TAGS, [(tag, seq) for tag in tags])
        return job

    def _reopen(self, job_id: str, native_status: str) -> Job | None:
        with _transaction(self._db) as conn:
            changed = conn.execute(
                "UPDATE jobs SET state = ?, native_status = ?, message = '', finished = NULL, updated = ?"
                " WHERE id = ? AND state = ? AND native_status = ?",
                (JobState.QUEUED.value, "submitting", _to_us(utcnow()), job_id, JobState.FAILED.value, native_status),
            ).rowcount
            if not changed:
                return None
            seq = conn.execute("SELECT seq FROM jobs WHERE id = ?", (job_id,)).fetchone()[0]
            return _rewrite_summary(conn, seq)

    def _delete(self, job_id: str) -> None:
        with _transaction(self._db) as conn:
            if conn.execute("DELETE FROM jobs WHERE id = ?", (job_id,)).rowcount == 0:
                raise _not_found(job_id)

    def _get(self, job_id: str) -> Job | None:
        return _select_one(self._db, " WHERE id = ?", (job_id,))

    def _find(self, prefix: str) -> Job:
        exact = self._get(prefix)
        if exact is not None:
            return exact
        end = _prefix_end(prefix)
        where, params = " WHERE id >= ?", [prefix]
        if end is not None:
            where, params = where + " AND id < ?", [prefix, end]
        matches = _select(self._db, where + " ORDER BY id LIMIT 2", params)
        if not matches:
            raise NotFound(f"no job id starts with '{prefix}'", field="job_id")
        if len(matches) > 1:
            count = self._db.execute("SELECT count(*) FROM jobs" + where, params).fetchone()[0]
            raise InvalidSpec(f"'{prefix}' is the start of {count} job ids; give more of the id",
                              field="job_id")
        return matches[0]

    def _active(self, backend: str | None) -> builtins.list[Job]:
        where, params = _where(backend, ACTIVE_STATES, None, None)
        return _select(self._db, where + " ORDER BY created, seq", params)

    def _list(self, query: _PageQuery) -> tuple[builtins.list[Job], int]:
        sql, params = query.select(", ".join(_COLUMNS))
        with _transaction(self._db, "DEFERRED") as conn:  # one read snapshot for the page and the count
            page = [_job_from_row(row) for row in conn.execute(sql, params).fetchmany(query.limit)]
            total = _count(conn, query.where, query.params)
        return page, total

    def _page(self, query: _PageQuery) -> PageText:
        sql, params = query.select(f"summary, {query.key}, seq")
        with _transaction(self._db, "DEFERRED") as conn:
            rows = conn.execute(sql, params).fetchall()
            total = _count(conn, query.where, query.params)
            text = "[" + ",".join(_summaries(conn, rows[: query.limit])) + "]"
        position = query.offset if query.after is None else query.after.position
        following = None
        if len(rows) > query.limit:
            _, value, seq = rows[query.limit - 1]
            following = cursors.encode(cursors.Cursor(value, seq, position + query.limit), query.fingerprint)
        return PageText(text.encode(), total, position, following)

    def _remote_ids(self, backend: str) -> builtins.set[str]:
        rows = self._db.execute(
            "SELECT remote_id FROM jobs WHERE backend = ? AND remote_id IS NOT NULL AND remote_id != ''", (backend,)
        )
        return {remote_id for (remote_id,) in rows}
