"""A stand-in speech recogniser for the plug-in tests: no Chinese model ships on PyPI, so
the tests load this through FANGKONG_VOICE_ASR the way an operator loads a real one. It
"hears" 没有 in any audio loud for a tenth of a second or more, and nothing in less."""

from __future__ import annotations

import io
import wave
from array import array
from pathlib import Path


class Recogniser:
    def __init__(self, model_path: str) -> None:
        self.model = Path(model_path)  # a real plug-in loads its model from here
        self.calls = 0

    def transcribe(self, wav: bytes) -> str:
        self.calls += 1
        with wave.open(io.BytesIO(wav), "rb") as sound:
            samples = array("h", sound.readframes(sound.getnframes()))
        loud = sum(1 for s in samples if abs(s) > 1000)
        return "没有" if loud >= 800 else ""
