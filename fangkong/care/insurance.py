"""Insurance of the workers: the policies on record and the cover they give.

Secretaries, street officers and administrators (MANAGE_PAY) see the staff of an area of
theirs with their cover today and record their policies (the page's access gate is
`fangkong.care.ledger.pay_area_for_user`, shared with the allowance ledger); every staff
member reads their own policies. Recording a policy is atomic and audited
(INSURANCE_CHANGE).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from enum import StrEnum

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from fangkong.accounts.models import User
from fangkong.accounts.roles import Can, can
from fangkong.accounts.scope import area_scope_q
from fangkong.audit.models import AuditAction
from fangkong.audit.services import audit_record
from fangkong.care.allowances import yuan
from fangkong.care.models import InsuranceKind, InsurancePolicy
from fangkong.lib import clock
from fangkong.lib.fields import clean_text
from fangkong.lib.text import squash_spaces, to_halfwidth
from fangkong.places.models import Area

SUM_INSURED_MAX = Decimal("99999999.99")  # the column holds 10 digits, 2 of them fen
EXPIRING_DAYS = 30  # cover ending within this many days is flagged on the insurance page
MAX_INSURER = 60
MAX_POLICY_NUMBER = 40


def _active(user) -> bool:  # noqa: ANN001
    return bool(getattr(user, "is_authenticated", False) and user.is_active)


# --- Cover ----------------------------------------------------------------------------------


class Cover(StrEnum):
    COVERED = "covered"
    EXPIRING = "expiring"
    EXPIRED = "expired"
    NONE = "none"


COVER_LABELS = {
    Cover.COVERED: gettext_lazy("Covered"),
    Cover.EXPIRING: gettext_lazy("Cover ends within 30 days"),
    Cover.EXPIRED: gettext_lazy("Not covered: the policy has expired"),
    Cover.NONE: gettext_lazy("Not covered: no policy on record"),
}


@dataclass(frozen=True)
class Coverage:
    """A staff member's cover on a day: `until` is the last day of unbroken cover from
    that day (policies following each other count as one), `starts` the first day of a
    policy still to come when not covered."""

    status: Cover
    until: date | None = None
    starts: date | None = None

    @property
    def label(self) -> str:
        return str(COVER_LABELS[self.status])

    @property
    def bad(self) -> bool:
        return self.status in (Cover.EXPIRED, Cover.NONE)


def coverage_on(policies: Iterable[InsurancePolicy], day: date) -> Coverage:
    """The cover the policies give on `day` (pure). Covered when a policy covers the day;
    flagged as ending when the unbroken cover ends within EXPIRING_DAYS days."""
    policies = list(policies)
    until: date | None = None
    cursor = day
    while True:
        ends = [p.covers_to for p in policies if p.covers_from <= cursor <= p.covers_to]
        if not ends:
            break
        until = max(ends)
        cursor = until + timedelta(days=1)
    if until is not None:
        ending = (until - day).days <= EXPIRING_DAYS
        return Coverage(Cover.EXPIRING if ending else Cover.COVERED, until=until)
    starts = min((p.covers_from for p in policies if p.covers_from > day), default=None)
    had = any(p.covers_to < day for p in policies)
    return Coverage(Cover.EXPIRED if had else Cover.NONE, starts=starts)


# --- The insurance of an area's staff, and one's own ---------------------------------------


@dataclass
class InsuredStaff:
    user: User
    policies: list[InsurancePolicy]
    cover: Coverage


def staff_for_insurance(area: Area) -> list[User]:
    """The active staff posted in `area` or below, with their area and policies."""
    return list(User.objects.filter(area.subtree_q("area__path"), is_active=True)
                .select_related("area").prefetch_related("insurance_policies")
                .order_by("area__path", "full_name", "username"))


_COVER_ORDER = {Cover.NONE: 0, Cover.EXPIRED: 1, Cover.EXPIRING: 2, Cover.COVERED: 3}


def insurance_board(staff: Iterable[User], *, today: date) -> list[InsuredStaff]:
    """Each staff member (from `staff_for_insurance`) with their policies and cover today,
    those not covered first, then those whose cover ends soon."""
    rows = []
    for user in staff:
        policies = list(user.insurance_policies.all())
        rows.append(InsuredStaff(user=user, policies=policies,
                                 cover=coverage_on(policies, today)))
    rows.sort(key=lambda r: _COVER_ORDER[r.cover.status])
    return rows


def my_policies(user) -> list[InsurancePolicy]:  # noqa: ANN001
    """The user's own policies, the latest cover first."""
    if not _active(user):
        return []
    return list(InsurancePolicy.objects.filter(user_id=user.pk).order_by("-covers_to", "pk"))


# --- Recording a policy --------------------------------------------------------------------


def _line(value: str, *, field: str, limit: int) -> str:
    return clean_text(value, field=field, limit=limit, required=True,
                      required_message=_("This is needed."))


@transaction.atomic
def insurance_policy_record(*, by: User, user: User, kind: str, insurer: str,
                            policy_number: str, covers_from: date, covers_to: date,
                            sum_insured: Decimal | None = None,
                            ip: str | None = None) -> InsurancePolicy:
    """Record a policy covering `user`, a staff member posted in the caller's area (who
    manages pay). The policy number is kept without spaces and in half-width characters; the
    same number of the same insurer is recorded once per person. Audited."""
    if not can(by, Can.MANAGE_PAY):
        raise PermissionDenied(_("Your role cannot record insurance policies."))
    if user.area_id is None or not Area.objects.filter(area_scope_q(by),
                                                       pk=user.area_id).exists():
        raise PermissionDenied(_("This staff member works outside your area."))
    errors: dict[str, list[str]] = {}
    if not user.is_active:
        errors["user"] = [_("This staff member's account is closed.")]
    if kind not in InsuranceKind.values:
        errors["kind"] = [_("Choose what the policy insures.")]
    try:
        insurer = " ".join(_line(insurer, field="insurer", limit=MAX_INSURER).split())
    except ValidationError as exc:
        errors.update(exc.message_dict)
    try:
        policy_number = squash_spaces(to_halfwidth(
            _line(policy_number, field="policy_number", limit=MAX_POLICY_NUMBER)))
    except ValidationError as exc:
        errors.update(exc.message_dict)
    if sum_insured is not None:
        try:
            sum_insured = yuan(sum_insured, field="sum_insured", limit=SUM_INSURED_MAX,
                               message=_("Enter the sum insured in yuan, or leave it "
                                         "empty."))
        except ValidationError as exc:
            errors.update(exc.message_dict)
    if covers_to < covers_from:
        errors["covers_to"] = [_("The cover ends before it starts: check the dates.")]
    if errors:
        raise ValidationError(errors)
    duplicate = InsurancePolicy.objects.filter(user=user, insurer__iexact=insurer,
                                               policy_number__iexact=policy_number)
    message = _("Policy %(number)s of %(insurer)s is already recorded for %(name)s.") % {
        "number": policy_number, "insurer": insurer, "name": user.display_name}
    if duplicate.exists():
        raise ValidationError({"policy_number": [message]})
    try:
        with transaction.atomic():
            policy = InsurancePolicy.objects.create(
                user=user, kind=kind, insurer=insurer, policy_number=policy_number,
                sum_insured=sum_insured, covers_from=covers_from, covers_to=covers_to,
                recorded_by=by, recorded_at=clock.now())
    except IntegrityError:  # recorded at the same moment by someone else
        raise ValidationError({"policy_number": [message]}) from None
    audit_record(by=by, action=AuditAction.INSURANCE_CHANGE, object_type="insurance_policy",
                 object_id=policy.pk, object_label=f"{user.display_name} {insurer}",
                 area_path=user.area.path, ip=ip,
                 changes={"user": ["", user.pk], "kind": ["", kind], "insurer": ["", insurer],
                          "policy_number": ["", policy_number],
                          "sum_insured": ["", f"{sum_insured:.2f}" if sum_insured else ""],
                          "covers_from": ["", f"{covers_from:%Y-%m-%d}"],
                          "covers_to": ["", f"{covers_to:%Y-%m-%d}"]})
    return policy
