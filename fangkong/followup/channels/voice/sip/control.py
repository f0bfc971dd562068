"""A client of baresip's `ctrl_tcp` module: netstring-framed JSON over a loopback socket.

    control = Control(port=16001)                    # connects; a reader thread starts
    control.command("dial", "sip:13800001234@10.0.0.5")   # -> the response's text
    event = control.events.get(timeout=1)            # {"type": "CALL_RINGING", ...}

Commands are `{"command", "params", "token"}`; baresip answers each with
`{"response": true, "ok", "data", "token"}` and sends events (`{"event": true, "type",
"param", "id", ...}`) as they happen. Events go to `events` in the order they arrived;
when the socket closes (baresip died), `closed` is set and `Event.closed()` is queued so a
waiting reader wakes up.
"""

from __future__ import annotations

import itertools
import json
import logging
import queue
import socket
import threading
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger("fangkong.voice")
MAX_FRAME = 1 << 20


class ControlError(Exception):
    """The control socket failed or baresip refused a command."""


@dataclass(frozen=True)
class Event:
    type: str
    param: str = ""
    call_id: str = ""
    raw: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def closed(cls) -> Event:
        return cls("CONTROL_CLOSED")


def frame(message: dict[str, Any]) -> bytes:
    body = json.dumps(message, ensure_ascii=False).encode()
    return str(len(body)).encode() + b":" + body + b","


class Deframer:
    """Cuts a byte stream into netstrings; raises ControlError on a malformed stream."""

    def __init__(self) -> None:
        self.buffer = b""

    def feed(self, data: bytes) -> list[bytes]:
        self.buffer += data
        out = []
        while True:
            head, colon, rest = self.buffer.partition(b":")
            if not colon:
                if len(head) > 8:
                    raise ControlError("malformed netstring length")
                return out
            if not head.isdigit() or len(head) > 8:
                raise ControlError("malformed netstring length")
            size = int(head)
            if size > MAX_FRAME:
                raise ControlError("netstring too long")
            if len(rest) < size + 1:
                return out
            if rest[size:size + 1] != b",":
                raise ControlError("netstring without its comma")
            out.append(rest[:size])
            self.buffer = rest[size + 1:]


class Control:
    def __init__(self, port: int, *, host: str = "127.0.0.1", timeout: float = 5.0) -> None:
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.settimeout(None)
        self.events: queue.Queue[Event] = queue.Queue()
        self.closed = threading.Event()
        self._tokens = itertools.count(1)
        self._waiting: dict[str, queue.Queue[dict[str, Any]]] = {}
        self._lock = threading.Lock()
        self._reader = threading.Thread(target=self._read, name=f"ctrl-{port}", daemon=True)
        self._reader.start()

    def command(self, command: str, params: str = "", *, timeout: float = 5.0) -> str:
        """Send a command and wait for its response; its `data` text, or ControlError."""
        token = str(next(self._tokens))
        answer: queue.Queue[dict[str, Any]] = queue.Queue(maxsize=1)
        with self._lock:
            if self.closed.is_set():
                raise ControlError("control socket closed")
            self._waiting[token] = answer
            try:
                self.sock.sendall(frame({"command": command, "params": params,
                                         "token": token}))
            except OSError as exc:
                self._waiting.pop(token, None)
                raise ControlError(f"send failed: {exc}") from exc
        try:
            response = answer.get(timeout=timeout)
        except queue.Empty:
            raise ControlError(f"no response to {command}") from None
        finally:
            with self._lock:
                self._waiting.pop(token, None)
        if response.get("closed"):
            raise ControlError("control socket closed")
        if not response.get("ok"):
            raise ControlError(f"{command}: {str(response.get('data', '')).strip()[:120]}")
        return str(response.get("data", ""))

    def close(self) -> None:
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()

    def _read(self) -> None:
        deframer = Deframer()
        try:
            while True:
                data = self.sock.recv(65536)
                if not data:
                    break
                for body in deframer.feed(data):
                    self._dispatch(body)
        except (OSError, ControlError) as exc:
            log.debug("control socket ended: %s", exc)
        finally:
            with self._lock:
                self.closed.set()
                for waiting in self._waiting.values():
                    waiting.put({"closed": True})
            self.events.put(Event.closed())

    def _dispatch(self, body: bytes) -> None:
        try:
            message = json.loads(body)
        except ValueError:
            log.warning("control: a message that is not JSON was skipped")
            return
        if not isinstance(message, dict):
            return
        if message.get("response"):
            with self._lock:
                waiting = self._waiting.get(str(message.get("token", "")))
            if waiting is not None:
                waiting.put(message)
        elif message.get("event"):
            self.events.put(Event(str(message.get("type", "")), str(message.get("param", "")),
                                  str(message.get("id", "")), message))
