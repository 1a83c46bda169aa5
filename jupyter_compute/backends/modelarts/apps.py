"""App authentication of deployed ModelArts APIs, as people may see it: the apps allowed to call a
service's API, each with its ``app_secret`` masked. The platform's app answers carry the secret in clear;
only the fields named here ever leave this module."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

#: What a masked secret shows.
MASK = "••••••••"
#: App fields shown as they are (``app_secret`` and ``app_codes`` never are).
SHOWN_APP_FIELDS = ("app_id", "app_name", "app_type", "app_remark")
#: API fields shown as they are.
SHOWN_API_FIELDS = ("api_id", "api_name", "api_method", "auth_type", "predict_url", "support_app_code")


def masked_key(value: Any) -> str:
    """An app key cut to its first four characters (enough to tell apps apart)."""
    text = value if isinstance(value, str) else ""
    return f"{text[:4]}{MASK}" if text else ""


def masked_app(app: Mapping[str, Any]) -> dict[str, Any]:
    """The app with its key cut and its secret masked."""
    shown = {name: app[name] for name in SHOWN_APP_FIELDS if name in app}
    shown["app_key"] = masked_key(app.get("app_key"))
    shown["app_secret"] = MASK
    return shown


def shown_api(api: Mapping[str, Any]) -> dict[str, Any]:
    return {name: api[name] for name in SHOWN_API_FIELDS if name in api}
