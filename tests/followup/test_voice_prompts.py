"""A community's own recordings of what the robot says: the sentences are exactly those
the robot says on the campaign's calls (same text, same key), uploads are converted to
what a phone line carries or refused in words, the page records, replaces and removes
(audited) for those who manage the campaign, and a call plays the recording of the
nearest area."""

from __future__ import annotations

import math
import re
import struct
import wave
from io import BytesIO

import pytest
from django.core.exceptions import PermissionDenied
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.http import Http404
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import translation

from fangkong.audit.models import AuditAction, AuditEvent
from fangkong.followup.answers import spec_of
from fangkong.followup.channels.voice.callcontrol import (
    DialResult,
    DialStatus,
    Heard,
    Prompt,
    Purpose,
)
from fangkong.followup.channels.voice.dialogue import Person, run_call
from fangkong.followup.dispatch import dispatch_pass
from fangkong.followup.models import VoicePrompt
from fangkong.followup.rounds import rounds_schedule
from fangkong.followup.voice_prompts import (
    MAX_UPLOAD_BYTES,
    PromptUploadError,
    campaign_for_voice,
    campaign_sentences,
    voice_prompt_delete,
    voice_prompt_save,
    voice_prompts_for,
    wav_to_phone,
)
from fangkong.places.models import Area
from fangkong.residents.models import Resident, ResidentStatus, Tag
from tests.followup.conftest import at, make_campaign
from tests.views.clients import make_client

pytestmark = pytest.mark.django_db

PCM, FLOAT, ALAW, MP3 = 0x0001, 0x0003, 0x0006, 0x0055
_PCM_GUID_TAIL = bytes.fromhex("000000001000800000aa00389b71")


def riff(fmt: bytes, data: bytes) -> bytes:
    body = (b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt
            + b"data" + struct.pack("<I", len(data)) + data)
    return b"RIFF" + struct.pack("<I", len(body)) + body


def tone(seconds: float = 1.5, *, rate: int = 8000, channels: int = 1, bits: int = 16,
         tag: int = PCM, amplitude: float = 0.5, extensible: bool = False,
         right_silent: bool = False) -> bytes:
    """A WAV of a 440 Hz tone (on every channel, or on the first only)."""
    pack = {8: lambda v: struct.pack("<B", round(v * 127) + 128),
            16: lambda v: struct.pack("<h", round(v * 32767)),
            24: lambda v: struct.pack("<i", round(v * 8388607))[:3],
            32: lambda v: (struct.pack("<f", v) if tag == FLOAT
                           else struct.pack("<i", round(v * 2147483647)))}[bits]
    frames = []
    for i in range(int(seconds * rate)):
        value = amplitude * math.sin(2 * math.pi * 440 * i / rate)
        frames.append(pack(value) + b"".join(
            pack(0.0 if right_silent else value) for _ in range(channels - 1)))
    block = channels * bits // 8
    fmt = struct.pack("<HHIIHH", 0xFFFE if extensible else tag, channels, rate, rate * block,
                      block, bits)
    if extensible:
        fmt += struct.pack("<HHIH", 22, bits, 0, tag) + _PCM_GUID_TAIL
    return riff(fmt, b"".join(frames))


def phone_params(data: bytes) -> tuple[int, int, int, int]:
    """(channels, sample width, rate, frames) of a converted WAV."""
    with wave.open(BytesIO(data)) as w:
        return w.getnchannels(), w.getsampwidth(), w.getframerate(), w.getnframes()


def peak(data: bytes) -> float:
    with wave.open(BytesIO(data)) as w:
        frames = w.readframes(w.getnframes())
    samples = struct.unpack(f"<{len(frames) // 2}h", frames)
    return max(abs(s) for s in samples) / 32767


@pytest.fixture
def campaign(community_secretary, community):  # noqa: ANN001, ANN201
    return make_campaign(community_secretary, community, start=False)


@pytest.fixture
def street_campaign(street_officer):  # noqa: ANN001, ANN201
    return make_campaign(street_officer, street_officer.area, start=False, name="街道随访",
                         purpose="街道每日健康随访")


# --- the sentences ----------------------------------------------------------------------


class ScriptedLine:
    """A resident's phone that answers with a script (then hangs up); keeps the prompts."""

    def __init__(self, *script: Heard) -> None:
        self.script = list(script)
        self.prompts: list[Prompt] = []

    def dial(self, number: str, *, caller_id: str, ring_timeout_s: float) -> DialResult:
        return DialResult(DialStatus.ANSWERED, "200 OK")

    def play(self, prompt: Prompt) -> None:
        self.prompts.append(prompt)

    def listen(self, *, timeout_s: float, digits: int | None = None,
               finish_on: str = "#") -> Heard:
        return self.script.pop(0) if self.script else Heard.hangup()

    def hangup(self) -> None:
        pass


def test_the_sentences_are_what_the_robot_says_on_the_campaigns_calls(
        community_secretary, community, pinned_clock, transports):  # noqa: ANN001
    resident = Resident.objects.filter(community=community, status=ResidentStatus.ACTIVE,
                                       proxies__isnull=True).order_by("pk").first()
    Tag.objects.create(slug="voice_prompt_test", name="voice_prompt_test").residents.add(resident)
    campaign = make_campaign(community_secretary, community, purpose="疫情防控每日健康随访。",
                             target={"tags": ["voice_prompt_test"]},
                             plan=[{"channel": "voice", "at": 0}])
    rounds_schedule(now=at(9, 0))
    dispatch_pass(owner="w1", now=at(9, 0))
    (channel, task), = transports["voice"].sent
    assert channel == "voice"
    # The greeting the dispatcher hands the line machine, and the campaign's questions,
    # spoken on calls: all answered (a fever, read back); nothing heard; a proxy's call.
    spec = spec_of(campaign.version_id)
    calls = [ScriptedLine(Heard.dtmf("1"), Heard.dtmf("375"), Heard.dtmf("1"), Heard.dtmf("2"),
                          Heard.speech("没有")),
             ScriptedLine(*[Heard.silence()] * 12)]
    for call in calls:
        run_call(call, spec, number="13800001234", greeting=task.greeting)
    proxy = ScriptedLine(*[Heard.dtmf("2")] * 4)
    run_call(proxy, spec, number="13800001234", greeting=task.greeting,
             people=[Person(key=1, name="张*华")])
    said = {p.key: p.text for call in [*calls, proxy] for p in call.prompts
            if p.purpose in (Purpose.GREETING, Purpose.QUESTION, Purpose.GOODBYE)}

    with translation.override("en"):  # whatever the language of the page
        sentences = campaign_sentences(campaign)

    assert {s.key: s.text for s in sentences} == said
    assert sentences[0].key == Prompt.of(f"{community.name}：疫情防控每日健康随访").key
    assert [s.what for s in sentences] == [
        "Greeting", "When someone answers for the people they look after",
        *[f"Question: {q.label}" for q in spec.questions if q.voice],
        "Goodbye", "Goodbye when some answers need checking"]
    assert all(s.key == Prompt.of(s.text).key for s in sentences)


def test_no_proxy_sentence_without_proxies_and_no_question_without_a_voice_text(
        community_secretary, community):  # noqa: ANN001
    version = make_campaign(community_secretary, community, start=False).version
    spec = {**version.spec, "questions": [
        *version.spec["questions"], {"key": "note", "kind": "text", "label": "其他情况"}]}
    own = version.questionnaire.versions.create(number=version.number + 100, spec=spec)
    campaign = make_campaign(community_secretary, community, start=False, version=own,
                             proxy_answering=False)
    texts = [s.text for s in campaign_sentences(campaign)]
    assert len(texts) == 1 + len([q for q in spec["questions"] if q.get("voice")]) + 2
    with translation.override("zh-hans"):
        assert translation.gettext("This call is about the people you look after.") \
            not in texts


# --- the audio --------------------------------------------------------------------------


def test_a_cd_quality_stereo_recording_becomes_phone_audio_of_the_same_length():
    audio, seconds = wav_to_phone(tone(1.5, rate=44100, channels=2))
    assert phone_params(audio) == (1, 2, 8000, 12000)
    assert seconds == 1.5
    assert peak(audio) == pytest.approx(0.5, abs=0.03)


def test_a_16_khz_mono_recording_becomes_phone_audio_of_the_same_length():
    audio, seconds = wav_to_phone(tone(2.0, rate=16000))
    assert phone_params(audio) == (1, 2, 8000, 16000)
    assert seconds == 2.0
    assert peak(audio) == pytest.approx(0.5, abs=0.03)


@pytest.mark.parametrize(("rate", "bits", "tag", "extensible"), [
    (8000, 8, PCM, False), (48000, 24, PCM, True), (22050, 32, PCM, False),
    (44100, 32, FLOAT, True), (6000, 16, PCM, False)])
def test_other_sample_formats_and_rates_are_converted_too(rate, bits, tag, extensible):  # noqa: ANN001
    audio, seconds = wav_to_phone(tone(1.0, rate=rate, bits=bits, tag=tag,
                                       extensible=extensible))
    assert phone_params(audio) == (1, 2, 8000, 8000)
    assert seconds == 1.0
    assert peak(audio) == pytest.approx(0.5, abs=0.03)


def test_the_channels_are_mixed():
    audio, _seconds = wav_to_phone(tone(1.0, rate=16000, channels=2, right_silent=True))
    assert peak(audio) == pytest.approx(0.25, abs=0.02)


@pytest.mark.usefixtures("english")
@pytest.mark.parametrize(("data", "words"), [
    (b"", "This is not a WAV recording"),
    (b"ID3\x04\x00" + bytes(4000), "This is not a WAV recording"),
    (b"RIFF\x00\x10\x00\x00AVI LIST" + bytes(4000), "This is not a WAV recording"),
    (riff(b"", bytes(8000)), "This is not a WAV recording"),
    (tone(1.0, bits=8, tag=ALAW), "compressed or unusual way"),
    (tone(1.0, tag=MP3), "compressed or unusual way"),
    (tone(1.0, bits=24, tag=FLOAT), "compressed or unusual way"),
    (riff(struct.pack("<HHIIHH", PCM, 1, 8000, 16000, 2, 16), bytes(31 * 16000)),
     "31 seconds long: keep it under 30 seconds"),
    (tone(0.2), "too short"),
    (tone(1.0, rate=44100, channels=2, amplitude=0.005), "silent"),
    (tone(1.0, amplitude=0.0), "silent"),
    (b"RIFF" + bytes(MAX_UPLOAD_BYTES), "larger than 10 MB"),
])
def test_what_the_robot_cannot_play_is_refused_in_words(data, words):  # noqa: ANN001
    with pytest.raises(PromptUploadError) as refused:
        wav_to_phone(data)
    assert words in str(refused.value)


def test_the_refusal_is_in_chinese_by_default():
    with pytest.raises(PromptUploadError) as refused:
        wav_to_phone(b"#!AMR\n" + bytes(100))
    assert "WAV" in str(refused.value) and "录音" in str(refused.value)


# --- saving -----------------------------------------------------------------------------


def test_a_recording_is_stored_for_the_campaigns_area_and_replaced(
        campaign, community_secretary, community, pinned_clock):  # noqa: ANN001
    greeting = campaign_sentences(campaign)[0]
    first = voice_prompt_save(by=community_secretary, campaign=campaign, key=greeting.key,
                              upload=SimpleUploadedFile("a.wav", tone(1.5, rate=44100)))
    second = voice_prompt_save(by=community_secretary, campaign=campaign, key=greeting.key,
                               upload=tone(2.0, rate=16000, channels=2))
    assert first.pk == second.pk
    stored = VoicePrompt.objects.get()
    assert (stored.area_id, stored.key, stored.text, stored.seconds) == (
        community.pk, greeting.key, greeting.text, 2.0)
    assert (stored.uploaded_by_id, stored.uploaded_at) == (community_secretary.pk, at(8, 0))
    assert phone_params(bytes(stored.audio)) == (1, 2, 8000, 16000)
    events = AuditEvent.objects.filter(action=AuditAction.VOICE_PROMPT_CHANGE).order_by("pk")
    assert [e.changes["recording"] for e in events] == [["", "1.5s"], ["1.5s", "2.0s"]]
    assert {(e.actor_id, e.object_id, e.area_path) for e in events} == {
        (community_secretary.pk, str(stored.pk), community.path)}


@pytest.mark.usefixtures("english")
def test_a_refused_upload_stores_nothing(campaign, community_secretary):  # noqa: ANN001
    greeting = campaign_sentences(campaign)[0]
    with pytest.raises(PromptUploadError, match="no longer says this sentence"):
        voice_prompt_save(by=community_secretary, campaign=campaign,
                          key=Prompt.of("别的话").key, upload=tone())
    with pytest.raises(PromptUploadError, match="larger than 10 MB"):
        voice_prompt_save(by=community_secretary, campaign=campaign, key=greeting.key,
                          upload=SimpleUploadedFile("big.wav", bytes(MAX_UPLOAD_BYTES + 1)))
    with pytest.raises(PromptUploadError, match="silent"):
        voice_prompt_save(by=community_secretary, campaign=campaign, key=greeting.key,
                          upload=tone(amplitude=0))
    assert not VoicePrompt.objects.exists()
    assert not AuditEvent.objects.filter(action=AuditAction.VOICE_PROMPT_CHANGE).exists()
    assert voice_prompt_delete(by=community_secretary, campaign=campaign,
                               key=greeting.key) is False
    assert not AuditEvent.objects.filter(action=AuditAction.VOICE_PROMPT_CHANGE).exists()


def test_only_who_manages_the_campaigns_area_records(
        campaign, street_campaign, community_secretary, street_officer, grid_worker,
        other_grid_worker, city):  # noqa: ANN001
    key = campaign_sentences(campaign)[0].key
    assert campaign_for_voice(street_officer, campaign.pk) == campaign  # a street below
    for user in (grid_worker, city.persona("community_worker")):  # no MANAGE_CAMPAIGNS
        with pytest.raises(PermissionDenied):
            campaign_for_voice(user, campaign.pk)
        with pytest.raises(PermissionDenied):
            voice_prompt_save(by=user, campaign=campaign, key=key, upload=tone())
    with pytest.raises(PermissionDenied):  # the street's campaign, seen from below
        campaign_for_voice(community_secretary, street_campaign.pk)
    for user in (other_grid_worker, city.persona("other_street_officer")):
        with pytest.raises(Http404):
            campaign_for_voice(user, campaign.pk)
    assert not VoicePrompt.objects.exists()


# --- the nearest area's recording -------------------------------------------------------


def test_a_call_plays_the_recording_of_the_nearest_area(
        campaign, street_campaign, community_secretary, street_officer, community,
        django_assert_num_queries):  # noqa: ANN001
    street = street_officer.area
    assert community.parent_id == street.pk
    question = campaign_sentences(campaign)[1 + campaign.proxy_answering]
    goodbye = campaign_sentences(campaign)[-1]
    keys = {s.key for s in campaign_sentences(street_campaign)}
    assert {question.key, goodbye.key} <= keys  # the same questionnaire: the same sentences
    for key in (question.key, goodbye.key):
        voice_prompt_save(by=street_officer, campaign=street_campaign, key=key,
                          upload=tone(1.0))
    voice_prompt_save(by=community_secretary, campaign=campaign, key=question.key,
                      upload=tone(2.0))
    grid = Area.objects.filter(parent=community).order_by("path").first()
    neighbour = Area.objects.filter(parent=street).exclude(pk=community.pk).first()

    with django_assert_num_queries(1):
        in_grid = voice_prompts_for(grid)
        assert bytes(in_grid[question.key].audio)[:4] == b"RIFF"  # loaded, not deferred
        assert in_grid[question.key].area.name and in_grid[goodbye.key].uploaded_by.username

    assert {k: (p.area_id, p.seconds) for k, p in in_grid.items()} == {
        question.key: (community.pk, 2.0), goodbye.key: (street.pk, 1.0)}
    assert voice_prompts_for(community).keys() == in_grid.keys()
    assert {k: p.area_id for k, p in voice_prompts_for(neighbour).items()} == {
        question.key: street.pk, goodbye.key: street.pk}
    assert voice_prompts_for(street.parent) == {}
    assert list(voice_prompts_for(grid, keys=[goodbye.key])) == [goodbye.key]

    voice_prompt_delete(by=community_secretary, campaign=campaign, key=question.key)
    assert voice_prompts_for(grid)[question.key].area_id == street.pk


# --- the page ---------------------------------------------------------------------------


def _sentence_block(body: str, key: str) -> str:
    return re.search(rf'<li id="s-{key}">(.*?)</li>', body, re.S)[1]


def test_a_secretary_uploads_replaces_and_removes_a_recording_on_the_page(
        campaign, community_secretary, community, pinned_clock):  # noqa: ANN001
    client = make_client(community_secretary, language="en")
    url = reverse("followup:campaign_voice", args=[campaign.pk])
    with translation.override("en"):
        sentences = campaign_sentences(campaign)
    greeting = sentences[0]
    audio_url = reverse("followup:campaign_voice_audio", args=[campaign.pk, greeting.key])

    page = client.get(url)
    assert page.status_code == 200
    body = page.content.decode()
    for sentence in sentences:
        block = _sentence_block(body, sentence.key)
        assert sentence.text in block and sentence.what in block
        assert "Synthesised voice" in block and "<audio" not in block
        assert 'type="file"' in block and 'accept="audio/wav,.wav"' in block
    assert body.count('enctype="multipart/form-data"') == len(sentences)
    assert "csrfmiddlewaretoken" in body
    assert client.get(audio_url).status_code == 404
    assert url in client.get(reverse("followup:campaign", args=[campaign.pk])).content.decode()

    uploaded = client.post(url, {"do": "upload", "key": greeting.key,
                                 "audio": SimpleUploadedFile("我的录音.wav", tone(1.5, rate=44100,
                                                                              channels=2))})
    assert uploaded.status_code == 302 and uploaded["Location"] == f"{url}#s-{greeting.key}"
    prompt = VoicePrompt.objects.get()
    assert (prompt.area_id, prompt.key, prompt.seconds) == (community.pk, greeting.key, 1.5)
    after = client.get(url)
    assert [str(m) for m in after.context["messages"]] == [
        "Recording saved: from the next call on, residents hear it instead of the robot's "
        "voice."]
    block = _sentence_block(after.content.decode(), greeting.key)
    assert f'<audio controls preload="none" src="{audio_url}">' in block
    assert community_secretary.display_name in block and "Synthesised voice" not in block
    assert 'name="do" value="delete"' in block
    played = client.get(audio_url)
    assert played.status_code == 200 and played["Content-Type"] == "audio/wav"
    assert played.content == bytes(prompt.audio)
    assert client.get(audio_url, HTTP_RANGE="bytes=0-43").content == bytes(prompt.audio)[:44]

    client.post(url, {"do": "upload", "key": greeting.key,
                      "audio": SimpleUploadedFile("again.wav", tone(2.0))})
    assert VoicePrompt.objects.get().seconds == 2.0
    removed = client.post(url, {"do": "delete", "key": greeting.key})
    assert removed.status_code == 302
    assert not VoicePrompt.objects.exists()
    assert client.get(audio_url).status_code == 404
    events = AuditEvent.objects.filter(action=AuditAction.VOICE_PROMPT_CHANGE).order_by("pk")
    assert [e.changes["recording"] for e in events] == [["", "1.5s"], ["1.5s", "2.0s"],
                                                        ["2.0s", ""]]
    assert {(e.actor_id, e.area_path, e.object_label) for e in events} == {
        (community_secretary.pk, community.path, greeting.text)}


def test_a_refused_upload_is_explained_next_to_its_sentence(campaign, community_secretary):  # noqa: ANN001
    client = make_client(community_secretary, language="en")
    url = reverse("followup:campaign_voice", args=[campaign.pk])
    question = campaign_sentences(campaign)[2]

    refused = client.post(url, {"do": "upload", "key": question.key,
                                "audio": SimpleUploadedFile("voice.m4a", b"\x00\x00\x00\x20ftypM4A ",
                                                            "audio/mp4")})
    assert refused.status_code == 200
    body = refused.content.decode()
    assert "This is not a WAV recording" in _sentence_block(body, question.key)
    assert body.count('role="alert"') == 1
    missing = client.post(url, {"do": "upload", "key": question.key})
    assert "Choose the recording" in _sentence_block(missing.content.decode(), question.key)
    unknown = client.post(url, {"do": "upload", "key": "p-0", "audio": SimpleUploadedFile(
        "a.wav", tone())}, follow=True)
    assert [m.level_tag for m in unknown.context["messages"]] == ["error"]
    assert not VoicePrompt.objects.exists()
    assert not AuditEvent.objects.filter(action=AuditAction.VOICE_PROMPT_CHANGE).exists()


def test_the_page_is_refused_outside_the_area_before_the_role_is_checked(
        campaign, street_campaign, community_secretary, grid_worker, other_grid_worker,
        city):  # noqa: ANN001
    key = campaign_sentences(campaign)[0].key
    voice_prompt_save(by=community_secretary, campaign=campaign, key=key, upload=tone())
    urls = [reverse("followup:campaign_voice", args=[campaign.pk]),
            reverse("followup:campaign_voice_audio", args=[campaign.pk, key])]
    form = {"do": "upload", "key": key, "audio": SimpleUploadedFile("a.wav", tone(2.0))}
    for user, status in ((other_grid_worker, 404), (city.persona("other_street_officer"), 404),
                         (grid_worker, 403), (city.persona("community_worker"), 403)):
        client = make_client(user)
        for url in urls:
            assert client.get(url).status_code == status, (user, url)
        assert client.post(urls[0], form).status_code == status
        assert client.post(urls[0], {"do": "delete", "key": key}).status_code == status
    street_page = reverse("followup:campaign_voice", args=[street_campaign.pk])
    assert make_client(community_secretary).get(street_page).status_code == 403
    assert VoicePrompt.objects.get().seconds == 1.5
    assert AuditEvent.objects.filter(action=AuditAction.VOICE_PROMPT_CHANGE).count() == 1
    assert make_client(None).get(urls[0]).status_code == 302


def test_the_page_needs_a_fixed_number_of_queries_and_never_loads_the_audio(
        campaign, community_secretary):  # noqa: ANN001
    client = make_client(community_secretary)
    url = reverse("followup:campaign_voice", args=[campaign.pk])
    client.get(url)  # warm the session

    def queries() -> int:
        with CaptureQueriesContext(connection) as ctx:
            assert client.get(url).status_code == 200
        assert not any('"audio"' in q["sql"] for q in ctx.captured_queries)
        return len(ctx.captured_queries)

    none = queries()
    for sentence in campaign_sentences(campaign):
        voice_prompt_save(by=community_secretary, campaign=campaign, key=sentence.key,
                          upload=tone(0.5))
    assert queries() == none <= 8
