"""A trunk that is not on this machine's loopback: the lines must bind an address that can
reach it (a socket bound to 127.0.0.1 cannot send to another host). The rig's carrier and
phones listen on this machine's own network address; the lines pick every interface."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from fangkong.followup.channels.voice.callcontrol import DialStatus
from fangkong.followup.channels.voice.sip.call import SipCall
from fangkong.followup.channels.voice.sip.lines import Lines, SipConfig
from fangkong.followup.channels.voice.sip.prompts import PromptCache
from fangkong.followup.channels.voice.sip.rig import Rig
from tests.sip.conftest import sip_missing


def network_address() -> str:
    """This machine's first IPv4 address that is not loopback ("" without one)."""
    done = subprocess.run(["ip", "-4", "-o", "addr", "show", "scope", "global"],  # noqa: S603,S607
                          capture_output=True, text=True, check=False)
    for line in done.stdout.splitlines():
        fields = line.split()
        if "inet" in fields:
            return fields[fields.index("inet") + 1].split("/")[0]
    return ""


@pytest.fixture(scope="module")
def remote_rig():
    missing = sip_missing()
    if missing:
        pytest.skip(missing)
    address = network_address()
    if not address:
        pytest.skip("this machine has no network address but loopback")
    folder = Path(tempfile.mkdtemp(prefix="fangkong-sip-remote-"))
    rig = Rig(folder / "rig", port=25460, phone_ports=26600, host=address)
    rig.start()
    yield rig, folder
    rig.stop()
    shutil.rmtree(folder, ignore_errors=True)


def test_the_lines_reach_a_trunk_on_another_address_than_loopback(remote_rig):
    rig, folder = remote_rig
    rig.phone("13800000201", keys=[(0.5, "2")])
    config = SipConfig(trunk=rig.trunk, user="02112345", lines=1, port_base=22400,
                       folder=folder / "lines", ring_seconds=5)
    assert config.listen_address() == "0.0.0.0"  # noqa: S104 - what is checked
    assert SipConfig(trunk="127.0.0.1:5060").listen_address() == "127.0.0.1"
    prompts = PromptCache(folder / "prompts")
    lines = Lines(config, silence=prompts.silence())
    lines.start()
    try:
        index = lines.acquire()
        call = SipCall(lines.line(index), prompts, dial_uri=config.dial_uri)
        result = call.dial("13800000201", ring_timeout_s=5)
        call.hangup()
        lines.release(index)
    finally:
        lines.stop()
    assert result.status == DialStatus.ANSWERED
