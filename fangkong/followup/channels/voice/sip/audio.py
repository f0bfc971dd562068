"""What a line hears: the far end's audio as baresip writes it, speech found in it, and
pieces of it cut out as WAV files.

baresip's `sndfile` module writes the decoded far-end audio of a call to a WAV file while
the call lasts (8 kHz mono 16-bit; the header is completed only at the end). `Tape`
follows that file as it grows; `Detector` finds speech in it by loudness, 20 ms at a time:
speech starts after 60 ms above the threshold and ends after `end_silence_s` below it.
Telephone audio has a quiet line when nobody speaks, so loudness is enough to tell an
answer from silence; what the words were is the recogniser's business (`asr.py`).
"""

from __future__ import annotations

import io
import math
import struct
import wave
from array import array
from pathlib import Path

RATE = 8000
FRAME = 160  # samples in 20 ms
BYTES_PER_FRAME = FRAME * 2


def rms_dbfs(samples: array) -> float:
    if not samples:
        return -120.0
    total = sum(s * s for s in samples)
    rms = math.sqrt(total / len(samples))
    return 20 * math.log10(rms / 32768) if rms > 0 else -120.0


def to_wav(pcm: bytes, rate: int = RATE) -> bytes:
    out = io.BytesIO()
    with wave.open(out, "wb") as sound:
        sound.setnchannels(1)
        sound.setsampwidth(2)
        sound.setframerate(rate)
        sound.writeframes(pcm)
    return out.getvalue()


class Tape:
    """Reads a WAV file that is still being written: `read()` returns the whole 20 ms
    frames of 16-bit PCM added since the last read."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.data_start: int | None = None
        self.position = 0  # bytes of PCM read so far
        self.pcm = bytearray()  # everything read, for cutting pieces out

    def read(self) -> bytes:
        try:
            with self.path.open("rb") as file:
                if self.data_start is None:
                    self.data_start = _data_offset(file.read(4096))
                    if self.data_start is None:
                        return b""
                file.seek(self.data_start + self.position)
                available = file.read()
        except OSError:
            return b""
        whole = len(available) - len(available) % BYTES_PER_FRAME
        chunk = available[:whole]
        self.position += whole
        self.pcm.extend(chunk)
        return chunk

    def seconds(self) -> float:
        return self.position / 2 / RATE

    def cut(self, start_s: float, end_s: float) -> bytes:
        """The audio between two moments (seconds from the start of the tape) as a WAV."""
        start = max(int(start_s * RATE) * 2, 0)
        end = min(int(end_s * RATE) * 2, len(self.pcm))
        return to_wav(bytes(self.pcm[start:end]))


def _data_offset(head: bytes) -> int | None:
    """Where the samples start in a WAV header (after the "data" chunk's header)."""
    if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
        return None
    at = 12
    while at + 8 <= len(head):
        chunk, size = head[at:at + 4], struct.unpack("<I", head[at + 4:at + 8])[0]
        if chunk == b"data":
            return at + 8
        at += 8 + size + (size & 1)
    return None


class Detector:
    """Finds one utterance in a stream of frames: feed frames with `feed`; `started` is
    the time speech began (or None), `ended` once it has ended."""

    def __init__(self, *, threshold_dbfs: float = -38.0, start_frames: int = 3,
                 end_silence_s: float = 0.8, at_s: float = 0.0) -> None:
        self.threshold = threshold_dbfs
        self.start_frames = start_frames
        self.end_frames = max(int(end_silence_s * RATE / FRAME), 1)
        self.clock = at_s  # time of the next frame fed, in tape seconds
        self.loud_run = 0
        self.quiet_run = 0
        self.started: float | None = None
        self.ended: float | None = None

    def feed(self, pcm: bytes) -> None:
        for at in range(0, len(pcm) - BYTES_PER_FRAME + 1, BYTES_PER_FRAME):
            samples = array("h", pcm[at:at + BYTES_PER_FRAME])
            loud = rms_dbfs(samples) > self.threshold
            self.clock += FRAME / RATE
            if self.ended is not None:
                continue
            if self.started is None:
                self.loud_run = self.loud_run + 1 if loud else 0
                if self.loud_run >= self.start_frames:
                    self.started = self.clock - self.start_frames * FRAME / RATE
            else:
                self.quiet_run = 0 if loud else self.quiet_run + 1
                if self.quiet_run >= self.end_frames:
                    self.ended = self.clock - self.quiet_run * FRAME / RATE
