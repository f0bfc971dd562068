"""Speech recognition for robot calls: a plug-in, because no Chinese model ships on PyPI.

    recogniser = configured()            # None when no model is configured
    text = recogniser.transcribe(wav)    # "" when it made nothing out

`FANGKONG_VOICE_ASR` names the plug-in ("vosk", or "package.module:Class" for your own),
`FANGKONG_VOICE_ASR_MODEL` the folder of its model (for Vosk, e.g. an unpacked
vosk-model-small-cn-0.22). A plug-in is a class built with the model path whose
`transcribe(wav: bytes) -> str` takes 8 kHz mono 16-bit WAV and returns the words in
Chinese characters; the follow-up's answer understanding (`understand.py`) makes an
answer of them, as it does of SMS replies.

With none configured the robot still records what was said: an answer given by voice is
asked again on the keypad once, then put on the needs-checking list, where a worker
listens to it. `describe()` says which of these holds, for the operator.
"""

from __future__ import annotations

import importlib
import json
import logging
import threading
from functools import lru_cache
from pathlib import Path
from typing import Protocol

from django.conf import settings

log = logging.getLogger("fangkong.voice")


class Recogniser(Protocol):
    def transcribe(self, wav: bytes) -> str: ...


class RecogniserError(RuntimeError):
    """The configured plug-in or its model cannot be loaded; the message says what to fix."""


class VoskRecogniser:
    """Vosk (Kaldi) with a model from disk: `pip install vosk` and unpack a Chinese model
    (vosk-model-small-cn or vosk-model-cn) to the configured folder."""

    def __init__(self, model_path: str) -> None:
        try:
            import vosk  # noqa: PLC0415 - optional, installed by the operator
        except ImportError as exc:
            raise RecogniserError("FANGKONG_VOICE_ASR=vosk needs the vosk package: "
                                  "pip install vosk") from exc
        if not Path(model_path, "conf").is_dir() and not Path(model_path, "am").is_dir():
            raise RecogniserError(f"{model_path} does not look like a Vosk model folder")
        vosk.SetLogLevel(-1)
        self._vosk = vosk
        self.model = vosk.Model(model_path)
        self._lock = threading.Lock()

    def transcribe(self, wav: bytes) -> str:
        import io
        import wave

        with wave.open(io.BytesIO(wav), "rb") as sound:
            rate, pcm = sound.getframerate(), sound.readframes(sound.getnframes())
        recogniser = self._vosk.KaldiRecognizer(self.model, rate)
        recogniser.AcceptWaveform(pcm)
        text = json.loads(recogniser.FinalResult()).get("text", "")
        return text.replace(" ", "")


PLUGINS = {"vosk": VoskRecogniser}


@lru_cache(maxsize=1)
def _load(name: str, model: str) -> Recogniser:
    if name in PLUGINS:
        factory = PLUGINS[name]
    else:
        module, _colon, attribute = name.partition(":")
        try:
            factory = getattr(importlib.import_module(module), attribute or "Recogniser")
        except (ImportError, AttributeError) as exc:
            raise RecogniserError(f"FANGKONG_VOICE_ASR={name}: cannot import it ({exc})") \
                from exc
    if not model:
        raise RecogniserError(f"FANGKONG_VOICE_ASR={name} needs FANGKONG_VOICE_ASR_MODEL, "
                              "the folder of its model")
    if not Path(model).exists():
        raise RecogniserError(f"FANGKONG_VOICE_ASR_MODEL={model} does not exist")
    return factory(model)


def configured() -> Recogniser | None:
    """The configured recogniser, loaded once; None when none is configured. A plug-in
    that is configured but cannot load raises RecogniserError (an operator must fix it)."""
    name = settings.VOICE_ASR
    if not name:
        return None
    return _load(name, settings.VOICE_ASR_MODEL)


def describe() -> str:
    """One line for the operator about speech recognition on this machine."""
    if not settings.VOICE_ASR:
        return ("no speech recogniser is configured (FANGKONG_VOICE_ASR, "
                "FANGKONG_VOICE_ASR_MODEL): spoken answers are recorded, asked again on the "
                "keypad, then listed for a worker to check")
    try:
        configured()
    except RecogniserError as exc:
        return f"speech recogniser not loaded: {exc}"
    return f"speech recogniser {settings.VOICE_ASR} with the model {settings.VOICE_ASR_MODEL}"
