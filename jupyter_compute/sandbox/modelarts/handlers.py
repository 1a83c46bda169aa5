"""The stand-in's request handlers' common ground: JSON answers, error bodies, and the gateway's checks."""

from __future__ import annotations

import json
import uuid
from typing import TYPE_CHECKING, Any

import tornado.web

from .auth import AUTH_ERROR_CODE, AuthFailure, authenticate
from .jobs import E_BAD_PARAM, ApiError

if TYPE_CHECKING:
    from .server import ModelArtsSandbox

E_PROJECT = "ModelArts.0203"


class Base(tornado.web.RequestHandler):
    sb: ModelArtsSandbox

    def initialize(self, sb: ModelArtsSandbox) -> None:
        self.sb = sb
        self.request_id = uuid.uuid4().hex

    def set_default_headers(self) -> None:
        self.set_header("Content-Type", "application/json;charset=UTF-8")

    def check_xsrf_cookie(self) -> None:  # an API, not a form
        return

    def send(self, status: int, body: Any = None) -> None:
        if body is not None:
            return self.send_encoded(status, json.dumps(body))
        self.set_status(status)
        self.set_header("X-Request-Id", self.request_id)
        self.clear_header("Content-Type")
        self.finish()

    def send_encoded(self, status: int, text: str) -> None:
        """Answer a body already encoded as JSON (a large one is encoded off the loop)."""
        self.set_status(status)
        self.set_header("X-Request-Id", self.request_id)
        self.finish(text)

    def gateway_error(self, status: int, code: str, message: str) -> None:
        self.send(status, {"error_code": code, "error_msg": message, "request_id": self.request_id})

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        exc = kwargs.get("exc_info", (None, None, None))[1]
        if isinstance(exc, ApiError):
            return self.send(exc.status, {"error_code": exc.code, "error_msg": exc.message})
        if status_code == 405:  # the gateway matches method and path together
            return self.gateway_error(404, "APIGW.0101", "The API does not exist or has not been published "
                                                         "in the environment")
        self.send(status_code, {"error_code": "ModelArts.0010", "error_msg": f"Internal service error: {self._reason}"})

    def log_exception(self, typ: Any, value: Any, tb: Any) -> None:
        if not isinstance(value, ApiError):
            super().log_exception(typ, value, tb)

    def json_body(self) -> Any:
        raw = self.request.body or b""
        if not raw.strip():
            return None
        try:
            return json.loads(raw)
        except ValueError as exc:
            raise ApiError(400, E_BAD_PARAM, f"Invalid parameter body: not valid JSON ({exc})") from None


class NoRouteHandler(Base):
    def prepare(self) -> None:
        self.gateway_error(404, "APIGW.0101", "The API does not exist or has not been published in the environment")


class Api(Base):
    """Routes behind the gateway: credentials first, then the project in the path."""

    def prepare(self) -> None:
        req = self.request
        try:
            authenticate(req.method or "GET", req.path, req.query, req.headers, req.body or b"",
                         credentials=self.sb.credentials, tokens=self.sb.tokens)
        except AuthFailure as exc:
            return self.gateway_error(401, AUTH_ERROR_CODE, str(exc))
        project = self.path_args[0] if self.path_args else None
        if project != self.sb.project_id:
            return self.send(403, {"error_code": E_PROJECT, "error_msg": f"Invalid token: the project id {project!r} "
                                                                         "in the URL is not the project of the "
                                                                         "credentials"})
        declared = req.headers.get("X-Project-Id")
        if declared is not None and declared.strip() != project:
            self.send(403, {"error_code": E_PROJECT, "error_msg": f"Invalid token: the X-Project-Id header "
                                                                  f"{declared.strip()!r} is not the project id "
                                                                  f"{project!r} in the URL"})

    def args(self, *names: str) -> dict[str, str | None]:
        return {n: self.get_query_argument(n, None) for n in names}
