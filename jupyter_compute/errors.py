"""One exception tree for every part of jupyter-compute.

Catch :class:`ComputeError` to catch them all. Each error knows the HTTP status the
REST API answers with and serialises to ``{"error": {"type", "message", "field"?, "backend"?}}``.

In IPython (a notebook's kernel, the terminal) every one of them shows as one line,
``<Type>: <message>``, instead of a traceback through our internals: the message names the cause
and, where there is one, the fix. ``%xmode Verbose`` brings the full traceback back. Other
exceptions are shown as IPython always shows them.
"""

from __future__ import annotations

import sys
from typing import Any


class ComputeError(Exception):
    """Base of every error raised by jupyter-compute."""

    http_status: int = 500

    def __init__(
        self,
        message: str,
        *,
        field: str | None = None,
        backend: str | None = None,
        job_id: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        self.backend = backend
        self.job_id = job_id

    def to_dict(self) -> dict[str, Any]:
        """The body of the REST API's error answer."""
        error: dict[str, Any] = {"type": type(self).__name__, "message": self.message}
        for key in ("field", "backend", "job_id"):
            value = getattr(self, key)
            if value is not None:
                error[key] = value
        return {"error": error}

    def __str__(self) -> str:
        where = f" (field '{self.field}')" if self.field else ""
        return f"{self.message}{where}"

    def _render_traceback_(self) -> list[str]:
        """What IPython shows for this error: one line, ``<Type>: <message>``, no frames.

        IPython calls this instead of formatting a traceback (for exceptions that have it); after
        ``%xmode Verbose`` the full traceback is shown, as for any other exception.
        """
        line = f"{type(self).__name__}: {' '.join(str(self).split())}"
        ipython = sys.modules.get("IPython")
        try:
            shell = ipython.get_ipython() if ipython is not None else None
            formatter = getattr(shell, "InteractiveTB", None)
            if formatter is not None and getattr(formatter, "mode", "") == "Verbose":
                return list(formatter.structured_traceback(type(self), self, self.__traceback__))
        except Exception:  # noqa: BLE001 — never fail while showing an error: one line will do
            pass
        return [line]


class InvalidSpec(ComputeError):
    """The request or job spec is malformed; ``field`` names the culprit."""

    http_status = 400


class PayloadTooLarge(InvalidSpec):
    """The request body is larger than the server takes; large data belongs in an upload."""

    http_status = 413


class NotFound(ComputeError):
    """No such backend, job, environment or result."""

    http_status = 404


class NotSupported(ComputeError):
    """The backend's platform cannot do this (see its capability flags)."""

    http_status = 405


class AuthError(ComputeError):
    """The platform refused our credentials (missing, wrong or expired)."""

    http_status = 403


class BackendError(ComputeError):
    """The platform failed or answered with an error; its own message is kept.

    ``status``: the platform's HTTP status, when it answered. ``uncertain``: the platform may have acted
    on the request though it said no (no answer came after it was sent, or a 5xx to a write).
    ``reached``: False when the request certainly never reached the platform (no connection).
    """

    http_status = 502

    def __init__(self, message: str, *, status: int | None = None, uncertain: bool = False, reached: bool = True,
                 **kwargs: Any) -> None:  # fmt: skip
        super().__init__(message, **kwargs)
        self.status = status
        self.uncertain = uncertain
        self.reached = reached

    @property
    def may_have_acted(self) -> bool:
        """Whether the platform may have done what was asked (no answer after sending, or a 5xx to it)."""
        return self.uncertain


class Unavailable(ComputeError):
    """A configured backend cannot work (e.g. its credential is not set); the message says what to do."""

    http_status = 503


class WaitTimeout(ComputeError, TimeoutError):
    """A job did not reach a terminal state within the time given to ``wait``."""

    http_status = 408


class JobFailed(ComputeError):
    """``Job.wait()``: the job ended without succeeding (FAILED, CANCELLED or TIMED_OUT).

    ``job`` is the job as it ended (its ``logs()`` and ``results()`` still answer), ``state`` its
    :class:`~jupyter_compute.models.JobState` and ``reason`` the job's own message (why it ended, in
    words; may be empty). ``wait(raise_on_failure=False)`` answers the job instead of raising.
    Raised by the client only: no REST answer carries it.
    """

    def __init__(self, message: str, *, job: Any = None, **kwargs: Any) -> None:
        kwargs.setdefault("job_id", getattr(job, "id", None))
        kwargs.setdefault("backend", getattr(job, "backend", None))
        super().__init__(message, **kwargs)
        self.job = job
        self.state = getattr(job, "state", None)
        self.reason: str = getattr(job, "message", "") or ""


def public_reason(exc: BaseException, what: str) -> str:
    """An error worded for users and event subscribers, never quoting configuration: our own errors'
    messages pass; anything else is named by its type only, e.g. ``submission failed (ValueError)``."""
    if isinstance(exc, ComputeError):
        return exc.message
    return f"{what} ({type(exc).__name__})"


ERROR_TYPES: dict[str, type[ComputeError]] = {
    cls.__name__: cls
    for cls in (ComputeError, InvalidSpec, PayloadTooLarge, NotFound, NotSupported, AuthError, BackendError,
                Unavailable, WaitTimeout)
}


def error_from_dict(body: Any, http_status: int) -> ComputeError:
    """Rebuild the error the server raised from its JSON error body (used by the client)."""
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        return ComputeError(f"HTTP {http_status}: {str(body)[:500]}")
    cls = ERROR_TYPES.get(str(error.get("type")), ComputeError)
    return cls(
        str(error.get("message", f"HTTP {http_status}")),
        field=error.get("field"),
        backend=error.get("backend"),
        job_id=error.get("job_id"),
    )
