"""A community's own recordings of what the robot says on a call (a familiar voice gets
more answers).

The sentences that never change between the calls of a campaign (`campaign_sentences`:
the greeting, each question's voice text, the fixed sentences of the dialogue) can be
recorded by the community: `voice_prompt_save` converts the upload to what a phone line
carries (`wav_to_phone`: 8 kHz mono 16-bit WAV) and stores it for the campaign's area,
keyed by the sentence's `Prompt.key` (a hash of its text). A line machine calling for a
campaign plays, for each sentence, the recording of the nearest area on the campaign
area's path (`voice_prompts_for`), else the synthesised voice. A changed sentence has a
new key: its old recording is simply no longer played.

Only staff who manage the campaign's area record or remove (`campaign_for_voice`, the
access gate); every change is audited. The recordings are no personal data: playing one
is not audited.
"""

from __future__ import annotations

import sys
from array import array
from collections.abc import Iterable
from dataclasses import dataclass
from itertools import accumulate
from operator import add
from typing import TYPE_CHECKING

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.utils import translation
from django.utils.translation import gettext as _

from fangkong.accounts.roles import Can, can
from fangkong.accounts.scope import area_scope_q
from fangkong.audit.models import AuditAction
from fangkong.audit.services import audit_record
from fangkong.followup import selectors
from fangkong.followup.channels.voice.callcontrol import Prompt
from fangkong.followup.channels.voice.sip.audio import to_wav
from fangkong.followup.models import Campaign, VoicePrompt
from fangkong.followup.questions import parse_spec
from fangkong.lib import clock
from fangkong.places.models import Area

if TYPE_CHECKING:
    from fangkong.accounts.models import User

PHONE_RATE = 8000  # samples per second on a phone line (G.711)
MAX_UPLOAD_BYTES = 10 * 2**20
MAX_SECONDS = 30.0
MIN_SECONDS = 0.3
SILENT_PEAK = 0.01  # of full scale: below this the recording holds no voice
_FULL_SCALE = 32767
_PCM, _FLOAT, _EXTENSIBLE = 0x0001, 0x0003, 0xFFFE


class PromptUploadError(ValueError):
    """An upload refused, with the reason in words the person who recorded it
    understands (translated)."""


@dataclass(frozen=True)
class Sentence:
    """A sentence residents hear on every call of a campaign: `key` is its `Prompt.key`,
    `text` what the robot says, `what` where it comes in the call (translated)."""

    key: str
    text: str
    what: str


# --- the sentences ----------------------------------------------------------------------


def campaign_greeting(campaign: Campaign) -> str:
    """The greeting exactly as the robot says it: built as the dispatcher builds a task's
    greeting (dispatch._tasks), trimmed as the dialogue trims it (dialogue.run_call)."""
    return f"{campaign.area.name}：{campaign.purpose.rstrip('。.')}".strip()


def campaign_sentences(campaign: Campaign) -> list[Sentence]:
    """The sentences of `campaign`'s calls that never change between calls, in the order
    residents hear them: the greeting; on a campaign answered by proxies, the sentence
    saying the call is about the people they look after; each question that has a voice
    text; the two goodbyes (all answered, some to be checked). The robot's fixed sentences
    are in the site's default language, as the line machine says them. Reads the
    campaign's area and questionnaire version (loaded already by `campaign_for_voice`)."""
    sentences = [Sentence("", campaign_greeting(campaign), _("Greeting"))]
    with translation.override(settings.LANGUAGE_CODE):
        # The same msgids as dialogue.run_call: the same text, so the same key.
        proxy = _("This call is about the people you look after.")
        goodbye = _("Thank you for your answers. Goodbye.")
        goodbye_unclear = _("Thank you. A community worker may call to check some "
                            "answers. Goodbye.")
    if campaign.proxy_answering:
        sentences.append(Sentence("", proxy, _("When someone answers for the people they "
                                               "look after")))
    for question in parse_spec(campaign.version.spec).questions:
        if question.voice:
            sentences.append(Sentence("", question.voice, _("Question: %(label)s")
                                      % {"label": question.label}))
    sentences += [Sentence("", goodbye, _("Goodbye")),
                  Sentence("", goodbye_unclear, _("Goodbye when some answers need checking"))]
    keyed: dict[str, Sentence] = {}
    for sentence in sentences:
        key = Prompt.of(sentence.text).key
        keyed.setdefault(key, Sentence(key, sentence.text, sentence.what))
    return list(keyed.values())


# --- the audio --------------------------------------------------------------------------


def _not_wav() -> PromptUploadError:
    return PromptUploadError(_(
        "This is not a WAV recording. Please upload a WAV file (on a phone, the voice "
        "recorder app can save or export the recording as WAV)."))


def _unsupported() -> PromptUploadError:
    return PromptUploadError(_(
        "This WAV file is stored in a compressed or unusual way that the robot cannot "
        "play. Save it again as an ordinary (PCM, 16-bit) WAV file."))


def _chunks(data: bytes) -> dict[bytes, bytes]:
    """The chunks of a RIFF/WAVE file by id (the first of each). A data chunk cut short or
    with a placeholder size (recorders that stream) gives what is there."""
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise _not_wav()
    found: dict[bytes, bytes] = {}
    pos = 12
    while pos + 8 <= len(data):
        size = int.from_bytes(data[pos + 4:pos + 8], "little")
        found.setdefault(data[pos:pos + 4], data[pos + 8:pos + 8 + size])
        pos += 8 + size + (size & 1)
    return found


def _samples(body: bytes, tag: int, width: int) -> array:
    """The interleaved samples as 16-bit integers (any of 8-, 16-, 24- and 32-bit PCM,
    32-bit float)."""
    body = body[:len(body) - len(body) % width]
    if tag == _FLOAT:
        floats = array("f", body)
        if sys.byteorder == "big":
            floats.byteswap()
        return array("h", (int(max(-1.0, min(1.0, f)) * _FULL_SCALE) if f == f else 0
                           for f in floats))  # NaN: silence, keeping the channels in step
    if width == 1:  # unsigned, 128 is silence
        return array("h", ((b - 128) << 8 for b in body))
    if width == 2:
        high = body
    else:  # the two most significant bytes of each little-endian sample
        high = bytearray(len(body) // width * 2)
        high[0::2] = body[width - 2::width]
        high[1::2] = body[width - 1::width]
    samples = array("h", bytes(high))
    if sys.byteorder == "big":
        samples.byteswap()
    return samples


def _resample(mono: list[int] | array, rate: int, scale: float) -> array:
    """`mono` at `rate` to PHONE_RATE, times `scale`: averaged over each output sample's
    span when coming down (which keeps what a phone cannot carry from folding back as
    noise), interpolated linearly when going up."""
    count = len(mono) * PHONE_RATE // rate
    step = rate / PHONE_RATE
    out: list[float]
    if rate == PHONE_RATE:
        out = list(mono)
    elif rate > PHONE_RATE:
        sums = list(accumulate(mono, initial=0))
        out = []
        for i in range(count):
            start = int(i * step)
            end = max(min(int((i + 1) * step), len(mono)), start + 1)
            out.append((sums[end] - sums[start]) / (end - start))
    else:
        last = len(mono) - 1
        out = []
        for i in range(count):
            at = i * step
            j = min(int(at), last)
            k = min(j + 1, last)
            out.append(mono[j] + (mono[k] - mono[j]) * (at - j))
    return array("h", (max(-_FULL_SCALE - 1, min(_FULL_SCALE, round(v * scale))) for v in out))


def wav_to_phone(data: bytes) -> tuple[bytes, float]:
    """An uploaded WAV (PCM 8/16/24/32-bit or 32-bit float, any rate, any number of
    channels, WAVE_FORMAT_EXTENSIBLE included) as a phone line carries it: (16-bit mono
    8 kHz WAV, seconds). The channels are mixed, the rate converted. Raises
    PromptUploadError for a file over 10 MB, no WAV, a compressed or odd WAV, a recording
    under 0.3 s or over 30 s, or one that is silent (peak under 1% of full scale).

    Pure Python: the chunks are read here because the standard `wave` module of Python
    3.11 refuses WAVE_FORMAT_EXTENSIBLE, which editors write for 24-bit and float."""
    if len(data) > MAX_UPLOAD_BYTES:
        raise PromptUploadError(_("The file is larger than 10 MB. A sentence needs well "
                                  "under 30 seconds: record only the sentence."))
    chunks = _chunks(bytes(data))
    fmt, body = chunks.get(b"fmt "), chunks.get(b"data")
    if fmt is None or len(fmt) < 16 or body is None:
        raise _not_wav()
    tag = int.from_bytes(fmt[0:2], "little")
    channels = int.from_bytes(fmt[2:4], "little")
    rate = int.from_bytes(fmt[4:8], "little")
    bits = int.from_bytes(fmt[14:16], "little")
    if tag == _EXTENSIBLE and len(fmt) >= 26:
        tag = int.from_bytes(fmt[24:26], "little")  # the sub-format's first two bytes
    width = bits // 8
    if (tag == _PCM and bits not in (8, 16, 24, 32)) or (tag == _FLOAT and bits != 32) \
            or tag not in (_PCM, _FLOAT) or not 1 <= channels <= 8 \
            or not 1000 <= rate <= 384_000:
        raise _unsupported()
    frames = len(body) // (width * channels)
    seconds = frames / rate
    if seconds > MAX_SECONDS:
        raise PromptUploadError(_("The recording is %(n)s seconds long: keep it under 30 "
                                  "seconds (say only the sentence, then stop).")
                                % {"n": round(seconds)})
    if seconds < MIN_SECONDS:
        raise PromptUploadError(_("The recording is too short: it holds no sentence. "
                                  "Record the whole sentence and upload it again."))
    samples = _samples(body[:frames * width * channels], tag, width)
    mono: list[int] | array = samples[0::channels]
    for channel in range(1, channels):
        mono = list(map(add, mono, samples[channel::channels]))
    phone = _resample(mono, rate, 1 / channels)
    if max(max(phone), -min(phone)) < SILENT_PEAK * _FULL_SCALE:
        raise PromptUploadError(_("The recording is silent. Check that the microphone is "
                                  "not covered, speak close to the phone and record again."))
    if sys.byteorder == "big":
        phone.byteswap()
    return to_wav(phone.tobytes(), PHONE_RATE), round(len(phone) / PHONE_RATE, 2)


# --- reads ------------------------------------------------------------------------------


def voice_prompts_for(area: Area, *, keys: Iterable[str] | None = None,
                      audio: bool = True) -> dict[str, VoicePrompt]:
    """The recording the robot plays for each sentence key on a call of a campaign of
    `area`: that of the nearest area on its path (the area itself, else its parent, ...).
    One query; each recording comes with its area and uploader. `keys` limits it to those
    sentences; `audio=False` leaves the audio out (a page that only lists them)."""
    prompts = (VoicePrompt.objects.filter(area__path__in=[*area.ancestor_paths(), area.path])
               .select_related("area", "uploaded_by").order_by("area__depth", "pk"))
    if keys is not None:
        prompts = prompts.filter(key__in=list(keys))
    if not audio:
        prompts = prompts.defer("audio")
    return {prompt.key: prompt for prompt in prompts}  # deeper areas come later and win


def campaign_for_voice(user: User, campaign_id: int) -> Campaign:
    """The access gate of a campaign's recordings: 404 for a campaign the user cannot see,
    403 (PermissionDenied) for one they see but may not manage (without MANAGE_CAMPAIGNS,
    or of an area above theirs). Loads the area and the questionnaire version."""
    campaign = selectors.campaign_for_user(user, campaign_id)
    _check_access(user, campaign)
    return campaign


def _check_access(by: User, campaign: Campaign) -> None:
    if not can(by, Can.MANAGE_CAMPAIGNS):
        raise PermissionDenied(_("Your role cannot change the robot's voice."))
    if not Area.objects.filter(area_scope_q(by), pk=campaign.area_id).exists():
        raise PermissionDenied(_("This campaign belongs to an area above yours."))


# --- writes -----------------------------------------------------------------------------


def _read(upload: UploadedFile | bytes) -> bytes:
    """The upload's bytes; one over 10 MB is refused before it is read."""
    if isinstance(upload, bytes | bytearray | memoryview):
        return bytes(upload)
    if (upload.size or 0) > MAX_UPLOAD_BYTES:
        raise PromptUploadError(_("The file is larger than 10 MB. A sentence needs well "
                                  "under 30 seconds: record only the sentence."))
    upload.seek(0)
    return upload.read(MAX_UPLOAD_BYTES + 1)


def _length(prompt: VoicePrompt | None) -> str:
    return f"{prompt.seconds:.1f}s" if prompt is not None else ""


def voice_prompt_save(*, by: User, campaign: Campaign, key: str,
                      upload: UploadedFile | bytes) -> VoicePrompt:
    """Record the sentence `key` of `campaign` in the uploaded voice, for the campaign's
    area (and the areas below it that have no recording of their own); replaces that
    area's earlier recording of it. Converted to the phone's format first; the save and
    its audit event commit together. Raises PermissionDenied (see `campaign_for_voice`)
    or PromptUploadError (not a sentence of this campaign, or a file `wav_to_phone`
    refuses), and nothing is stored."""
    _check_access(by, campaign)
    sentence = next((s for s in campaign_sentences(campaign) if s.key == key), None)
    if sentence is None:
        raise PromptUploadError(_("The robot no longer says this sentence on this "
                                  "campaign's calls. Reload the page and try again."))
    audio, seconds = wav_to_phone(_read(upload))
    area = campaign.area
    with transaction.atomic():
        before = VoicePrompt.objects.select_for_update().filter(area=area, key=key).first()
        prompt, _created = VoicePrompt.objects.update_or_create(
            area=area, key=key, defaults={"text": sentence.text[:300], "audio": audio,
                                          "seconds": seconds, "uploaded_by": by,
                                          "uploaded_at": clock.now()})
        audit_record(by=by, action=AuditAction.VOICE_PROMPT_CHANGE, object_type="voice_prompt",
                     object_id=prompt.pk, object_label=sentence.text, area_path=area.path,
                     changes={"campaign": ["", campaign.pk],
                              "recording": [_length(before), _length(prompt)]})
    return prompt


def voice_prompt_delete(*, by: User, campaign: Campaign, key: str) -> bool:
    """Remove the campaign area's own recording of the sentence `key`: the robot goes back
    to the synthesised voice (or to the recording of an area above). Audited. False when
    the area had no recording of it (nothing written). Raises PermissionDenied (see
    `campaign_for_voice`)."""
    _check_access(by, campaign)
    area = campaign.area
    with transaction.atomic():
        prompt = (VoicePrompt.objects.select_for_update().defer("audio")
                  .filter(area=area, key=key).first())
        if prompt is None:
            return False
        audit_record(by=by, action=AuditAction.VOICE_PROMPT_CHANGE, object_type="voice_prompt",
                     object_id=prompt.pk, object_label=prompt.text, area_path=area.path,
                     changes={"campaign": ["", campaign.pk],
                              "recording": [_length(prompt), ""]})
        prompt.delete()
    return True
