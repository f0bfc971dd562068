"""The difficulty workflow: filing, acknowledging, assigning, resolving, rating (and
reopening), escalating the overdue; designating a street's care officers.

Each write is atomic, records a `DifficultyEvent`, and refuses with a message the
worker understands. Reads of a confidential difficulty by anyone but its filer and every
designation change are written to the audit log.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _

from fangkong.accounts.models import Role, User
from fangkong.accounts.roles import Can, can
from fangkong.audit.models import AuditAction
from fangkong.audit.services import audit_record
from fangkong.care.models import (
    LEVEL_ORDER,
    PENDING,
    CareOfficer,
    Difficulty,
    DifficultyEvent,
    DifficultyKind,
    DifficultyStatus,
    Level,
    Urgency,
)
from fangkong.care.selectors import assignees_for, is_care_officer, may_handle
from fangkong.lib import clock
from fangkong.lib.fields import clean_text
from fangkong.places.models import Area, AreaKind

# Hours from filing to the deadline for a resolution, by kind; urgent ones get half.
DEADLINE_HOURS: dict[str, int] = {
    DifficultyKind.PROTECTIVE_EQUIPMENT: 24,
    DifficultyKind.HEALTH: 24,
    DifficultyKind.CHILDCARE: 48,
    DifficultyKind.PAY: 7 * 24,
    DifficultyKind.WORK: 72,
    DifficultyKind.FAMILY: 72,
    DifficultyKind.TRANSPORT: 72,
    DifficultyKind.OTHER: 72,
}
MAX_DETAILS = 1000
MAX_RESOLUTION = 500
MAX_COMMENT = 300
# A rating at or below this reopens the difficulty for the street's care officer.
REOPEN_AT_OR_BELOW = 2


def deadline_hours(kind: str, urgency: str) -> int:
    hours = DEADLINE_HOURS[kind]
    return max(hours // 2, 1) if urgency == Urgency.URGENT else hours


def _clean_text(value: str, *, field: str, limit: int, required: bool) -> str:
    return clean_text(value, field=field, limit=limit, required=required, multiline=True,
                      required_message=_("Write a few words."))


def _post_areas(user: User) -> dict[str, Area]:
    """The district, street and (when there is one) community of the user's post."""
    area = getattr(user, "area", None)
    if area is None:
        return {}
    rows = Area.objects.filter(path__in=[*area.ancestor_paths(), area.path])
    return {a.kind: a for a in rows}


def _handler_at(difficulty: Difficulty, level: str) -> User | None:
    """The first staff member who can take the difficulty at a level, never its filer."""
    users = User.objects.filter(is_active=True).exclude(pk=difficulty.filed_by_id)
    if level == Level.COMMUNITY:
        if difficulty.confidential or not difficulty.community_id:
            return None
        return (users.filter(role=Role.COMMUNITY_SECRETARY, area_id=difficulty.community_id)
                .order_by("pk").first())
    if level == Level.STREET:
        return (users.filter(care_posts__street_id=difficulty.street_id)
                .order_by("care_posts__designated_at", "pk").first())
    if difficulty.confidential:
        return None  # the district sees a confidential difficulty as a count only
    district = Area.objects.get(pk=difficulty.district_id)
    return (users.filter(role=Role.ADMIN, area_id__in=[district.pk, district.parent_id])
            .order_by("-area__depth", "pk").first())


def _route(difficulty: Difficulty, start: str) -> tuple[str, User | None]:
    """The first level from `start` up with someone to take it, and that person; when
    nobody can, `start` and nobody."""
    for level in LEVEL_ORDER[LEVEL_ORDER.index(start):]:
        user = _handler_at(difficulty, level)
        if user is not None:
            return level, user
    return start, None


def _first_level(difficulty: Difficulty) -> str:
    return Level.STREET if difficulty.confidential or not difficulty.community_id \
        else Level.COMMUNITY


def _event(difficulty: Difficulty, what: str, by: User | None, at: datetime,
           detail: str = "") -> None:
    DifficultyEvent.objects.create(difficulty=difficulty, what=what, by=by, at=at,
                                   detail=detail[:200])


def _holder(user: User | None, level: str) -> str:
    return user.display_name if user is not None else str(Level(level).label)


@transaction.atomic
def difficulty_file(*, by: User, kind: str, details: str, urgency: str = Urgency.NORMAL,
                    confidential: bool = False) -> Difficulty:
    """File a difficulty for the caller. It goes to the community secretary (the street's
    care officer when confidential or when the filer works at the street), with a
    deadline by kind and urgency."""
    if not getattr(by, "is_authenticated", False) or not by.is_active:
        raise PermissionDenied
    errors: dict[str, list[str]] = {}
    if kind not in DifficultyKind.values:
        errors["kind"] = [_("Choose what the difficulty is about.")]
    if urgency not in Urgency.values:
        errors["urgency"] = [_("Choose normal or urgent.")]
    try:
        details = _clean_text(details, field="details", limit=MAX_DETAILS, required=True)
    except ValidationError as exc:
        errors.update(exc.message_dict)
    areas = _post_areas(by)
    if AreaKind.STREET not in areas:
        errors["__all__"] = [_("Difficulties are heard by the care officer of your street; "
                               "your account has no street. Ask a colleague at the "
                               "district.")]
    if errors:
        raise ValidationError(errors)
    now = clock.now()
    hours = deadline_hours(kind, urgency)
    difficulty = Difficulty(
        filed_by=by, area_path=by.area.path, district=areas[AreaKind.DISTRICT],
        street=areas[AreaKind.STREET], community=areas.get(AreaKind.COMMUNITY), kind=kind,
        details=details, urgency=urgency, confidential=bool(confidential), filed_at=now,
        deadline_hours=hours, due_at=now + timedelta(hours=hours))
    difficulty.level, difficulty.assigned_to = _route(difficulty, _first_level(difficulty))
    difficulty.save()
    _event(difficulty, "filed", by, now, _holder(difficulty.assigned_to, difficulty.level))
    return difficulty


def _lock_pending(difficulty: Difficulty, by: User) -> Difficulty:
    if not may_handle(by, difficulty):
        raise PermissionDenied(_("You cannot act on this difficulty."))
    locked = Difficulty.objects.select_for_update().get(pk=difficulty.pk)
    if locked.status not in PENDING:
        raise ValidationError({"__all__": [_("This difficulty was already resolved.")]})
    return locked


@transaction.atomic
def difficulty_acknowledge(*, difficulty: Difficulty, by: User) -> Difficulty:
    """Tell the filer someone has it; whoever acknowledges an unheld one holds it."""
    locked = _lock_pending(difficulty, by)
    if locked.status == DifficultyStatus.ACKNOWLEDGED:
        raise ValidationError({"__all__": [_("This difficulty was already acknowledged.")]})
    now = clock.now()
    locked.status = DifficultyStatus.ACKNOWLEDGED
    locked.acknowledged_at = now
    fields = ["status", "acknowledged_at"]
    if locked.assigned_to_id is None:
        locked.assigned_to = by
        fields.append("assigned_to")
    locked.save(update_fields=fields)
    _event(locked, "acknowledged", by, now)
    return locked


@transaction.atomic
def difficulty_assign(*, difficulty: Difficulty, to: User, by: User) -> Difficulty:
    """Give a pending difficulty to a staff member who can act on it: a care officer of
    its street or, unless it is confidential, a secretary of its community."""
    locked = _lock_pending(difficulty, by)
    if to.pk not in {u.pk for u in assignees_for(locked)}:
        raise ValidationError({"to": [_("Choose the secretary of the community or a care "
                                        "officer of the street.")]})
    if locked.assigned_to_id == to.pk:
        raise ValidationError({"to": [_("It is already with them.")]})
    locked.assigned_to = to
    locked.level = Level.STREET if is_care_officer(to, locked.street_id) else Level.COMMUNITY
    locked.save(update_fields=["assigned_to", "level"])
    _event(locked, "assigned", by, clock.now(), to.display_name)
    return locked


@transaction.atomic
def difficulty_resolve(*, difficulty: Difficulty, by: User, resolution: str) -> Difficulty:
    """Record what was done; the filer then rates it."""
    resolution = _clean_text(resolution, field="resolution", limit=MAX_RESOLUTION,
                             required=True)
    locked = _lock_pending(difficulty, by)
    now = clock.now()
    locked.status = DifficultyStatus.RESOLVED
    locked.resolved_at = now
    locked.resolved_by = by
    locked.resolution = resolution
    if locked.acknowledged_at is None:
        locked.acknowledged_at = now
    locked.save(update_fields=["status", "resolved_at", "resolved_by", "resolution",
                               "acknowledged_at"])
    _event(locked, "resolved", by, now, resolution)
    return locked


@transaction.atomic
def difficulty_rate(*, difficulty: Difficulty, by: User, rating: int,
                    comment: str = "") -> Difficulty:
    """The filer rates a resolved difficulty (1-5). At 2 or below it opens again, for the
    street's care officer, with a fresh deadline; otherwise it closes."""
    if difficulty.filed_by_id != by.pk:
        raise PermissionDenied(_("Only the person who filed it rates the result."))
    if not isinstance(rating, int) or not 1 <= rating <= 5:
        raise ValidationError({"rating": [_("Choose from 1 to 5 stars.")]})
    comment = _clean_text(comment, field="comment", limit=MAX_COMMENT, required=False)
    locked = Difficulty.objects.select_for_update().get(pk=difficulty.pk)
    if locked.status != DifficultyStatus.RESOLVED:
        raise ValidationError({"rating": [_("It can be rated once it is resolved.")]})
    now = clock.now()
    locked.rating = rating
    locked.rating_comment = comment
    locked.rated_at = now
    _event(locked, "rated", by, now, f"{rating}★ {comment}".strip())
    if rating > REOPEN_AT_OR_BELOW:
        locked.status = DifficultyStatus.CLOSED
        locked.save(update_fields=["rating", "rating_comment", "rated_at", "status"])
        return locked
    locked.status = DifficultyStatus.OPEN
    locked.times_reopened += 1
    locked.acknowledged_at = None
    locked.resolved_at = None
    locked.resolved_by = None
    locked.resolution = ""
    locked.level, assignee = _route(locked, Level.STREET)
    locked.assigned_to = assignee
    locked.due_at = now + timedelta(hours=locked.deadline_hours)
    locked.save(update_fields=["rating", "rating_comment", "rated_at", "status",
                               "times_reopened", "acknowledged_at", "resolved_at",
                               "resolved_by", "resolution", "level", "assigned_to", "due_at"])
    _event(locked, "reopened", None, now, _holder(assignee, locked.level))
    return locked


def difficulties_escalate(*, now: datetime | None = None) -> int:
    """Hand each pending difficulty past its deadline one level up (community secretary ->
    street care officer -> district administrator), with a new deadline of the same
    length. A confidential one climbs to the district as a count: it stays with the care
    officer. Idempotent; runs every 10 minutes."""
    now = now or clock.now()
    moved = 0
    overdue = (Difficulty.objects.filter(status__in=PENDING, due_at__lte=now)
               .exclude(level=Level.DISTRICT))
    for difficulty in overdue.iterator(chunk_size=500):
        up = LEVEL_ORDER[LEVEL_ORDER.index(difficulty.level) + 1]
        level, assignee = _route(difficulty, up)
        if assignee is None:
            assignee = difficulty.assigned_to
        with transaction.atomic():
            updated = Difficulty.objects.filter(
                pk=difficulty.pk, status__in=PENDING, level=difficulty.level,
                due_at=difficulty.due_at).update(
                level=level, assigned_to=assignee,
                due_at=now + timedelta(hours=difficulty.deadline_hours))
            if updated:
                changed = assignee is not None and assignee.pk != difficulty.assigned_to_id
                detail = assignee.display_name if changed else str(Level(level).label)
                _event(difficulty, "escalated", None, now, detail)
                moved += 1
    return moved


def difficulty_read_audit(*, difficulty: Difficulty, by: User, ip: str | None = None) -> None:
    """Write to the audit log that someone other than its filer read a confidential
    difficulty (the label names only its number)."""
    if not difficulty.confidential or difficulty.filed_by_id == by.pk:
        return
    audit_record(by=by, action=AuditAction.DIFFICULTY_VIEW, object_type="difficulty",
                 object_id=difficulty.pk, object_label=f"#{difficulty.pk}",
                 area_path=difficulty.street.path, ip=ip)


# Care officers ----------------------------------------------------------------------------


def _require_designation(by: User) -> None:
    if not can(by, Can.DESIGNATE_CARE_OFFICERS):
        raise PermissionDenied(_("Your role cannot designate care officers."))


@transaction.atomic
def care_officer_designate(*, street: Area, user: User, by: User) -> CareOfficer:
    """Make a staff member of the street one of its care officers (the caller has passed
    the street's gate). Audited."""
    _require_designation(by)
    if street.kind != AreaKind.STREET:
        raise ValidationError({"user": [_("Care officers are designated for a street.")]})
    if (not user.is_active or user.area is None
            or not (user.area.path == street.path
                    or user.area.path.startswith(street.path + "."))):
        raise ValidationError({"user": [_("Choose a staff member who works in this "
                                          "street.")]})
    try:
        with transaction.atomic():
            officer = CareOfficer.objects.create(user=user, street=street, designated_by=by,
                                                 designated_at=clock.now())
    except IntegrityError as exc:
        raise ValidationError({"user": [_("They are a care officer of this street "
                                          "already.")]}) from exc
    audit_record(by=by, action=AuditAction.CARE_OFFICER_CHANGE, object_type="care_officer",
                 object_id=user.pk, object_label=user.display_name, area_path=street.path,
                 changes={"care_officer": ["", user.username]})
    # Difficulties of the street that nobody holds go to the new officer.
    now = clock.now()
    for difficulty in Difficulty.objects.filter(street=street, status__in=PENDING,
                                                assigned_to__isnull=True).exclude(
                                                    filed_by=user):
        Difficulty.objects.filter(pk=difficulty.pk).update(assigned_to=user,
                                                           level=Level.STREET)
        _event(difficulty, "assigned", by, now, user.display_name)
    return officer


@transaction.atomic
def care_officer_remove(*, officer: CareOfficer, by: User) -> None:
    """End a designation. The pending difficulties the officer held in that street go to
    the next one who can take them. Audited."""
    _require_designation(by)
    street, user = officer.street, officer.user
    officer.delete()
    audit_record(by=by, action=AuditAction.CARE_OFFICER_CHANGE, object_type="care_officer",
                 object_id=user.pk, object_label=user.display_name, area_path=street.path,
                 changes={"care_officer": [user.username, ""]})
    now = clock.now()
    for difficulty in Difficulty.objects.filter(street=street, status__in=PENDING,
                                                assigned_to=user):
        level, assignee = _route(difficulty, Level.STREET)
        Difficulty.objects.filter(pk=difficulty.pk).update(level=level, assigned_to=assignee)
        _event(difficulty, "assigned", by, now, _holder(assignee, level))
