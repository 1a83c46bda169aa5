"""A Jupyter server extension for test_bench_pages.py: the floor of a JSON answer in the same server.

``GET {base_url}bench-floor?size=N`` answers a JSON object of N bytes (made once per size) from a bare
``APIHandler`` behind Jupyter's authentication: what any answer of that size costs, with no work of ours.
"""

from __future__ import annotations

import functools
import json
from typing import Any

from jupyter_server.base.handlers import APIHandler
from jupyter_server.utils import url_path_join
from tornado import web


@functools.lru_cache(maxsize=64)
def body(size: int) -> bytes:
    """A JSON object of ``size`` bytes (at least its smallest)."""
    empty = json.dumps({"pad": ""}).encode()
    return json.dumps({"pad": "x" * max(0, size - len(empty))}).encode()


class FloorHandler(APIHandler):
    @web.authenticated
    async def get(self) -> None:
        self.finish(body(int(self.get_query_argument("size", "16"))), set_content_type="application/json")


def _jupyter_server_extension_points() -> list[dict[str, str]]:
    return [{"module": "pages_floor"}]


def _load_jupyter_server_extension(serverapp: Any) -> None:
    base_url = serverapp.web_app.settings["base_url"]
    serverapp.web_app.add_handlers(".*$", [(url_path_join(base_url, "bench-floor"), FloorHandler)])
