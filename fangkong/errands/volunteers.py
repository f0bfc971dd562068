"""Volunteers of a community: joining through the community's link, verification by the
community (verify, refuse, suspend), and the figures of each volunteer.

- Joining: a community's link and QR code carry a signed community id (no expiry: the
  notice stays up; rotating SECRET_KEY retires every link). The public form creates a
  `Volunteer` waiting for verification; the phone is sealed, indexed and masked like a
  resident's, and one phone joins one community once. Submissions are counted per client
  address in Django's cache (JOIN_LIMIT per JOIN_WINDOW seconds) to stop floods.
- Verification: the secretary of the community (or an officer of its street) verifies a
  volunteer, which gives them a login with the volunteer role at the community (a new
  one, whose initial password is returned once, or an existing volunteer account),
  refuses them with a reason, or suspends a verified one: their login is deactivated and
  their open errands go back to the community's queue. Every decision is audited.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

import segno
from django.conf import settings
from django.core import signing
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Case, Count, IntegerField, Q, QuerySet, Sum, Value, When
from django.db.models.functions import Lower
from django.http import Http404
from django.urls import reverse
from django.utils.translation import gettext as _

from fangkong.accounts.models import Role, User
from fangkong.accounts.roles import Can, can
from fangkong.accounts.scope import NOTHING
from fangkong.accounts.services import staff_create
from fangkong.audit.models import AuditAction
from fangkong.audit.services import audit_record
from fangkong.errands.models import (
    OPEN,
    Errand,
    ErrandStatus,
    GarbageRound,
    Skill,
    Volunteer,
    VolunteerStatus,
)
from fangkong.errands.services import errands_release
from fangkong.lib import clock, crypto
from fangkong.lib.counters import window_add, window_count
from fangkong.lib.fields import clean_text
from fangkong.lib.phone import PhoneError, parse_phone
from fangkong.places.models import Area, AreaKind
from fangkong.residents.personal import PHONE, seal_phone

# The join link ---------------------------------------------------------------------------

SALT = "fangkong.errands.join"
QR_ERROR = "q"  # 25% error correction: a notice gets creased and half covered


def join_token(community_id: int) -> str:
    return signing.Signer(salt=SALT).sign(signing.b62_encode(community_id))


def community_id_from_join_token(token: str) -> int | None:
    """The community id of a genuine token, or None for a forged or mangled one."""
    try:
        return signing.b62_decode(signing.Signer(salt=SALT).unsign(token))
    except (signing.BadSignature, ValueError):
        return None


def join_url(community_id: int) -> str:
    """The absolute address of the community's join form (FANGKONG_PUBLIC_URL + path)."""
    path = reverse("errands:join", args=[join_token(community_id)])
    return settings.PUBLIC_URL.rstrip("/") + path


def join_qr(community_id: int) -> segno.QRCode:
    return segno.make(join_url(community_id), error=QR_ERROR, micro=False)


def community_for_join(token: str) -> Area | None:
    community_id = community_id_from_join_token(token)
    if community_id is None:
        return None
    return Area.objects.filter(pk=community_id, kind=AreaKind.COMMUNITY).first()


# Floods ----------------------------------------------------------------------------------

JOIN_LIMIT = 10  # submissions of the form per client address ...
JOIN_WINDOW = 10 * 60  # ... within this many seconds


def _join_key(client: str) -> str:
    return f"fangkong.errands.join.{client}"


def join_attempts(client: str) -> int:
    """Submissions from `client` in the current window."""
    return window_count(_join_key(client))


def join_attempt_record(client: str) -> int:
    """Count one submission; the count in this window. The window starts at the first
    submission and is not extended by later ones."""
    return window_add(_join_key(client), window=JOIN_WINDOW)


# Joining ---------------------------------------------------------------------------------


def _text(value: str, *, field_name: str, limit: int, required: bool = False) -> str:
    return clean_text(value, field=field_name, limit=limit, required=required,
                      collapse_spaces=True, required_message=_("This field is required."))


def _already_registered() -> ValidationError:
    return ValidationError({"phone": [_(
        "This phone number is already registered with this community: the community will "
        "contact you.")]})


@transaction.atomic
def volunteer_apply(*, community: Area, name: str, phone: str, skills: list[str],
                    availability: str = "", note: str = "") -> Volunteer:
    """Offer to help `community` (the public join form): a volunteer waiting for
    verification. Refused: an invalid or non-mobile phone, a phone already registered
    with this community, unknown skills."""
    if community.kind != AreaKind.COMMUNITY:
        raise Http404
    errors: dict[str, list[str]] = {}
    try:
        name = _text(name, field_name="name", limit=64, required=True)
    except ValidationError as exc:
        errors.update(exc.message_dict)
    try:
        number = parse_phone(phone or "")
    except PhoneError as exc:
        errors["phone"] = [exc.message]
    else:
        if number.kind != "mobile":
            errors["phone"] = [_("Give a mobile number (11 digits starting with 13-19): "
                                 "the community calls and texts you on it.")]
    unknown = [s for s in skills if s not in Skill.values]
    if unknown:
        errors["skills"] = [_("Choose skills from the list.")]
    cleaned: dict[str, str] = {}
    for field_name, value, limit in (("availability", availability, 200),
                                     ("note", note, 300)):
        try:
            cleaned[field_name] = _text(value, field_name=field_name, limit=limit)
        except ValidationError as exc:
            errors.update(exc.message_dict)
    if errors:
        raise ValidationError(errors)
    sealed = seal_phone(number)
    if Volunteer.objects.filter(community=community, phone_index=sealed.index).exists():
        raise _already_registered()
    volunteer = Volunteer(
        community=community, name=name, phone_sealed=sealed.sealed, phone_index=sealed.index,
        phone_masked=sealed.masked, skills=[s for s in Skill.values if s in skills],
        applied_at=clock.now(), **cleaned)
    try:
        with transaction.atomic():
            volunteer.save()
    except IntegrityError as exc:  # the same phone sent twice at once
        raise _already_registered() from exc
    return volunteer


# Reads -----------------------------------------------------------------------------------


def _scope_q(user, field: str) -> Q:  # noqa: ANN001
    """Rows whose community (reached by `field`, e.g. "community__path") lies in the area
    of a user who verifies volunteers."""
    if not can(user, Can.VERIFY_VOLUNTEERS):
        return NOTHING
    if user.is_superuser:
        return Q()
    if user.area is None:
        return NOTHING
    return user.area.subtree_q(field)


def communities_for_verifier(user) -> QuerySet[Area]:  # noqa: ANN001
    """The communities whose volunteers the user verifies: a secretary's own community,
    every community of a street officer's street."""
    return Area.objects.filter(_scope_q(user, "path"), kind=AreaKind.COMMUNITY).order_by(
        "sort_order", "path")


_DONE = Q(user__errands__status=ErrandStatus.DELIVERED)


def _with_figures(rows: QuerySet[Volunteer]) -> QuerySet[Volunteer]:
    """Each volunteer with `tasks_done` (delivered errands given to their login),
    `hours_served` (the hours of those) and `open_tasks`: one join, whatever the count."""
    return rows.annotate(
        tasks_done=Count("user__errands", filter=_DONE),
        hours_served=Sum("user__errands__hours", filter=_DONE),
        open_tasks=Count("user__errands", filter=Q(user__errands__status__in=OPEN)))


# Those waiting for a decision first.
_STATUS_ORDER = Case(*(When(status=s, then=Value(n)) for n, s in enumerate(
    (VolunteerStatus.APPLIED, VolunteerStatus.VERIFIED, VolunteerStatus.SUSPENDED,
     VolunteerStatus.REFUSED))), output_field=IntegerField())


def volunteer_rows(user, *, community: Area | None = None,  # noqa: ANN001
                   status: str = "") -> QuerySet[Volunteer]:
    """The volunteers of the user's communities (or of one of them), those waiting for
    verification first, with their figures (see `_with_figures`)."""
    rows = Volunteer.objects.filter(_scope_q(user, "community__path"))
    if community is not None:
        rows = rows.filter(community=community)
    if status in VolunteerStatus.values:
        rows = rows.filter(status=status)
    return (_with_figures(rows).select_related("community", "user")
            .order_by(_STATUS_ORDER, "community__path", "name", "pk"))


def volunteer_counts(user, *, community: Area | None = None) -> dict[str, int]:  # noqa: ANN001
    """How many volunteers per status, for the tabs of the list."""
    rows = Volunteer.objects.filter(_scope_q(user, "community__path"))
    if community is not None:
        rows = rows.filter(community=community)
    counts = dict(rows.values_list("status").annotate(n=Count("pk")).order_by())
    return {s: counts.get(s, 0) for s in VolunteerStatus.values}


def volunteer_for_user(user, volunteer_id: int) -> Volunteer:  # noqa: ANN001
    """The access gate of a volunteer: those who verify the volunteers of its community;
    404 for anyone else. With its figures."""
    volunteer = (_with_figures(Volunteer.objects.filter(_scope_q(user, "community__path"),
                                                        pk=volunteer_id))
                 .select_related("community", "user", "decided_by").first())
    if volunteer is None:
        raise Http404
    return volunteer


def volunteer_open_tasks(volunteer: Volunteer) -> list[Errand]:
    if volunteer.user_id is None:
        return []
    return list(Errand.objects.filter(assigned_to_id=volunteer.user_id, status__in=OPEN)
                .select_related("household").order_by("urgency_rank", "created_at", "pk"))


def linkable_users(volunteer: Volunteer) -> QuerySet[User]:
    """Existing volunteer logins of the community that no volunteer holds yet: a
    volunteer may be given one of them instead of a new login."""
    return (User.objects.filter(role=Role.VOLUNTEER, area_id=volunteer.community_id,
                                is_active=True, volunteer__isnull=True)
            .order_by("username"))


# Decisions -------------------------------------------------------------------------------


def _locked(volunteer: Volunteer, by: User) -> Volunteer:
    """The volunteer's row, locked, if `by` may decide on it (404 otherwise)."""
    fresh = (Volunteer.objects.filter(_scope_q(by, "community__path"), pk=volunteer.pk)
             .select_related("community").select_for_update(of=("self",)).first())
    if fresh is None:
        raise Http404
    return fresh


def _decide(volunteer: Volunteer, *, to: str, by: User, note: str,
            changes: dict, ip: str | None) -> None:
    old = volunteer.status
    volunteer.status, volunteer.decided_by, volunteer.decided_at = to, by, clock.now()
    volunteer.decision_note = note
    volunteer.save(update_fields=["status", "decided_by", "decided_at", "decision_note",
                                  "user"])
    audit_record(by=by, action=AuditAction.VOLUNTEER_DECISION, object_type="volunteer",
                 object_id=volunteer.pk, object_label=volunteer.name,
                 area_path=volunteer.community.path,
                 changes={"status": [old, to], **changes}, ip=ip)


def _free_username(volunteer: Volunteer) -> str:
    base = f"v{volunteer.pk}"
    taken = set(User.objects.annotate(lower=Lower("username"))
                .filter(lower__startswith=base).values_list("lower", flat=True))
    if base not in taken:
        return base
    n = 2
    while f"{base}-{n}" in taken:
        n += 1
    return f"{base}-{n}"


# No 0/o, 1/l/i: the secretary reads it out or writes it on paper.
_READABLE_LETTERS = "abcdefghjkmnpqrstuvwxyz"
_READABLE_DIGITS = "23456789"


def initial_password() -> str:
    """A random password of three groups of four, letters and digits ("kq7m-3hxp-9wte")."""
    alphabet = _READABLE_LETTERS + _READABLE_DIGITS
    while True:
        chars = [secrets.choice(alphabet) for _n in range(12)]
        if any(c in _READABLE_LETTERS for c in chars) and any(
                c in _READABLE_DIGITS for c in chars):
            return "-".join("".join(chars[i:i + 4]) for i in range(0, 12, 4))


@dataclass(frozen=True)
class Verified:
    volunteer: Volunteer
    username: str
    password: str | None  # a new login's initial password: shown once, never stored


@transaction.atomic
def volunteer_verify(*, volunteer: Volunteer, by: User, link_user: User | None = None,
                     ip: str | None = None) -> Verified:
    """Verify a volunteer (waiting, refused before, or suspended): they sign in with the
    volunteer role at their community. A suspended volunteer's login is reactivated;
    otherwise `link_user` (an active volunteer login of the community that no volunteer
    holds) is given to them, or a new login "v<id>" is created with a random password,
    returned once. Audited."""
    volunteer = _locked(volunteer, by)
    if volunteer.status == VolunteerStatus.VERIFIED:
        raise ValidationError({"status": [_("This volunteer is verified already.")]})
    password = None
    if volunteer.user_id is not None:
        user = User.objects.select_for_update().get(pk=volunteer.user_id)
        if not user.is_active:
            user.is_active = True
            user.save(update_fields=["is_active"])
    elif link_user is not None:
        user = User.objects.select_for_update().get(pk=link_user.pk)
        if (user.role != Role.VOLUNTEER or user.area_id != volunteer.community_id
                or not user.is_active or Volunteer.objects.filter(user=user).exists()):
            raise ValidationError({"link_user": [_(
                "Choose an active volunteer login of this community that no other volunteer "
                "has.")]})
    else:
        password = initial_password()
        # Those who verify volunteers may give them a volunteer login (staff_create allows
        # it for that role), recorded as theirs.
        user = staff_create(username=_free_username(volunteer), password=password,
                            role=Role.VOLUNTEER, area=volunteer.community,
                            full_name=volunteer.name, by=by)
    volunteer.user = user
    _decide(volunteer, to=VolunteerStatus.VERIFIED, by=by, note="",
            changes={"user": ["", user.username]}, ip=ip)
    return Verified(volunteer=volunteer, username=user.username, password=password)


def _reason(reason: str) -> str:
    reason = _text(reason, field_name="reason", limit=200)
    if not reason:
        raise ValidationError({"reason": [_("Say why: it is kept with the decision.")]})
    return reason


@transaction.atomic
def volunteer_refuse(*, volunteer: Volunteer, by: User, reason: str,
                     ip: str | None = None) -> Volunteer:
    """Do not accept a volunteer waiting for verification; the reason is required.
    Audited."""
    reason = _reason(reason)
    volunteer = _locked(volunteer, by)
    if volunteer.status != VolunteerStatus.APPLIED:
        raise ValidationError({"status": [_("Only a volunteer waiting for verification can be "
                                            "refused; suspend a verified one.")]})
    _decide(volunteer, to=VolunteerStatus.REFUSED, by=by, note=reason, changes={}, ip=ip)
    return volunteer


@transaction.atomic
def volunteer_suspend(*, volunteer: Volunteer, by: User, reason: str,
                      ip: str | None = None) -> tuple[Volunteer, int]:
    """Suspend a verified volunteer (the reason is required): their login is deactivated,
    their open errands go back to the community's queue (new, unassigned, with an event
    the resident may read, which does not say why), and they no longer collect a garbage
    round. Returns the volunteer and how many errands went back. Audited."""
    reason = _reason(reason)
    volunteer = _locked(volunteer, by)
    if volunteer.status != VolunteerStatus.VERIFIED:
        raise ValidationError({"status": [_("Only a verified volunteer can be suspended.")]})
    released = 0
    if volunteer.user_id is not None:
        User.objects.filter(pk=volunteer.user_id).update(is_active=False)
        released = errands_release(helper_id=volunteer.user_id, by=by)
        GarbageRound.objects.filter(helper_id=volunteer.user_id).update(helper=None)
    _decide(volunteer, to=VolunteerStatus.SUSPENDED, by=by, note=reason,
            changes={"errands_released": released}, ip=ip)
    return volunteer, released


@transaction.atomic
def volunteer_phone_reveal(*, volunteer: Volunteer, by: User, ip: str | None = None) -> str:
    """A volunteer's full phone, for those who verify them (to call them); audited."""
    if not Volunteer.objects.filter(_scope_q(by, "community__path"),
                                    pk=volunteer.pk).exists():
        raise Http404
    clear = crypto.unseal(volunteer.phone_sealed, purpose=PHONE)
    audit_record(by=by, action=AuditAction.REVEAL_PHONE, object_type="volunteer",
                 object_id=volunteer.pk, object_label=volunteer.name,
                 area_path=volunteer.community.path, ip=ip)
    return clear

