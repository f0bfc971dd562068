"""Call recordings: sealed at rest, heard only by the resident's workers (every play
audited), checked by a worker whose answer goes down the same path as the robot's (rules
fire, alerts are raised), and deleted when their time is up."""

from __future__ import annotations

import wave
from datetime import timedelta
from decimal import Decimal
from io import BytesIO

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection
from django.http import Http404
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from fangkong.audit.models import AuditAction, AuditEvent
from fangkong.followup.answers import contacts_answer
from fangkong.followup.channels.base import Recording, masked_name
from fangkong.followup.jobs import PERIODIC
from fangkong.followup.models import (
    Alert,
    AlertStatus,
    CallRecording,
    Contact,
    ContactState,
    RoundStatus,
)
from fangkong.followup.questions import Kind, Option, Question
from fangkong.followup.recordings import (
    NONE_OF_THESE,
    answer_from,
    recording_audio,
    recording_check,
    recording_for_user,
    recordings_purge,
    recordings_store,
    recordings_to_check,
)
from fangkong.followup.retention import answers_purge
from fangkong.followup.rounds import round_open
from fangkong.jobs.dispatch import HANDLERS
from fangkong.residents.models import Resident, Tag
from tests.followup.conftest import at, make_campaign
from tests.views.clients import make_client

pytestmark = pytest.mark.django_db


def wav(seconds: float = 0.5) -> bytes:
    """A short silent 8 kHz mono 16-bit WAV, as the line machine records."""
    out = BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(b"\0\0" * int(8000 * seconds))
    return out.getvalue()


@pytest.fixture
def residents(grid_worker, community):  # noqa: ANN001, ANN201
    """Three residents of the grid worker's grid (inside the secretary's community), the
    ones the campaign asks."""
    people = list(Resident.objects.filter(grid=grid_worker.area).order_by("pk")[:3])
    assert len(people) == 3 and all(p.community_id == community.pk for p in people)
    Tag.objects.create(slug="recordings_test", name="recordings_test").residents.add(*people)
    return people


@pytest.fixture
def contacts(community_secretary, community, residents, pinned_clock):  # noqa: ANN001, ANN201
    campaign = make_campaign(community_secretary, community,
                             target={"tags": ["recordings_test"]})
    round_ = round_open(campaign=campaign, scheduled_for=at(9, 0), now=at(8, 0))
    return list(Contact.objects.select_related("round", "round__campaign")
                .filter(round=round_).order_by("resident_id"))


def store(contact: Contact, key: str = "temperature", *, unclear: bool = True,
          heard: str = "三十八点...", when=None) -> CallRecording:  # noqa: ANN001
    recordings_store(items=[(contact, f"{contact.pk}.1.0", Recording(
        contact_id=contact.pk, question_key=key, wav=wav(), heard=heard, seconds=0.5,
        unclear=unclear))], now=when or at(10, 40))
    return CallRecording.objects.filter(contact=contact, question_key=key).latest("pk")


def with_fever_so_far(contact: Contact) -> Contact:
    """The robot understood everything but the temperature, which it recorded."""
    contacts_answer([(contact, {"fever": True, "cough": False, "symptoms": []}, "voice")],
                    now=at(10, 40))
    return Contact.objects.get(pk=contact.pk)


# --- storing ----------------------------------------------------------------------------


def test_a_stored_recording_is_sealed_and_carries_the_contacts_scope(contacts):
    contact = contacts[0]
    audio = wav()
    assert recordings_store(items=[
        (contact, "k.1", Recording(contact_id=contact.pk, question_key="temperature", wav=audio,
                                   heard="x" * 300, seconds=1.5, unclear=True)),
        (contact, "k.1", Recording(contact_id=contact.pk, question_key="cough", wav=audio)),
    ], now=at(10, 40)) == 2
    unclear, clear = CallRecording.objects.filter(contact=contact).order_by("question_key")[::-1]
    assert bytes(unclear.audio_sealed) != audio and audio not in bytes(unclear.audio_sealed)
    assert recording_audio(unclear) == audio
    assert (unclear.resident_id, unclear.grid_id, unclear.community_id, unclear.street_id,
            unclear.district_id) == (contact.resident_id, contact.grid_id,
                                     contact.community_id, contact.street_id,
                                     contact.district_id)
    assert (unclear.needs_check, clear.needs_check) == (True, False)
    assert (unclear.attempt_key, unclear.created_at, unclear.seconds) == ("k.1", at(10, 40), 1.5)
    assert len(unclear.heard) == 200
    assert recordings_store(items=[], now=at(10, 40)) == 0


# --- checking ---------------------------------------------------------------------------


def test_a_checked_fever_answer_completes_the_contact_and_raises_the_alert(
        contacts, grid_worker):  # noqa: ANN001
    contact = with_fever_so_far(contacts[0])
    assert contact.state == ContactState.PENDING
    recording = store(contact)
    gated = recording_for_user(grid_worker, recording.pk)

    checked = recording_check(recording=gated, user=grid_worker, value_raw="38.2")

    assert checked.value == Decimal("38.2")
    contact.refresh_from_db()
    assert contact.answers["temperature"] == ["38.2", "voice"]
    assert (contact.state, contact.answered_via, contact.severity) == (
        ContactState.ANSWERED, "voice", "high")
    fever = Alert.objects.get(contact=contact, rule_key="fever")
    assert fever.status == AlertStatus.OPEN and fever.assigned_area_id == contact.grid_id
    assert {a.rule_key for a in checked.alerts} == {"fever", "fever_reported"}
    recording.refresh_from_db()
    assert (recording.needs_check, recording.checked_by_id, recording.checked_at) == (
        False, grid_worker.pk, at(8, 0))
    event = AuditEvent.objects.get(action=AuditAction.RECORDING_CHECK)
    assert (event.actor_id, event.object_type, event.object_id) == (
        grid_worker.pk, "recording", str(recording.pk))
    assert event.area_path == contact.grid.path
    assert "38.2" not in str(event.changes)  # the audit log does not quote health answers
    assert not recordings_to_check(grid_worker).filter(pk=recording.pk).exists()


@pytest.mark.usefixtures("english")
@pytest.mark.parametrize(("value", "words"), [
    ("", "Give the answer you heard"),
    ("hot", "give the temperature in °C"),
    ("45", "between 35.0 and 42.0"),
    ("98.6", "give the temperature in °C"),
])
def test_a_bad_value_is_refused_in_words_and_nothing_is_written(contacts, grid_worker, value,
                                                                words):  # noqa: ANN001
    contact = with_fever_so_far(contacts[0])
    recording = recording_for_user(grid_worker, store(contact).pk)

    with pytest.raises(ValidationError) as refused:
        recording_check(recording=recording, user=grid_worker, value_raw=value)

    assert words in " ".join(refused.value.message_dict["value"])
    contact.refresh_from_db()
    assert "temperature" not in contact.answers and contact.state == ContactState.PENDING
    assert CallRecording.objects.get(pk=recording.pk).needs_check
    assert not AuditEvent.objects.filter(action=AuditAction.RECORDING_CHECK).exists()
    assert not Alert.objects.filter(contact=contact).exists()


def test_a_recording_is_checked_once(contacts, grid_worker, community_secretary):  # noqa: ANN001
    contact = with_fever_so_far(contacts[0])
    recording = store(contact)
    first = recording_for_user(grid_worker, recording.pk)
    second = recording_for_user(community_secretary, recording.pk)
    recording_check(recording=first, user=grid_worker, value_raw="37.0")

    with pytest.raises(ValidationError):
        recording_check(recording=second, user=community_secretary, value_raw="39.0")

    contact.refresh_from_db()
    assert contact.answers["temperature"] == ["37.0", "voice"]
    assert AuditEvent.objects.filter(action=AuditAction.RECORDING_CHECK).count() == 1


def test_a_yes_no_answer_is_recorded_from_the_button(contacts, grid_worker):  # noqa: ANN001
    contact = contacts[0]
    recording = recording_for_user(grid_worker, store(contact, "fever").pk)
    assert recording_check(recording=recording, user=grid_worker, value_raw="no").value is False
    contact.refresh_from_db()
    assert contact.answers == {"fever": [False, "voice"]}


def test_a_role_that_does_not_handle_alerts_cannot_check(contacts, grid_worker, admin_user):  # noqa: ANN001
    recording = recording_for_user(grid_worker, store(contacts[0], "fever").pk)
    with pytest.raises(PermissionDenied):
        recording_check(recording=recording, user=admin_user, value_raw="yes")


def test_answers_are_understood_per_kind():
    single = Question(key="feeling", kind=Kind.SINGLE, label="身体怎么样？", options=(
        Option("well", "很好"), Option("unwell", "不舒服")))
    multi = Question(key="symptoms", kind=Kind.MULTI, label="症状", options=(
        Option("cough", "咳嗽"), Option("fatigue", "乏力"), Option("taste", "味觉丧失")))
    yes_no = Question(key="fever", kind=Kind.YES_NO, label="发热？")
    temperature = Question(key="temperature", kind=Kind.TEMPERATURE, label="体温")
    assert answer_from(single, "unwell") == "unwell"
    assert answer_from(single, "不舒服") == "unwell"
    assert answer_from(multi, "taste,cough") == ["cough", "taste"]
    assert answer_from(multi, NONE_OF_THESE) == []
    assert answer_from(yes_no, "yes") is True and answer_from(yes_no, "no") is False
    assert answer_from(temperature, "382") == Decimal("38.2")
    assert answer_from(temperature, " 37.5 ") == Decimal("37.5")
    for question, bad in ((single, "maybe"), (multi, "sneeze"), (yes_no, "不知道")):
        with pytest.raises(ValidationError):
            answer_from(question, bad)


# --- scope ------------------------------------------------------------------------------


def test_only_the_residents_workers_hear_or_check_a_recording(
        contacts, grid_worker, other_grid_worker, community_secretary, community_worker,
        street_officer, admin_user, city):  # noqa: ANN001
    recording = store(contacts[0], "fever")
    for user in (grid_worker, community_secretary, community_worker, street_officer):
        assert recording_for_user(user, recording.pk).pk == recording.pk
        assert recordings_to_check(user).filter(pk=recording.pk).exists()
    # Another grid's worker, an administrator (no alerts to handle), a gate guard.
    for user in (other_grid_worker, admin_user, city.persona("gate_guard")):
        with pytest.raises(Http404):
            recording_for_user(user, recording.pk)
        assert not recordings_to_check(user).exists()
    client = make_client(other_grid_worker)
    audio = reverse("followup:recording_audio", args=[recording.pk])
    check = reverse("followup:recording_check", args=[recording.pk])
    assert client.get(audio).status_code == 404
    assert client.post(check, {"value": "yes"}).status_code == 404
    assert CallRecording.objects.get(pk=recording.pk).needs_check
    assert not AuditEvent.objects.filter(action__in=[AuditAction.RECORDING_PLAY,
                                                     AuditAction.RECORDING_CHECK]).exists()
    assert make_client(other_grid_worker).get(reverse("followup:recordings")).status_code == 200
    assert make_client(admin_user).get(reverse("followup:recordings")).status_code == 403


# --- pages ------------------------------------------------------------------------------


def test_the_audio_is_streamed_uncached_and_every_play_is_audited(contacts, grid_worker):  # noqa: ANN001
    recording = store(contacts[0], "fever")
    client = make_client(grid_worker)
    url = reverse("followup:recording_audio", args=[recording.pk])

    first = client.get(url)
    second = client.get(url, HTTP_RANGE="bytes=0-99")

    audio = recording_audio(recording)
    assert first.status_code == 200 and first.content == audio
    assert first["Content-Type"] == "audio/wav" and first["Cache-Control"] == "no-store"
    assert second.status_code == 206 and second.content == audio[:100]
    assert second["Content-Range"] == f"bytes 0-99/{len(audio)}"
    assert second["Cache-Control"] == "no-store"
    plays = AuditEvent.objects.filter(action=AuditAction.RECORDING_PLAY,
                                      object_id=str(recording.pk))
    assert plays.count() == 2
    assert {p.actor_id for p in plays} == {grid_worker.pk}
    assert client.get(url, HTTP_RANGE=f"bytes={len(audio)}-").status_code == 416


def test_the_list_shows_masked_names_a_player_and_buttons_per_kind(contacts, grid_worker,
                                                                   residents):  # noqa: ANN001
    fever = store(contacts[0], "fever")
    temperature = store(with_fever_so_far(contacts[1]))
    symptoms = store(contacts[2], "symptoms")
    store(contacts[2], "cough", unclear=False)  # understood: not listed

    response = make_client(grid_worker).get(reverse("followup:recordings"))

    assert response.status_code == 200
    body = response.content.decode()
    assert [r.pk for r in response.context["page"].object_list] == [fever.pk, temperature.pk,
                                                                      symptoms.pk]
    for resident in residents:
        assert masked_name(resident.name) in body
        assert resident.name not in body
        assert resident.household.label in body
    for recording in (fever, temperature, symptoms):
        audio = reverse("followup:recording_audio", args=[recording.pk])
        assert f'<audio controls preload="none" src="{audio}">' in body
        assert f'action="{reverse("followup:recording_check", args=[recording.pk])}"' in body
    assert body.count('name="value" value="yes"') == 1  # the yes/no question's two buttons
    assert body.count('name="value" value="no"') == 1
    assert 'inputmode="decimal"' in body  # the temperature's field
    assert body.count('name="values"') == 4  # the symptoms' options, ticked
    assert "csrfmiddlewaretoken" in body


def test_the_list_needs_a_fixed_number_of_queries(contacts, grid_worker):  # noqa: ANN001
    client = make_client(grid_worker)
    url = reverse("followup:recordings")
    store(contacts[0], "fever")
    client.get(url)  # warm the session

    def queries() -> int:
        with CaptureQueriesContext(connection) as ctx:
            assert client.get(url).status_code == 200
        # The list never loads the sealed audio: the player fetches it when tapped.
        assert not any("audio_sealed" in q["sql"] for q in ctx.captured_queries)
        return len(ctx.captured_queries)

    one = queries()
    for contact in contacts:
        for key in ("cough", "symptoms"):
            store(contact, key)
    assert len(client.get(url).context["page"].object_list) == 7
    assert queries() == one <= 8


def test_posting_an_answer_redirects_back_with_a_message(contacts, grid_worker):  # noqa: ANN001
    contact = with_fever_so_far(contacts[0])
    recording = store(contact)
    client = make_client(grid_worker)
    url = reverse("followup:recording_check", args=[recording.pk])

    refused = client.post(url, {"value": "45", "page": "1"}, follow=True)
    assert refused.redirect_chain[-1][0].startswith(reverse("followup:recordings") + "?page=1")
    assert [m.level_tag for m in refused.context["messages"]] == ["error"]
    assert CallRecording.objects.get(pk=recording.pk).needs_check

    done = client.post(url, {"value": "38.6"}, follow=True)
    assert done.redirect_chain[-1][0] == reverse("followup:recordings")
    notes = [str(m) for m in done.context["messages"]]
    assert len(notes) == 1 and "38.6" in notes[0] and masked_name(contact.resident.name) in notes[0]
    assert Alert.objects.filter(contact=contact, rule_key="fever").exists()
    assert client.get(url).status_code == 405


def test_ticked_options_and_none_of_these_are_recorded(contacts, grid_worker):  # noqa: ANN001
    client = make_client(grid_worker)
    ticked = store(contacts[0], "symptoms")
    nothing = store(contacts[1], "symptoms")
    client.post(reverse("followup:recording_check", args=[ticked.pk]),
                {"values": ["taste_smell", "fatigue"]})
    client.post(reverse("followup:recording_check", args=[nothing.pk]),
                {"value": NONE_OF_THESE})
    first, second = (Contact.objects.get(pk=c.pk) for c in contacts[:2])
    assert first.answers["symptoms"][1] == "voice"
    assert set(first.answers["symptoms"][0]) == {"taste_smell", "fatigue"}
    assert second.answers["symptoms"] == [[], "voice"]


# --- retention --------------------------------------------------------------------------


def test_recordings_are_deleted_after_the_days_they_are_kept(contacts, settings):  # noqa: ANN001
    old = store(contacts[0], "fever", when=at(10, 0))
    new = store(contacts[1], "fever", when=at(10, 0) + timedelta(days=3))
    keep = timedelta(days=settings.VOICE_RECORDINGS_KEEP_DAYS)

    assert recordings_purge(now=at(10, 0) + keep) == {"recordings": 0}
    assert recordings_purge(now=at(10, 0) + keep + timedelta(days=1)) == {"recordings": 1}
    assert set(CallRecording.objects.values_list("pk", flat=True)) == {new.pk}
    assert recordings_purge(now=at(10, 0) + keep + timedelta(days=1)) == {"recordings": 0}
    assert not CallRecording.objects.filter(pk=old.pk).exists()
    assert PERIODIC["followup.recordings_purge"] == timedelta(hours=24)
    assert "followup.recordings_purge" in HANDLERS


def test_recordings_go_with_their_contacts_answers(contacts, settings):  # noqa: ANN001
    settings.VOICE_RECORDINGS_KEEP_DAYS = 365
    recording = store(contacts[0], "fever")
    round_ = contacts[0].round
    round_.status, round_.closes_at = RoundStatus.CLOSED, at(15, 0)
    round_.save(update_fields=["status", "closes_at"])

    purged = answers_purge(now=at(15, 0) + timedelta(days=settings.FOLLOWUP_KEEP_DAYS + 1))

    assert purged["recordings"] == 1
    assert not CallRecording.objects.filter(pk=recording.pk).exists()
