"""Loaded by pytest before Django (`-p tests.environment` in pyproject.toml): a fixed data
key and a scratch var/ folder per run, so that tests never touch a developer's var/ or
key, and two runs at once do not share a SQLite test database."""

from __future__ import annotations

import atexit
import base64
import os
import shutil
import tempfile

os.environ.setdefault("FANGKONG_DATA_KEY", base64.urlsafe_b64encode(b"k" * 32).decode())
os.environ.setdefault("FANGKONG_SECRET_KEY", "test-only-secret-key-not-for-production-use")
# The simulated carrier stands in for the outside world on both databases.
os.environ.setdefault("FANGKONG_SIMULATE_CHANNELS", "1")
if "FANGKONG_VAR_DIR" not in os.environ:
    os.environ["FANGKONG_VAR_DIR"] = tempfile.mkdtemp(prefix="fangkong-test-")
    atexit.register(shutil.rmtree, os.environ["FANGKONG_VAR_DIR"], True)
