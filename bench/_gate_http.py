"""The server and the load of `fangkong bench gate` (bench/gate.py), in processes of
their own:

- `serving`: `fangkong serve --workers W --no-worker --no-migrate` on a free port of
  127.0.0.1, optionally with another `FANGKONG_MAX_IN_FLIGHT`;
- `WrkLoad`: a closed loop with wrk (one thread), its Lua script sending gate scans;
- `PythonLoad`: this module's asyncio client (`python -m bench._gate_http --client`),
  closed loop or open loop (requests sent at scheduled times, latency counted from
  them).

Both send a scan as a device does: a random (device token, pass code) line of the scans
file, in or out, 36.0-37.2 °C, a unique `client_id`; or a GET of the floor's path.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

from bench.common import percentile, say

FLOOR_PATH = "/healthz"


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench._gate_http")
    parser.add_argument("--client", help="JSON configuration of one load phase")
    args = parser.parse_args(argv)
    if args.client:
        return client_main(args.client)
    parser.error("--client")
    return 2


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class serving:  # noqa: N801 - used as `with serving(...) as port`
    """`fangkong serve --workers W --no-worker --no-migrate` on a free port of 127.0.0.1
    with this process's (scratch) environment, until the block ends; with `in_flight`,
    that many requests at a time inside Django per process (FANGKONG_MAX_IN_FLIGHT)
    instead of the default."""

    def __init__(self, workers: int, work: Path, in_flight: int) -> None:
        self.workers, self.log, self.in_flight = workers, work / "server.log", in_flight

    def __enter__(self) -> serving:
        port = _free_port()
        command = [sys.executable, "-m", "fangkong.cli", "serve", "--host", "127.0.0.1",
                   "--port", str(port), "--workers", str(self.workers), "--no-migrate",
                   "--no-worker"]
        env = os.environ.copy()
        if self.in_flight:
            env["FANGKONG_MAX_IN_FLIGHT"] = str(self.in_flight)
        self.log_file = self.log.open("wb")
        self.server = subprocess.Popen(command, env=env,  # noqa: S603
                                       stdout=self.log_file, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 90
        while not _answers(port):
            if time.monotonic() > deadline or self.server.poll() is not None:
                self.__exit__()
                tail = self.log.read_text(errors="replace")[-2000:]
                raise RuntimeError(f"the server did not start:\n{tail}")
            time.sleep(0.2)
        self.port = port
        limit = self.in_flight or "the default"
        say(f"[gate] fangkong serve on 127.0.0.1:{port}, {self.workers} process(es), "
            f"{limit} requests in Django at a time each")
        return self

    def errors(self) -> dict[str, int]:
        """The server's distinct error lines so far, with their counts (the last 5)."""
        self.log_file.flush()
        counts: dict[str, int] = {}
        for line in self.log.read_text(errors="replace").splitlines():
            if re.match(r"^\w+(\.\w+)*(Error|Exception): ", line):
                counts[line[:200]] = counts.get(line[:200], 0) + 1
        return dict(list(counts.items())[-5:])

    def __exit__(self, *exc: object) -> None:
        self.server.terminate()
        try:
            self.server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.server.kill()
            self.server.wait()
        self.log_file.close()


def _answers(port: int, within: float = 2.0) -> bool:
    import http.client

    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=within)
        conn.request("GET", FLOOR_PATH)
        ok = conn.getresponse().status == 200
        conn.close()
        return ok
    except OSError:
        return False


def settle(port: int) -> None:
    """Wait until the server has worked off the requests of the last phase (a load tool
    that stops leaves its last requests queued): three answers in a row within 50 ms,
    or two minutes."""
    deadline = time.monotonic() + 120
    quick = 0
    while quick < 3:
        if time.monotonic() > deadline:
            say("[gate] the server is still busy after 2 minutes; measuring anyway")
            return
        started = time.perf_counter()
        answered = _answers(port, within=10.0)
        quick = quick + 1 if answered and time.perf_counter() - started < 0.05 else 0
        time.sleep(0.05)



# Load tools --------------------------------------------------------------------------

WRK_SCRIPT = r"""
local counter, scans, prefix = 0, nil, "x"
local made = 0

function setup(thread)
  made = made + 1
  thread:set("tid", made)
end

function init(args)
  prefix = args[2] or "x"
  if args[1] and args[1] ~= "" then
    scans = {}
    for line in io.lines(args[1]) do
      local token, code = line:match("^(%S+) (%S+)$")
      scans[#scans + 1] = {token, code}
    end
  end
  math.randomseed(os.time() * 1000 + (tid or 0))
end

function request()
  if not scans then
    return wrk.format("GET")
  end
  counter = counter + 1
  local s = scans[math.random(#scans)]
  local direction = (math.random(2) == 1) and "in" or "out"
  local body = string.format(
    '{"code":"%s","direction":"%s","temperature":%.1f,"client_id":"%s-%d-%d"}',
    s[2], direction, 36.0 + math.random(0, 12) / 10, prefix, tid or 0, counter)
  return wrk.format("POST", nil, {["Authorization"] = "Bearer " .. s[1],
                                   ["Content-Type"] = "application/json"}, body)
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRKJSON {"requests":%d,"duration_us":%d,"connect":%d,"read":%d,"write":%d,' ..
    '"status":%d,"timeout":%d,"p50_us":%d,"p95_us":%d,"p99_us":%d,"max_us":%d}\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(95), latency:percentile(99), latency.max))
end
"""


class WrkLoad:
    """Closed loop with wrk: one thread, `connections` keep-alive connections."""

    def __init__(self, port: int, work: Path, args: argparse.Namespace) -> None:
        self.port, self.args = port, args
        self.script = work / "gate.lua"
        self.script.write_text(WRK_SCRIPT)

    def run(self, phase: str, path: str, scans_file: Path | None, seconds: float) -> dict:
        settle(self.port)
        command = ["wrk", "-t1", f"-c{self.args.connections}", f"-d{max(1, round(seconds))}s",
                   "--timeout", "10s", "--latency", "-s", str(self.script),
                   f"http://127.0.0.1:{self.port}{path}", "--",
                   str(scans_file or ""), f"{phase}{os.getpid()}"]
        out = subprocess.run(command, capture_output=True, text=True, check=True).stdout  # noqa: S603
        match = re.search(r"^WRKJSON (\{.*\})$", out, re.MULTILINE)
        if match is None:
            raise RuntimeError(f"no summary from wrk:\n{out}")
        raw = json.loads(match.group(1))
        kinds = {k: raw[k] for k in ("connect", "read", "write", "timeout", "status")}
        seconds_run = raw["duration_us"] / 1e6
        return {"requests": raw["requests"], "rps": raw["requests"] / seconds_run,
                "p50_ms": raw["p50_us"] / 1000, "p95_ms": raw["p95_us"] / 1000,
                "p99_ms": raw["p99_us"] / 1000, "errors": sum(kinds.values()),
                "error_kinds": {k: v for k, v in kinds.items() if v}}


class PythonLoad:
    """This module's asyncio client in a separate process (`--client`)."""

    def __init__(self, port: int, args: argparse.Namespace) -> None:
        self.port, self.args = port, args

    def run(self, phase: str, path: str, scans_file: Path | None, seconds: float,
            rate: float | None = None, connections: int | None = None) -> dict:
        settle(self.port)
        config = {"port": self.port, "path": path, "scans": str(scans_file or ""),
                  "connections": connections or self.args.connections, "seconds": seconds, "rate": rate,
                  "prefix": f"{phase}{os.getpid()}"}
        out = subprocess.run([sys.executable, "-m", "bench._gate_http", "--client",  # noqa: S603
                              json.dumps(config)], capture_output=True, text=True,
                             check=True).stdout
        return json.loads(out.strip().splitlines()[-1])


# The asyncio client (a process of its own) -------------------------------------------------


def client_main(config_json: str) -> int:
    config = json.loads(config_json)
    result = asyncio.run(_client(config))
    print(json.dumps(result), flush=True)
    return 0


class _Requests:
    """The bytes of the next request: GET of the floor, or a scan like the wrk script's."""

    def __init__(self, config: dict) -> None:
        self.path, self.prefix = config["path"], config["prefix"]
        self.host = f"127.0.0.1:{config['port']}"
        self.rng = random.Random()
        self.counter = 0
        self.scans = ([tuple(line.split(" ", 1)) for line in
                       Path(config["scans"]).read_text().splitlines()]
                      if config["scans"] else None)

    def next(self) -> bytes:
        if self.scans is None:
            return (f"GET {self.path} HTTP/1.1\r\nHost: {self.host}\r\n\r\n").encode()
        self.counter += 1
        token, code = self.rng.choice(self.scans)
        body = json.dumps({"code": code, "direction": self.rng.choice(("in", "out")),
                           "temperature": 36.0 + self.rng.randint(0, 12) / 10,
                           "client_id": f"{self.prefix}-{self.counter}"}).encode()
        head = (f"POST {self.path} HTTP/1.1\r\nHost: {self.host}\r\n"
                f"Authorization: Bearer {token}\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(body)}\r\n\r\n")
        return head.encode() + body


async def _exchange(reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                    request: bytes) -> int:
    """Send one request and read its whole answer; the status code."""
    writer.write(request)
    await writer.drain()
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length = re.search(rb"\r\ncontent-length:\s*(\d+)", head, re.IGNORECASE)
    if length:
        await reader.readexactly(int(length.group(1)))
    elif re.search(rb"\r\ntransfer-encoding:\s*chunked", head, re.IGNORECASE):
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            await reader.readexactly(size + 2)
            if size == 0:
                break
    return status


async def _client(config: dict) -> dict:
    """Closed loop (no `rate`): each connection sends as soon as it is answered. Open
    loop (`rate` requests/s in all): connection k sends at start + k/rate + n *
    connections/rate, and a request's latency counts from its scheduled time."""
    loop = asyncio.get_running_loop()
    port, connections, seconds = config["port"], config["connections"], config["seconds"]
    rate = config["rate"]
    requests = _Requests(config)
    samples: list[float] = []
    kinds = {"connect": 0, "read": 0, "timeout": 0, "status": 0}
    warm = 1.0 if rate else 0.0  # open loop: the first second is not counted

    async def connect() -> tuple[asyncio.StreamReader, asyncio.StreamWriter] | None:
        try:
            return await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            kinds["connect"] += 1
            return None

    streams = await asyncio.gather(*(connect() for _ in range(connections)))
    start = loop.time() + 0.2
    end = start + warm + seconds

    async def one(k: int) -> None:
        stream = streams[k]
        scheduled = start + k / rate if rate else start
        while scheduled < end if rate else loop.time() < end:
            if rate:
                delay = scheduled - loop.time()
                if delay > 0:
                    await asyncio.sleep(delay)
            sent_at = scheduled if rate else loop.time()
            if stream is None:
                stream = await connect()
            if stream is not None:
                try:
                    status = await asyncio.wait_for(_exchange(*stream, requests.next()), 10)
                    ok = 200 <= status < 400
                    if not ok and sent_at >= start + warm:
                        kinds["status"] += 1
                except TimeoutError:
                    kinds["timeout"] += 1
                    stream[1].close()
                    stream = None
                except (OSError, asyncio.IncompleteReadError, ValueError):
                    kinds["read"] += 1
                    stream[1].close()
                    stream = None
            if sent_at >= start + warm:
                samples.append((loop.time() - sent_at) * 1000)
            if rate:
                scheduled += connections / rate
        if stream is not None:
            stream[1].close()

    if rate is None:
        await asyncio.sleep(max(0.0, start - loop.time()))
    await asyncio.gather(*(one(k) for k in range(connections)))
    elapsed = seconds if rate else loop.time() - start
    errors = sum(kinds.values())
    return {"requests": len(samples), "rps": len(samples) / elapsed,
            "p50_ms": percentile(samples, 50), "p95_ms": percentile(samples, 95),
            "p99_ms": percentile(samples, 99), "errors": errors,
            "error_kinds": {k: v for k, v in kinds.items() if v}}


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
