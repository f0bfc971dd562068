"""What residents said on robot calls, kept as sealed recordings, and the workers' check.

A voice transport hands back, with its results, one `channels.base.Recording` per
question it recorded; the dispatcher stores them with `recordings_store` inside the
transaction that records the outcomes. Each recording is sealed (AES-GCM, purpose
"recording") and carries the area columns of its contact, so the same scope filters as
alerts apply: a grid worker hears the recordings of their grid, community staff those of
their community, street and district officers those of their subtree.

When the robot could not make an answer out (`needs_check`), a worker of the resident
listens and records the answer with `recording_check`: it goes through the same path as
every channel's answers (`answers.contacts_answer`, channel "voice"), so the rules fire
exactly as if the robot had understood it. Every play and every check is audited.
Recordings are deleted after FANGKONG_VOICE_RECORDINGS_KEEP_DAYS (`recordings_purge`, a
daily job), and with their contact's answers (`retention.answers_purge`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import QuerySet
from django.http import Http404
from django.utils.translation import gettext as _

from fangkong.accounts.roles import Can, can
from fangkong.accounts.scope import grid_scope_q
from fangkong.audit.models import AuditAction
from fangkong.audit.services import audit_record
from fangkong.followup.answers import contacts_answer, spec_of
from fangkong.followup.channels.base import Recording
from fangkong.followup.models import Alert, CallRecording, Contact
from fangkong.followup.questions import Kind, Question
from fangkong.followup.understand import (
    parse_chinese_number,
    parse_temperature,
    understand_answer,
)
from fangkong.lib import clock
from fangkong.lib.crypto import keyring

if TYPE_CHECKING:
    from fangkong.accounts.models import User

PURPOSE = "recording"
CHANNEL = "voice"
# What the needs-checking list sends for "none of these" on a question of several choices.
NONE_OF_THESE = "none"


# --- writes by the dispatcher -----------------------------------------------------------


def recordings_store(*, items: list[tuple[Contact, str, Recording]], now: datetime) -> int:
    """Seal and save the recordings of a batch of calls: [(the contact the recording is
    about, the attempt's key, the recording)]. One INSERT; call inside the dispatcher's
    transaction, so that the recordings commit with the outcomes they belong to. Returns
    the number saved."""
    if not items:
        return 0
    ring = keyring()
    rows = []
    for contact, attempt_key, recording in items:
        row = CallRecording(
            contact_id=contact.pk, resident_id=contact.resident_id,
            attempt_key=attempt_key[:40], question_key=recording.question_key[:48],
            heard=(recording.heard or "")[:200],
            audio_sealed=ring.seal_bytes(recording.wav, purpose=PURPOSE),
            seconds=max(float(recording.seconds or 0), 0.0), created_at=now,
            needs_check=bool(recording.unclear))
        row.copy_scope_from(contact)
        rows.append(row)
    CallRecording.objects.bulk_create(rows, batch_size=500)
    return len(rows)


def recording_audio(recording: CallRecording) -> bytes:
    """The recording's WAV in clear (no access check, no audit: see `recording_play`)."""
    return keyring().open_bytes(recording.audio_sealed, purpose=PURPOSE)


# --- reads ------------------------------------------------------------------------------


def recordings_for_user(user) -> QuerySet[CallRecording]:  # noqa: ANN001
    """The recordings a user may hear: those of residents of their area, for the roles
    that handle alerts (the resident's workers). Without the sealed audio."""
    if not can(user, Can.HANDLE_ALERTS):
        return CallRecording.objects.none()
    return CallRecording.objects.filter(grid_scope_q(user)).defer("audio_sealed")


def recordings_to_check(user) -> QuerySet[CallRecording]:  # noqa: ANN001
    """The needs-checking list: recordings the robot could not make out, oldest first,
    with what a row shows (the resident, their household, the questionnaire version that
    says what the question was) in the same query."""
    return (recordings_for_user(user).filter(needs_check=True)
            .select_related("resident", "resident__household", "grid",
                            "contact__round__campaign__version")
            .defer("contact__answers")
            .order_by("created_at", "pk"))


def recording_for_user(user, recording_id: int) -> CallRecording:  # noqa: ANN001
    """The access gate for recordings: 404 outside the user's area or without the role to
    hear them. The sealed audio is loaded (the caller is about to play or check it)."""
    recording = (recordings_for_user(user).defer(None)
                 .select_related("resident", "grid", "contact__round__campaign")
                 .filter(pk=recording_id).first())
    if recording is None:
        raise Http404
    return recording


def recording_question(recording: CallRecording) -> Question | None:
    """The question the recording answers, from the contact's questionnaire version
    (None if the version has no such question)."""
    spec = spec_of(recording.contact.round.campaign.version_id)
    try:
        return spec.question(recording.question_key)
    except KeyError:
        return None


# --- writes by workers ------------------------------------------------------------------


def recording_play(*, recording: CallRecording, user: User, ip: str | None = None) -> bytes:
    """The audio of a recording the user has passed the gate for; every play is audited
    (who heard which resident's recording, when)."""
    audio = recording_audio(recording)
    audit_record(by=user, action=AuditAction.RECORDING_PLAY, object_type="recording",
                 object_id=recording.pk, object_label=recording.resident.name,
                 area_path=recording.grid.path, ip=ip)
    return audio


@dataclass(frozen=True)
class Checked:
    """What `recording_check` recorded: the answer as stored and the alerts it raised."""

    question: Question
    value: Any
    alerts: list[Alert]


def answer_from(question: Question, value_raw: str) -> Any:
    """The worker's answer to `question`, understood and checked as a resident's would be
    (yes/no, an option by its value or name, a temperature like 38.2 or 382), or a
    ValidationError on "value" in words the worker understands."""
    raw = (value_raw or "").strip()
    if not raw:
        raise ValidationError({"value": [_("Give the answer you heard.")]})
    if question.kind == Kind.SINGLE and raw in question.option_values():
        return question.check(raw)
    if question.kind == Kind.MULTI:
        if raw == NONE_OF_THESE:
            return []
        parts = [p for p in raw.replace("，", ",").split(",") if p]
        if parts and all(p in question.option_values() for p in parts):
            return question.check(parts)
    understood = understand_answer(question, raw)
    if understood.ok and understood.value is not None:
        return understood.value
    raise ValidationError({"value": [
        _("Not recorded for “%(question)s”: %(reason)s")
        % {"question": question.label, "reason": _reason(question, raw)}]})


def _reason(question: Question, raw: str) -> str:
    """Why `raw` is no answer to `question`, for the worker (not the resident's re-ask)."""
    reading = None
    if question.kind == Kind.TEMPERATURE:
        reading = parse_temperature(raw)
    elif question.kind == Kind.NUMBER:
        reading = parse_chinese_number(raw)
    elif question.kind == Kind.TEXT:
        reading = raw
    if reading is not None:
        try:
            question.check(reading)
        except ValueError as exc:
            return str(exc)
    if question.kind == Kind.TEMPERATURE:
        return _("give the temperature in °C as the resident said it, like 37.5.")
    if question.kind == Kind.NUMBER:
        return _("give a number.")
    if question.kind == Kind.YES_NO:
        return _("tap yes or no.")
    if question.kind in (Kind.SINGLE, Kind.MULTI):
        return _("choose among the answers offered.")
    return _("the answer could not be read.")


@transaction.atomic
def recording_check(*, recording: CallRecording, user: User, value_raw: str,
                    ip: str | None = None) -> Checked:
    """A worker who listened records the answer the resident gave: stored on the contact
    with the channel "voice" (so the rules fire and alerts are raised as if the robot had
    understood it), the recording marked checked by them, and the check audited, in one
    transaction. The caller has passed the gate (`recording_for_user`). Refused
    (ValidationError, nothing written) for a value that does not answer the question and
    for a recording someone has checked already."""
    if not can(user, Can.HANDLE_ALERTS):
        raise PermissionDenied(_("Your role cannot record answers."))
    question = recording_question(recording)
    if question is None:
        raise ValidationError({"value": [_("This question is no longer in the questionnaire.")]})
    value = answer_from(question, value_raw)
    now = clock.now()
    # Claim the recording first: of two workers checking it at once, one records.
    claimed = (CallRecording.objects.filter(pk=recording.pk, needs_check=True)
               .update(needs_check=False, checked_by=user, checked_at=now))
    if not claimed:
        raise ValidationError({"value": [_("This recording was checked already.")]})
    contact = (Contact.objects.select_for_update()
               .select_related("round", "round__campaign").get(pk=recording.contact_id))
    alerts = contacts_answer([(contact, {question.key: value}, CHANNEL)], now=now)
    audit_record(by=user, action=AuditAction.RECORDING_CHECK, object_type="recording",
                 object_id=recording.pk, object_label=recording.resident.name,
                 area_path=recording.grid.path, changes={"question": ["", question.key]},
                 ip=ip)
    recording.needs_check, recording.checked_by, recording.checked_at = False, user, now
    return Checked(question=question, value=value, alerts=alerts)


# --- retention --------------------------------------------------------------------------


def recordings_purge(*, now: datetime | None = None, batch: int = 5_000) -> dict[str, int]:
    """Delete the recordings made more than FANGKONG_VOICE_RECORDINGS_KEEP_DAYS ago,
    checked or not (what a worker recorded stays on the contact). Idempotent; runs daily.
    Recordings of contacts whose answers are purged go with them (retention.py)."""
    now = now or clock.now()
    cutoff = now - timedelta(days=settings.VOICE_RECORDINGS_KEEP_DAYS)
    old = CallRecording.objects.filter(created_at__lt=cutoff)
    deleted = 0
    while True:
        ids = list(old.values_list("pk", flat=True)[:batch])
        if not ids:
            break
        deleted += CallRecording.objects.filter(pk__in=ids).delete()[0]
    return {"recordings": deleted}
