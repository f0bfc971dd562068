from __future__ import annotations

import logging

from fangkong.lib.logs import DropQueryString, uvicorn_log_config


def test_access_log_keeps_the_path_and_drops_the_query():
    record = logging.LogRecord("uvicorn.access", logging.INFO, __file__, 1,
                               '%s - "%s %s HTTP/%s" %d',
                               ("127.0.0.1:5000", "GET", "/residents/?q=13812345678", "1.1", 200),
                               None)
    assert DropQueryString().filter(record)
    assert "13812345678" not in record.getMessage()
    assert "/residents/?…" in record.getMessage()


def test_uvicorn_access_handler_uses_the_filter():
    config = uvicorn_log_config()
    assert "drop_query" in config["handlers"]["access"]["filters"]
