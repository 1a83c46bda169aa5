"""The ``modelarts`` backend: Huawei Cloud ModelArts (see :mod:`.backend` for its config and behaviour).

One module per job kind (:mod:`.training`) beside the shared parts: :mod:`.auth` (tokens and AK/SK
signatures), :mod:`.storage` (OBS), :mod:`.capacity` (clusters, pools, flavors) and
:mod:`.json_fields` (reading the platform's JSON defensively).
"""

from .backend import ModelArtsBackend

__all__ = ["ModelArtsBackend"]
