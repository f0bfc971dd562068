"""Logging that never writes personal data: query strings carry searches by full phone or
ID number (`/residents/?q=13812345678`), so access logs keep only the path."""

from __future__ import annotations

import copy
import logging
from typing import Any


class DropQueryString(logging.Filter):
    """For uvicorn's access log: `GET /residents/?q=...` is logged as `/residents/?…`."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) >= 3 and isinstance(args[2], str):
            path, sep, _query = args[2].partition("?")
            record.args = (*args[:2], path + ("?…" if sep else ""), *args[3:])
        return True


def uvicorn_log_config() -> dict[str, Any]:
    from uvicorn.config import LOGGING_CONFIG

    config = copy.deepcopy(LOGGING_CONFIG)
    config.setdefault("filters", {})["drop_query"] = {"()": DropQueryString}
    config["handlers"]["access"]["filters"] = ["drop_query"]
    return config
