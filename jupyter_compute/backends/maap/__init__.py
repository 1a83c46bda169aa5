"""The ``maap`` backend: NASA MAAP's DPS (Data Processing System), in two flavours.

``MaapBackend(name, {"url": …, "flavor": "swagger" | "ogc", …})`` answers the flavour's backend:

- :mod:`.swagger` — :class:`MaapSwaggerBackend`, the published "MAAP API - DPS Job Submission"
  (``/api/v1/…``): job definitions, their entries (runs), step callbacks; no cancel.
- :mod:`.ogc` — :class:`MaapOgcBackend`, the OGC API Processes routes MAAP serves today
  (``/api/ogc/…``, ``/api/mas/…``): algorithms by process id on a queue, cancelled by dismissal.

What both share (config keys, the token, HTTP, the search-index lag, reading products) is in
:mod:`.base`; where products live and how their bytes are streamed, in :mod:`.storage`.
"""

from .base import MaapBackend
from .ogc import OGC_MESSAGES, OGC_STATUS, MaapOgcBackend
from .swagger import SWAGGER_STATUS, MaapSwaggerBackend, entry_message, parse_step

__all__ = [
    "OGC_MESSAGES",
    "OGC_STATUS",
    "SWAGGER_STATUS",
    "MaapBackend",
    "MaapOgcBackend",
    "MaapSwaggerBackend",
    "entry_message",
    "parse_step",
]
