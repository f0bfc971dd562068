"""Managing a community's gates: the gates, who is on duty, the rules, the devices.

Every write here is keyword-only and atomic, checks that `by` may manage the gates of the
community (MANAGE_GATES and the community in their area: PermissionDenied otherwise),
refuses bad input with a ValidationError on the field in words a worker understands, and
writes one audit event (GATE_CHANGE, on the community's path) in the same transaction.

A gate device authenticates with a bearer token `fkg_...` shown once when it is created;
only its first characters (to tell devices apart) and its SHA-256 are stored.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from datetime import time, timedelta
from decimal import Decimal, InvalidOperation

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils.translation import gettext as _

from fangkong.accounts.models import User
from fangkong.accounts.roles import ROLE_CAPABILITIES, Can, can
from fangkong.accounts.scope import area_scope_q
from fangkong.audit.models import AuditAction
from fangkong.audit.services import audit_record
from fangkong.lib import clock
from fangkong.lib.fields import clean_text
from fangkong.passes.models import Gate, GateDevice, GatePolicy
from fangkong.places.models import Area, AreaKind

DEVICE_TOKEN_PREFIX = "fkg_"  # noqa: S105 - a prefix, not a secret
# A device scans all day: its last use is written at most this often.
DEVICE_SEEN_SECONDS = 60
DEVICE_TOKEN_MAX = 100  # a genuine token is far shorter; longer input is not hashed
LOWEST_THRESHOLD, HIGHEST_THRESHOLD = Decimal("36.0"), Decimal("39.0")
MAX_OUTINGS = 20
MAX_OUTING_DAYS = 30


def _check_manager(by: User, community: Area) -> None:
    if (community.kind != AreaKind.COMMUNITY or not can(by, Can.MANAGE_GATES)
            or not Area.objects.filter(area_scope_q(by), pk=community.pk).exists()):
        raise PermissionDenied(_("You cannot manage the gates of this community."))


def _audit(by: User, community: Area, *, object_type: str, object_id: object, label: str,
           changes: dict[str, list[object]]) -> None:
    audit_record(by=by, action=AuditAction.GATE_CHANGE, object_type=object_type,
                 object_id=object_id, object_label=label, area_path=community.path,
                 changes=changes)


def _gate_name(community: Area, name: str, *, exclude: int | None = None) -> str:
    name = clean_text(name, field="name", limit=40, required=True, collapse_spaces=True,
                      required_message=_("Give the gate a name, e.g. East gate."))
    others = Gate.objects.filter(community=community, name=name)
    if exclude is not None:
        others = others.exclude(pk=exclude)
    if others.exists():
        raise ValidationError({"name": [_("This community already has a gate called "
                                          "%(name)s: choose another name.") % {"name": name}]})
    return name


# Gates ------------------------------------------------------------------------------------


@transaction.atomic
def gate_create(*, community: Area, name: str, by: User) -> Gate:
    """A new gate of `community`, in use, nobody on duty yet. The name is unique in the
    community (ValidationError on "name")."""
    _check_manager(by, community)
    name = _gate_name(community, name)
    gate = Gate.objects.create(community=community, name=name, created_at=clock.now())
    _audit(by, community, object_type="gate", object_id=gate.pk, label=name,
           changes={"name": ["", name]})
    return gate


@transaction.atomic
def gate_update(*, gate: Gate, by: User, name: str | None = None,
                active: bool | None = None) -> Gate:
    """Rename the gate and/or take it out of use (or back into use). Out of use, its
    guards cannot scan there and its devices are refused; its passages stay."""
    community = gate.community
    _check_manager(by, community)
    changes: dict[str, list[object]] = {}
    fields = []
    if name is not None:
        name = _gate_name(community, name, exclude=gate.pk)
        if name != gate.name:
            changes["name"] = [gate.name, name]
            gate.name = name
            fields.append("name")
    if active is not None and active != gate.active:
        changes["active"] = [gate.active, active]
        gate.active = active
        fields.append("active")
    if fields:
        gate.save(update_fields=fields)
        _audit(by, community, object_type="gate", object_id=gate.pk, label=gate.name,
               changes=changes)
    return gate


# Who is on duty ---------------------------------------------------------------------------


def _scanning_roles() -> list[str]:
    return [role for role, capabilities in ROLE_CAPABILITIES.items()
            if Can.SCAN_AT_GATES in capabilities]


def eligible_guards(community: Area) -> QuerySet[User]:
    """The staff who may be put on duty at the community's gates: active users whose role
    can scan (guards, volunteers, workers), posted at the community or one of its grids."""
    return (User.objects.filter(Q(area_id=community.pk) | Q(area__parent_id=community.pk,
                                                            area__kind=AreaKind.GRID),
                                is_active=True, role__in=_scanning_roles())
            .select_related("area").order_by("role", "full_name", "username"))


@transaction.atomic
def gate_guards_set(*, gate: Gate, guards: Iterable[User], by: User) -> Gate:
    """Exactly `guards` are on duty at the gate from now on: the others are taken off.
    Each must be eligible (`eligible_guards`): ValidationError on "guards" otherwise."""
    community = gate.community
    _check_manager(by, community)
    wanted = {u.pk for u in guards}
    allowed = set(eligible_guards(community).filter(pk__in=wanted).values_list("pk", flat=True))
    if wanted - allowed:
        raise ValidationError({"guards": [_("Only guards, volunteers and workers of this "
                                            "community can be put on duty at its gates.")]})
    before = set(gate.guards.values_list("pk", flat=True))
    added, removed = wanted - before, before - wanted
    if added:
        gate.guards.add(*added)
    if removed:
        gate.guards.remove(*removed)
    if added or removed:
        names = dict(User.objects.filter(pk__in=added | removed)
                     .values_list("pk", "username"))
        _audit(by, community, object_type="gate", object_id=gate.pk, label=gate.name,
               changes={"guards": [", ".join(sorted(names[pk] for pk in removed)),
                                   ", ".join(sorted(names[pk] for pk in added))]})
    return gate


# The rules --------------------------------------------------------------------------------


def _whole(value: object, *, field: str, low: int, high: int, message: str) -> int:
    try:
        number = int(str(value).strip())
    except (TypeError, ValueError):
        raise ValidationError({field: [message]}) from None
    if not low <= number <= high:
        raise ValidationError({field: [message]})
    return number


def _threshold(value: object) -> Decimal:
    message = _("Fever starts between 36.0 and 39.0 °C, e.g. 37.3.")
    try:
        reading = Decimal(str(value).strip().replace(",", ".")).quantize(Decimal("0.1"))
    except (InvalidOperation, ValueError):
        raise ValidationError({"fever_threshold": [message]}) from None
    if not LOWEST_THRESHOLD <= reading <= HIGHEST_THRESHOLD:
        raise ValidationError({"fever_threshold": [message]})
    return reading


_POLICY_FIELDS = ("opens_at", "closes_at", "outings_per_household", "outing_days",
                  "visitors_allowed", "fever_threshold", "temperature_for_all")


@transaction.atomic
def gate_policy_update(*, community: Area, by: User, opens_at: time | None,
                       closes_at: time | None, outings_per_household: int, outing_days: int,
                       visitors_allowed: bool, fever_threshold: Decimal | str,
                       temperature_for_all: bool) -> GatePolicy:
    """Set the community's rules at its gates (the row is created the first time).

    Opening hours: both or neither (neither: open day and night); closing before opening
    means open across midnight. "One person every two days" is 1 outing per household per
    2 days; 0 outings means no limit. Fever from 36.0 to 39.0 °C. ValidationError on the
    field otherwise, nothing saved."""
    _check_manager(by, community)
    errors: dict[str, list[str]] = {}
    if (opens_at is None) != (closes_at is None):
        missing = "closes_at" if closes_at is None else "opens_at"
        errors[missing] = [_("Give both the opening and the closing time, or neither for a "
                             "gate open day and night.")]
    elif opens_at is not None and opens_at == closes_at:
        errors["closes_at"] = [_("The gate cannot close when it opens. Leave both times "
                                 "empty for a gate open day and night.")]
    checks = (
        ("outings_per_household", outings_per_household, 0, MAX_OUTINGS,
         _("Outings per household: a whole number from 0 (no limit) to %(n)d.")
         % {"n": MAX_OUTINGS}),
        ("outing_days", outing_days, 1, MAX_OUTING_DAYS,
         _("Every how many days: a whole number from 1 to %(n)d.") % {"n": MAX_OUTING_DAYS}),
    )
    numbers: dict[str, int] = {}
    for field, value, low, high, message in checks:
        try:
            numbers[field] = _whole(value, field=field, low=low, high=high, message=message)
        except ValidationError as exc:
            errors.update(exc.message_dict)
    try:
        threshold = _threshold(fever_threshold)
    except ValidationError as exc:
        errors.update(exc.message_dict)
    if errors:
        raise ValidationError(errors)
    policy = GatePolicy.objects.select_for_update().filter(community=community).first()
    if policy is None:
        policy = GatePolicy(community=community)
    before = {f: getattr(policy, f) for f in _POLICY_FIELDS}
    policy.opens_at, policy.closes_at = opens_at, closes_at
    policy.outings_per_household = numbers["outings_per_household"]
    policy.outing_days = numbers["outing_days"]
    policy.visitors_allowed = bool(visitors_allowed)
    policy.fever_threshold = threshold
    policy.temperature_for_all = bool(temperature_for_all)
    policy.updated_at, policy.updated_by = clock.now(), by
    changes = {f: [_plain(before[f]), _plain(getattr(policy, f))] for f in _POLICY_FIELDS
               if before[f] != getattr(policy, f)}
    created = policy.pk is None
    policy.save()
    if changes or created:
        _audit(by, community, object_type="gate_policy", object_id=community.pk,
               label=community.name, changes=changes)
    return policy


def _plain(value: object) -> object:
    """A value as the audit log's JSON holds it."""
    if isinstance(value, time):
        return value.strftime("%H:%M")
    if isinstance(value, Decimal):
        return str(value)
    return value


# Devices ----------------------------------------------------------------------------------


@transaction.atomic
def gate_device_create(*, gate: Gate, name: str, by: User) -> tuple[GateDevice, str]:
    """A device (scanner kiosk, temperature terminal) of the gate. Returns the row and its
    clear token, to show once: only the first characters and the SHA-256 are stored."""
    community = gate.community
    _check_manager(by, community)
    name = clean_text(name, field="name", limit=40, required=True, collapse_spaces=True,
                      required_message=_("Name the device, e.g. Kiosk by the door."))
    clear = DEVICE_TOKEN_PREFIX + secrets.token_urlsafe(32)
    device = GateDevice.objects.create(
        gate=gate, name=name, prefix=clear[len(DEVICE_TOKEN_PREFIX):][:8],
        digest=GateDevice.digest_of(clear), created_at=clock.now(), created_by=by)
    _audit(by, community, object_type="gate_device", object_id=device.pk,
           label=f"{gate.name} · {name}", changes={"device": ["", f"{name} ({device.prefix}…)"]})
    return device, clear


@transaction.atomic
def gate_device_revoke(*, device: GateDevice, by: User) -> GateDevice:
    """The device's token opens nothing from now on. Revoking twice changes nothing."""
    gate = device.gate
    _check_manager(by, gate.community)
    if device.revoked_at is None:
        device.revoked_at = clock.now()
        device.save(update_fields=["revoked_at"])
        _audit(by, gate.community, object_type="gate_device", object_id=device.pk,
               label=f"{gate.name} · {device.name}",
               changes={"revoked": ["", f"{device.name} ({device.prefix}…)"]})
    return device


def gate_device_for_token(clear: str) -> GateDevice | None:
    """The device behind a gate device token, with its gate; None when the token is
    unknown or revoked, or the gate is no longer in use. Marks the device as used (one
    conditional UPDATE, at most once a minute, so devices scanning all day do not write
    on every scan)."""
    if not clear or not clear.startswith(DEVICE_TOKEN_PREFIX) or len(clear) > DEVICE_TOKEN_MAX:
        return None
    # [:1], not first(): the digest is unique, and an ORDER BY costs time to build.
    found = list(GateDevice.objects.select_related("gate")
                 .filter(digest=GateDevice.digest_of(clear), revoked_at__isnull=True,
                         gate__active=True)[:1])
    if not found:
        return None
    device = found[0]
    now = clock.now()
    stale = now - timedelta(seconds=DEVICE_SEEN_SECONDS)
    if device.last_used_at is None or device.last_used_at <= stale:
        # Conditional: of the scans of the same minute, only the first one writes.
        GateDevice.objects.filter(Q(last_used_at__isnull=True) | Q(last_used_at__lte=stale),
                                  pk=device.pk).update(last_used_at=now)
        device.last_used_at = now
    return device
