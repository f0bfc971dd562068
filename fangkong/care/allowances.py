"""Allowance rules: the yuan per day on duty paid to the staff of an area, which rule pays
a day, and the writes that add, end and withdraw a rule. The monthly ledger computed from
them is in `fangkong.care.ledger`.

Who does what: administrators (SET_ALLOWANCES) add, end and withdraw the rules of their
city or district and of the areas below it, down to a community. A rule is never deleted,
because the ledger of past months is computed from it:
- a rule that no longer holds is *ended* (its last day is set), and still pays the days
  before;
- a rule typed wrong is *withdrawn* (who, when and why are kept): it pays nothing, not even
  past days, and a corrected rule may then be added for the same days.

Which rule pays a day: among the rules valid that day (and not withdrawn) whose area is
the staff member's post or an area above it, the rule of the deepest area wins, then the
most specific (role and kind over role over kind over any). The kind is the one of the
staff member's place on the rota; without one, only rules for any kind apply. See
`allowance_rule_for`.

Writes are atomic, refuse with a message a grid worker understands, and are audited
(ALLOWANCE_RULE_CHANGE).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Q, QuerySet
from django.http import Http404
from django.utils import timezone
from django.utils.translation import gettext as _

from fangkong.accounts.models import Role, User
from fangkong.accounts.roles import Can, can
from fangkong.accounts.scope import NOTHING, area_scope_q, path_scope_q
from fangkong.audit.models import AuditAction
from fangkong.audit.services import audit_record
from fangkong.care.models import AllowanceRule, MemberKind
from fangkong.lib import clock
from fangkong.lib.fields import clean_text
from fangkong.places.models import AREA_LEVELS, Area, AreaKind

ALLOWANCE_MAX = Decimal("10000")
FEN = Decimal("0.01")
MAX_WITHDRAWN_REASON = 200  # AllowanceRule.withdrawn_reason
_COMMUNITY_DEPTH = AREA_LEVELS[AreaKind.COMMUNITY]


def _day(value: date | None) -> str:
    return f"{value:%Y-%m-%d}" if value is not None else ""


def role_labels() -> dict[str, str]:
    """The roles' names in the active language (AllowanceRule.role keeps no choices)."""
    return {value: str(label) for value, label in Role.choices}


def yuan(value: object, *, field: str, limit: Decimal, message: str) -> Decimal:
    """`value` (a Decimal or text) as yuan with two decimals, from 0 to `limit`. Raises a
    ValidationError on `field`: `message` when it is no such amount, another when it has
    more than two decimals (fen)."""
    try:
        amount = value if isinstance(value, Decimal) else Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        raise ValidationError({field: [message]}) from None
    if not amount.is_finite() or amount < 0 or amount > limit:
        raise ValidationError({field: [message]})
    if amount != amount.quantize(FEN):
        raise ValidationError({field: [_("Use at most two decimals (fen).")]})
    return amount.quantize(FEN)


# --- Access gates ---------------------------------------------------------------------------


def rule_areas_for_user(user) -> list[Area]:  # noqa: ANN001
    """The areas the user may give an allowance rule: theirs and below, down to a
    community (grids have no rules of their own)."""
    if not can(user, Can.SET_ALLOWANCES):
        return []
    return list(Area.objects.filter(area_scope_q(user), depth__lte=_COMMUNITY_DEPTH)
                .order_by("path"))


def _rules_q(user) -> Q:  # noqa: ANN001
    if not can(user, Can.SET_ALLOWANCES):
        return NOTHING
    return path_scope_q(user, "area_path")


def allowance_rule_for_user(user, rule_id: int) -> AllowanceRule:  # noqa: ANN001
    """The access gate of a rule: 404 unless the user sets allowances and the rule's area
    lies in their own."""
    rule = (AllowanceRule.objects.filter(_rules_q(user), pk=rule_id)
            .select_related("area").first())
    if rule is None:
        raise Http404
    return rule


# --- Reading the rules ----------------------------------------------------------------------


@dataclass
class RuleBook:
    """The rules an administrator sees: those of their area and below still in force or to
    come, the ended ones and the withdrawn ones (the latest 200 of each), and those of the
    areas above, which apply too."""

    current: list[AllowanceRule]
    ended: list[AllowanceRule]
    withdrawn: list[AllowanceRule]
    inherited: list[AllowanceRule]


def _labelled(rules: Iterable[AllowanceRule]) -> list[AllowanceRule]:
    roles = role_labels()
    rules = list(rules)
    for rule in rules:
        rule.role_label = roles.get(rule.role, rule.role)
    return rules


def allowance_rules_for_user(user, *, today: date) -> RuleBook:  # noqa: ANN001
    rules = AllowanceRule.objects.filter(_rules_q(user)).select_related("area", "created_by")
    standing = rules.filter(withdrawn_at__isnull=True)
    in_force = Q(valid_to__isnull=True) | Q(valid_to__gte=today)
    area = getattr(user, "area", None)
    above: QuerySet[AllowanceRule] = AllowanceRule.objects.none()
    if area is not None and not user.is_superuser and can(user, Can.SET_ALLOWANCES):
        above = (AllowanceRule.objects.filter(in_force, area_path__in=area.ancestor_paths(),
                                              withdrawn_at__isnull=True)
                 .select_related("area"))
    return RuleBook(
        current=_labelled(standing.filter(in_force)),
        ended=_labelled(standing.filter(valid_to__lt=today).order_by("-valid_to", "-pk")[:200]),
        withdrawn=_labelled(rules.filter(withdrawn_at__isnull=False)
                            .select_related("withdrawn_by").order_by("-withdrawn_at", "-pk")
                            [:200]),
        inherited=_labelled(above))


# --- Adding, ending and withdrawing a rule --------------------------------------------------


def _overlapping(area: Area, role: str, member_kind: str, valid_from: date,
                 valid_to: date | None) -> QuerySet[AllowanceRule]:
    """The standing rules of the same area, role and kind sharing a day with the given
    days; withdrawn rules pay nothing, so they never overlap."""
    rows = AllowanceRule.objects.filter(area=area, role=role, member_kind=member_kind,
                                        withdrawn_at__isnull=True)
    rows = rows.filter(Q(valid_to__isnull=True) | Q(valid_to__gte=valid_from))
    if valid_to is not None:
        rows = rows.filter(valid_from__lte=valid_to)
    return rows.order_by("valid_from", "pk")


@transaction.atomic
def allowance_rule_add(*, by: User, area: Area, amount: Decimal, valid_from: date,
                       valid_to: date | None = None, role: str = "", member_kind: str = "",
                       ip: str | None = None) -> AllowanceRule:
    """Add a rule: `amount` yuan per day on duty for the staff of `area` (and below) with
    `role` and `member_kind` (blank = any), from `valid_from` until `valid_to` (inclusive;
    None = open). Refuses an area outside the caller's or below a community, and a rule
    overlapping another standing rule of the same area, role and kind. Audited."""
    if not can(by, Can.SET_ALLOWANCES):
        raise PermissionDenied(_("Only the district or city administrator sets allowances."))
    errors: dict[str, list[str]] = {}
    if (area.depth > _COMMUNITY_DEPTH
            or not Area.objects.filter(area_scope_q(by), pk=area.pk).exists()):
        errors["area"] = [_("Choose your area or an area below it, down to a community.")]
    if role not in ("", *Role.values):
        errors["role"] = [_("Choose a role, or any role.")]
    if member_kind not in ("", *MemberKind.values):
        errors["member_kind"] = [_("Choose a kind of staff, or any kind.")]
    try:
        amount = yuan(amount, field="amount", limit=ALLOWANCE_MAX,
                      message=_("Enter the yuan per day on duty, from 0 to 10000."))
    except ValidationError as exc:
        errors.update(exc.message_dict)
    if valid_to is not None and valid_to < valid_from:
        errors["valid_to"] = [_("The last day comes before the first day.")]
    if errors:
        raise ValidationError(errors)
    # Two administrators adding rules for one area at once: the second waits and sees the
    # first one's rule.
    Area.objects.select_for_update().filter(pk=area.pk).first()
    clash = _overlapping(area, role, member_kind, valid_from, valid_to).first()
    if clash is not None:
        raise ValidationError({"valid_from": [_(
            "A rule for the same area, role and kind already applies from %(from)s to "
            "%(to)s (%(amount)s yuan a day). End that rule first, or start this one after "
            "it.") % {"from": _day(clash.valid_from),
                      "to": _day(clash.valid_to) or _("no end date"),
                      "amount": f"{clash.amount:.2f}"}]})
    rule = AllowanceRule.objects.create(
        area=area, area_path=area.path, role=role, member_kind=member_kind, amount=amount,
        valid_from=valid_from, valid_to=valid_to, created_by=by, created_at=clock.now())
    audit_record(by=by, action=AuditAction.ALLOWANCE_RULE_CHANGE, object_type="allowance_rule",
                 object_id=rule.pk, object_label=f"{area.name} {amount:.2f}",
                 area_path=area.path, ip=ip,
                 changes={"role": ["", role], "member_kind": ["", member_kind],
                          "amount": ["", f"{amount:.2f}"], "valid_from": ["", _day(valid_from)],
                          "valid_to": ["", _day(valid_to)]})
    return rule


def _locked_in_scope(rule: AllowanceRule, by: User) -> AllowanceRule:
    """The rule locked for a change, after checking it lies in the caller's area."""
    if not AllowanceRule.objects.filter(_rules_q(by), pk=rule.pk).exists():
        raise PermissionDenied(_("This rule is outside your area."))
    return AllowanceRule.objects.select_for_update().get(pk=rule.pk)


def _already_withdrawn(rule: AllowanceRule) -> ValidationError:
    """The refusal of a change to a withdrawn rule, saying who withdrew it, when and why."""
    who = rule.withdrawn_by.display_name if rule.withdrawn_by else _("someone")
    return ValidationError(_(
        "This rule was already withdrawn on %(day)s by %(name)s (%(reason)s): it pays "
        "nothing. Add a corrected rule instead.") % {
            "day": f"{timezone.localtime(rule.withdrawn_at):%Y-%m-%d}", "name": who,
            "reason": rule.withdrawn_reason})


@transaction.atomic
def allowance_rule_end(*, rule: AllowanceRule, valid_to: date, by: User,
                       ip: str | None = None) -> AllowanceRule:
    """End a rule: `valid_to` becomes its last day. A rule ends earlier, never later (add
    a new rule for the days after) and is never deleted; a withdrawn rule is not ended.
    Audited with the old and new last day."""
    locked = _locked_in_scope(rule, by)
    if locked.withdrawn_at is not None:
        raise _already_withdrawn(locked)
    before = locked.valid_to
    if valid_to < locked.valid_from:
        raise ValidationError({"valid_to": [_(
            "The last day cannot come before the rule's first day (%(day)s).")
            % {"day": _day(locked.valid_from)}]})
    if before is not None and valid_to >= before:
        raise ValidationError({"valid_to": [_(
            "This rule already ends on %(day)s. A rule can end earlier, not later: add a "
            "new rule for the days after.") % {"day": _day(before)}]})
    locked.valid_to = valid_to
    locked.save(update_fields=["valid_to"])
    audit_record(by=by, action=AuditAction.ALLOWANCE_RULE_CHANGE, object_type="allowance_rule",
                 object_id=locked.pk, object_label=f"{locked.area} {locked.amount:.2f}",
                 area_path=locked.area_path, ip=ip,
                 changes={"valid_to": [_day(before), _day(valid_to)]})
    return locked


@transaction.atomic
def allowance_rule_withdraw(*, rule: AllowanceRule, reason: str, by: User,
                            ip: str | None = None) -> AllowanceRule:
    """Withdraw a rule typed wrong: from now on it pays no day at all (past months
    included, so their ledger changes), no longer blocks a rule for the same days, and stays
    on record with who withdrew it, when and `reason` (needed, one line, at most 200
    characters). Refuses a rule outside the caller's area (PermissionDenied) and a rule
    already withdrawn. Audited with the reason."""
    locked = _locked_in_scope(rule, by)
    if locked.withdrawn_at is not None:
        raise _already_withdrawn(locked)
    reason = clean_text(reason, field="reason", limit=MAX_WITHDRAWN_REASON, required=True,
                        collapse_spaces=True, required_message=_(
                            "Say why the rule is withdrawn (for example: amount typed "
                            "wrong)."))
    locked.withdrawn_at, locked.withdrawn_by, locked.withdrawn_reason = clock.now(), by, reason
    locked.save(update_fields=["withdrawn_at", "withdrawn_by", "withdrawn_reason"])
    audit_record(by=by, action=AuditAction.ALLOWANCE_RULE_CHANGE, object_type="allowance_rule",
                 object_id=locked.pk, object_label=f"{locked.area} {locked.amount:.2f}",
                 area_path=locked.area_path, ip=ip,
                 changes={"withdrawn_reason": ["", reason]})
    return locked


# --- Which rule pays a day ------------------------------------------------------------------


def _covers_area(rule: AllowanceRule, area_path: str) -> bool:
    return area_path == rule.area_path or area_path.startswith(rule.area_path + ".")


def _rank(rule: AllowanceRule) -> tuple[int, int]:
    """Deeper area first, then role and kind (3) over role (2) over kind (1) over any."""
    return rule.area_path.count("."), 2 * bool(rule.role) + bool(rule.member_kind)


def _valid_on(rule: AllowanceRule, day: date) -> bool:
    return rule.valid_from <= day and (rule.valid_to is None or day <= rule.valid_to)


def rules_applying(rules: Iterable[AllowanceRule], *, area_path: str, role: str,
                   kind: str) -> list[AllowanceRule]:
    """The rules that may pay a staff member posted at `area_path` with `role` and `kind`
    ("" when not on a rota), whatever the day, the winning one first. Withdrawn rules are
    left out. Pure."""
    found = [r for r in rules if r.withdrawn_at is None and _covers_area(r, area_path)
             and r.role in ("", role) and r.member_kind in ("", kind)]
    return sorted(found, key=lambda r: (*_rank(r), r.valid_from, r.pk or 0), reverse=True)


def first_valid(ranked: Sequence[AllowanceRule], day: date) -> AllowanceRule | None:
    """The rule that pays `day` among rules ranked by `rules_applying`. Pure."""
    return next((r for r in ranked if _valid_on(r, day)), None)


def allowance_rule_for(rules: Iterable[AllowanceRule], *, area_path: str, role: str,
                       kind: str, day: date) -> AllowanceRule | None:
    """The rule that pays a staff member for a day on duty, or None when no rule covers
    it. Pure: reads only the preloaded `rules`."""
    return first_valid(rules_applying(rules, area_path=area_path, role=role, kind=kind), day)
