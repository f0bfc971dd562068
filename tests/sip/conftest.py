"""The SIP test rig: Kamailio as the carrier and baresip phones on 127.0.0.1 (see
fangkong/followup/channels/voice/sip/rig.py). `.ci/run` installs the Debian packages;
without them these tests are skipped, unless FANGKONG_REQUIRE_SIP=1 (as in CI)."""

from __future__ import annotations

import os
import shutil

import pytest

NEEDED = ("baresip", "jackd", "kamailio", "espeak-ng", "sox")


def sip_missing() -> str:
    missing = [tool for tool in NEEDED if shutil.which(tool) is None]
    if not missing:
        return ""
    message = (f"SIP rig needs {', '.join(missing)} (apt-get install baresip-core jackd2 "
               "kamailio espeak-ng sox)")
    if os.environ.get("FANGKONG_REQUIRE_SIP") == "1":
        pytest.fail(message)
    return message
