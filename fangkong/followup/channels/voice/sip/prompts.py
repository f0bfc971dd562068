"""The robot's prompts as telephone audio: each text made into a WAV once and cached.

    prompts = PromptCache(folder)
    sound = prompts.sound(prompt)        # Sound(path, seconds): 8 kHz mono 16-bit WAV

A text is turned into sound by pypinyin (Mandarin with tone numbers: 发烧 -> fa1 shao1),
espeak-ng's `cmn-latn-pinyin` voice, and sox to 8 kHz mono (what a phone line carries).
Digits are read one by one (按1 -> 按一, 365 -> 三六五: keys and typed temperatures),
punctuation becomes a pause. A community may record a sentence itself (a familiar voice
gets more answers: `VoicePrompt`, see followup/voice_prompts.py); the line machine hands
that recording in (`Own`) and it is padded and cached the same way.

The cache is keyed by `Prompt.key` (a hash of the text), so one sentence is synthesised
once per machine, whichever call or line needs it. baresip ends a call when the file it
plays runs out, so each sound also has a padded twin (`padded`) with silence after it:
the line plays the padded file and listens over its tail.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import subprocess
import tempfile
import threading
import uuid
import wave
from dataclasses import dataclass
from pathlib import Path

from pypinyin import Style, lazy_pinyin

from fangkong.followup.channels.voice.callcontrol import Prompt

log = logging.getLogger("fangkong.voice")
RATE = 8000
PAD_SECONDS = 60  # longer than a line ever waits for an answer after one prompt
_DIGIT_WORDS = dict(zip("0123456789", "零一二三四五六七八九", strict=True))
_PAUSES = re.compile(r"[，,、；;：:]+")
_STOPS = re.compile(r"[。.！!？?…]+")
_KEEP = re.compile(r"[^\u4e00-\u9fff0-9A-Za-z#*，,、；;：:。.！!？?… ]+")


class PromptError(RuntimeError):
    """The audio for a prompt could not be made (a tool missing or failing)."""


@dataclass(frozen=True)
class Own:
    """A community's own recording of a sentence (`VoicePrompt`): `name` is unique per
    recording and upload, so a new upload is a new cache entry."""

    name: str
    wav: bytes


@dataclass(frozen=True)
class Sound:
    path: Path  # padded: the prompt, then PAD_SECONDS of silence
    seconds: float  # how long the prompt itself lasts


def spoken_text(text: str) -> str:
    """The text as espeak-ng's pinyin voice should read it: digits one by one, "#" as
    井号 and "*" as 星号, punctuation as pauses, anything else unreadable dropped."""
    text = text.replace("#", "井号").replace("＃", "井号").replace("*", "星号")
    text = re.sub(r"[0-9]", lambda m: _DIGIT_WORDS[m.group()], text)
    return _KEEP.sub(" ", text)


def pinyin_of(text: str) -> str:
    """Mandarin text as tone-numbered pinyin for espeak-ng: "没有发烧，请按一" ->
    "mei2 you3 fa1 shao1 , qing3 an4 yi1"."""
    words: list[str] = []
    for piece in lazy_pinyin(spoken_text(text), style=Style.TONE3,
                             neutral_tone_with_five=True, errors="default"):
        piece = _STOPS.sub(" . ", _PAUSES.sub(" , ", piece))
        words.extend(piece.split())
    return " ".join(words)


def wav_seconds(path: Path) -> float:
    with wave.open(str(path), "rb") as sound:
        return sound.getnframes() / float(sound.getframerate())


class PromptCache:
    def __init__(self, folder: Path, *, pad_seconds: float = PAD_SECONDS) -> None:
        self.folder = Path(folder)
        self.pad_seconds = pad_seconds
        self.folder.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._known: dict[str, Sound] = {}
        self._making: dict[str, threading.Lock] = {}

    def sound(self, prompt: Prompt, *, own: Own | None = None) -> Sound:
        """The padded WAV of `prompt` (or of the community's own recording of it, `own`),
        made now if it is not cached yet."""
        name = prompt.key if own is None else own.name
        with self._lock:
            known = self._known.get(name)
            if known is not None:
                return known
            making = self._making.setdefault(name, threading.Lock())
        with making:  # one line makes a new prompt; the others wait for it
            with self._lock:
                known = self._known.get(name)
            if known is not None:
                return known
            padded = self.folder / f"{name}.padded.wav"
            plain = self.folder / f"{name}.wav"
            if not (padded.exists() and plain.exists()):
                self._make(prompt.text, own.wav if own else None, plain, padded)
            sound = Sound(padded, wav_seconds(plain))
            with self._lock:
                self._known[name] = sound
            return sound

    def once(self, prompt: Prompt) -> Sound:
        """The sound of a prompt said in one call only (it names a person): made into a
        file of its own, never cached; the caller deletes it (`Sound.path`) after the call."""
        folder = self.folder / "once"
        folder.mkdir(exist_ok=True)
        name = uuid.uuid4().hex
        plain, padded = folder / f"{name}.wav", folder / f"{name}.padded.wav"
        self._make(prompt.text, None, plain, padded)
        seconds = wav_seconds(plain)
        plain.unlink(missing_ok=True)
        return Sound(padded, seconds)

    def warm(self, prompts: list[Prompt], own: dict[str, Own] | None = None) -> None:
        """Make the sounds of `prompts` now, before a resident waits for them."""
        for prompt in prompts:
            try:
                self.sound(prompt, own=(own or {}).get(prompt.key))
            except PromptError:
                log.exception("could not make a prompt's sound")

    def silence(self) -> Path:
        """A file of silence only: what a line plays while it is not saying anything."""
        path = self.folder / "silence.padded.wav"
        if not path.exists():
            with tempfile.TemporaryDirectory() as work:
                made = Path(work) / "s.wav"
                _run(["sox", "-n", "-r", str(RATE), "-c", "1", "-b", "16", str(made),
                      "trim", "0", str(self.pad_seconds)])
                _publish(made, path)
        return path

    def _make(self, text: str, own: bytes | None, plain: Path, padded: Path) -> None:
        with tempfile.TemporaryDirectory() as work:
            source = None
            if own is not None:
                source = Path(work) / "own.wav"
                source.write_bytes(own)
            else:
                source = Path(work) / "speech.wav"
                spoken = pinyin_of(text)
                if not spoken:
                    raise PromptError("nothing to say")
                _run(["espeak-ng", "-v", "cmn-latn-pinyin", "-s", "150", "-w", str(source),
                      spoken])
            made = Path(work) / "plain.wav"
            # Telephone audio; a little silence first so the start is not clipped.
            _run(["sox", str(source), "-r", str(RATE), "-c", "1", "-b", "16", "-e",
                  "signed-integer", str(made), "pad", "0.15", "0.1"])
            made_padded = Path(work) / "padded.wav"
            _run(["sox", str(made), str(made_padded), "pad", "0", str(self.pad_seconds)])
            _publish(made, plain)
            _publish(made_padded, padded)


def _publish(made: Path, path: Path) -> None:
    """Move a finished file into the cache in one step: a line process never reads half
    a file, and two makers of one prompt at once leave one whole file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(dir=path.parent, suffix=".part")
    os.close(fd)
    shutil.copyfile(made, temporary)
    os.replace(temporary, path)


def _run(command: list[str]) -> None:
    if shutil.which(command[0]) is None:
        raise PromptError(f"{command[0]} is not installed (apt-get install espeak-ng sox)")
    done = subprocess.run(command, capture_output=True, timeout=60, check=False)  # noqa: S603
    if done.returncode != 0:
        raise PromptError(f"{command[0]} failed: {done.stderr.decode(errors='replace')[:200]}")
