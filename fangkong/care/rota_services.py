"""Writes of the shift rota: a community's posts and shifts, its members in teams A and B
and their days off; making a rota plan (by `fangkong.care.rota`), publishing or
discarding it; marking absences; and swaps, which the colleague agrees to and a rota
manager approves.

Every write is atomic and refuses with a message a worker understands. Publishing and the
decision on a swap are written to the audit log. A swap is checked against the same hard
rules the solver keeps (leave, skills, rest hours, days in a row, weekly hours, rest days)
when it is asked for and again when it is approved.
"""

from __future__ import annotations

import time as time_module
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from fangkong.accounts.models import User
from fangkong.audit.models import AuditAction
from fangkong.audit.services import audit_record
from fangkong.care import rota
from fangkong.care.models import (
    SWAP_OPEN,
    Attendance,
    DayOff,
    DayOffKind,
    MemberKind,
    PlanStatus,
    Post,
    PostShift,
    RotaMember,
    RotaPlan,
    ShiftAssignment,
    ShiftSwap,
    SwapStatus,
    Team,
)
from fangkong.care.rota_selectors import communities_for_rota, may_manage
from fangkong.lib import clock
from fangkong.lib.fields import clean_text
from fangkong.places.models import Area, AreaKind

MAX_ROTA_DAYS = 42  # six weeks ahead
MAX_DAY_OFF_DAYS = 92


def rota_rules(*, ab_mode: str = "prefer", ab_block_days: int = 1,
               time_limit_s: float | None = None) -> rota.Rules:
    """The hard rules from the settings, with a plan's A/B alternation."""
    if time_limit_s is None:
        time_limit_s = float(settings.CARE_ROTA_SECONDS)
    return rota.Rules(
        max_consecutive_days=settings.CARE_MAX_CONSECUTIVE_DAYS,
        max_weekly_hours=settings.CARE_MAX_WEEKLY_HOURS,
        min_rest_days_per_week=settings.CARE_MIN_REST_DAYS_PER_WEEK,
        min_rest_hours=settings.CARE_MIN_REST_HOURS,
        ab_mode=ab_mode, ab_block_days=ab_block_days, time_limit_s=time_limit_s, workers=2)


def _text(value: str, *, field: str, limit: int, required: bool = False) -> str:
    return clean_text(value, field=field, limit=limit, required=required)


def _words(value: str, *, field: str) -> str:
    """A comma-separated list of short words (skills, shift names), normalised."""
    value = _text(value.replace("，", ","), field=field, limit=100)
    return ",".join(dict.fromkeys(w.strip() for w in value.split(",") if w.strip()))


def _require_manager(user: User, community_id: int) -> None:
    if not may_manage(user, community_id):
        raise PermissionDenied


# Posts and shifts --------------------------------------------------------------------------


@transaction.atomic
def post_add(*, community: Area, name: str, kind: str, by: User) -> Post:
    _require_manager(by, community.pk)
    if community.kind != AreaKind.COMMUNITY:
        raise ValidationError({"name": [_("Posts belong to a community.")]})
    name = _text(name, field="name", limit=40, required=True)
    if Post.objects.filter(community=community, name=name).exists():
        raise ValidationError({"name": [_("This community already has a post of that name.")]})
    return Post.objects.create(community=community, name=name, kind=kind)


@transaction.atomic
def post_set_active(*, post: Post, active: bool, by: User) -> Post:
    """Take a post out of use (its past shifts stay) or back in."""
    _require_manager(by, post.community_id)
    post.active = active
    post.save(update_fields=["active"])
    return post


@transaction.atomic
def post_shift_add(*, post: Post, name: str, start_hour: int, end_hour: int, people: int,
                   skill: str, by: User) -> PostShift:
    _require_manager(by, post.community_id)
    name = _text(name, field="name", limit=20, required=True)
    errors: dict[str, list[str]] = {}
    if not 0 <= start_hour <= 23:
        errors["start_hour"] = [_("An hour from 0 to 23.")]
    if not 0 <= end_hour <= 24:
        errors["end_hour"] = [_("An hour from 0 to 24.")]
    if not 1 <= people <= 20:
        errors["people"] = [_("From 1 to 20 people.")]
    if errors:
        raise ValidationError(errors)
    hours = (end_hour - start_hour) % 24 or 24
    if hours > 12:
        raise ValidationError({"end_hour": [_(
            "A shift of %(hours)d hours is too long: split it into two shifts of at most "
            "12 hours.") % {"hours": hours}]})
    if PostShift.objects.filter(post=post, name=name).exists():
        raise ValidationError({"name": [_("This post already has a shift of that name.")]})
    return PostShift.objects.create(post=post, name=name, start_hour=start_hour,
                                    end_hour=end_hour, people=people,
                                    skill=_text(skill, field="skill", limit=20))


@transaction.atomic
def post_shift_remove(*, shift: PostShift, by: User) -> None:
    """Remove a shift nobody was ever put on; otherwise take its post out of use."""
    _require_manager(by, shift.post.community_id)
    if shift.assignments.exists():
        raise ValidationError({"shift": [_(
            "People have worked this shift: it stays for the records. Take the post out of "
            "use instead.")]})
    shift.delete()


# Members and days off ---------------------------------------------------------------------


@transaction.atomic
def member_add(*, community: Area, user: User, team: str, kind: str, skills: str,
               avoid_shifts: str, by: User) -> RotaMember:
    _require_manager(by, community.pk)
    area = user.area
    if area is None or not (area.pk == community.pk or area.path.startswith(community.path
                                                                            + ".")):
        raise ValidationError({"user": [_("Only staff of this community can be on its rota.")]})
    if team not in Team.values or kind not in MemberKind.values:
        raise ValidationError({"team": [_("Choose team A or B.")]})
    try:
        with transaction.atomic():
            return RotaMember.objects.create(
                user=user, community=community, team=team, kind=kind,
                skills=_words(skills, field="skills"),
                avoid_shifts=_words(avoid_shifts, field="avoid_shifts"))
    except IntegrityError:
        raise ValidationError({"user": [_("%(name)s is already on a rota.") % {
            "name": user.display_name}]}) from None


@transaction.atomic
def member_update(*, member: RotaMember, team: str, kind: str, skills: str, avoid_shifts: str,
                  active: bool, by: User) -> RotaMember:
    _require_manager(by, member.community_id)
    if team not in Team.values or kind not in MemberKind.values:
        raise ValidationError({"team": [_("Choose team A or B.")]})
    member.team, member.kind, member.active = team, kind, active
    member.skills = _words(skills, field="skills")
    member.avoid_shifts = _words(avoid_shifts, field="avoid_shifts")
    member.save(update_fields=["team", "kind", "active", "skills", "avoid_shifts"])
    return member


@transaction.atomic
def day_off_add(*, member: RotaMember, first_day: date, last_day: date, kind: str, note: str,
                by: User) -> DayOff:
    """Leave (never scheduled) or a wish (avoided where possible) of a rota member. Leave
    that falls on shifts already published is refused: swap those shifts first."""
    _require_manager(by, member.community_id)
    if last_day < first_day:
        raise ValidationError({"last_day": [_("The last day comes before the first.")]})
    if (last_day - first_day).days >= MAX_DAY_OFF_DAYS:
        raise ValidationError({"last_day": [_("At most %(n)d days at a time.") % {
            "n": MAX_DAY_OFF_DAYS}]})
    if kind == DayOffKind.LEAVE:
        clash = (ShiftAssignment.objects.filter(
            user_id=member.user_id, plan__status=PlanStatus.PUBLISHED, day__gte=first_day,
            day__lte=last_day, attendance=Attendance.PLANNED).order_by("day").first())
        if clash is not None:
            raise ValidationError({"first_day": [_(
                "%(name)s has a published shift on %(day)s: ask a colleague to take it "
                "(a swap), or mark it absent, then record the leave.") % {
                "name": member.user.display_name, "day": clash.day.isoformat()}]})
    return DayOff.objects.create(member=member, first_day=first_day, last_day=last_day,
                                 kind=kind, note=_text(note, field="note", limit=100))


@transaction.atomic
def day_off_remove(*, day_off: DayOff, by: User) -> None:
    _require_manager(by, day_off.member.community_id)
    day_off.delete()


# Plans -----------------------------------------------------------------------------------


def _local(day: date, hour: int) -> datetime:
    zone = timezone.get_default_timezone()
    return datetime.combine(day, time(0), tzinfo=zone) + timedelta(hours=hour)


def rota_problem(*, community: Area, first_day: date, days: int,
                 rules: rota.Rules) -> tuple[rota.RotaProblem, dict[tuple[str, str], PostShift]]:
    """The solver's problem for a community, from its posts in use, its active members and
    their days off; and the shifts by (post id, shift name), as the solver names them."""
    posts = list(Post.objects.filter(community=community, active=True)
                 .prefetch_related("shifts").order_by("pk"))
    by_key: dict[tuple[str, str], PostShift] = {}
    problem_posts = []
    for post in posts:
        shifts = []
        for s in post.shifts.all():
            by_key[str(post.pk), s.name] = s
            shifts.append(rota.Shift(name=s.name, start=s.start_hour, end=s.end_hour % 24,
                                     people=s.people, skill=s.skill or None))
        if shifts:
            problem_posts.append(rota.Post(id=str(post.pk), community=community.name,
                                           name=post.name, shifts=tuple(shifts)))
    last_day = first_day + timedelta(days=days - 1)
    members = list(RotaMember.objects.filter(community=community, active=True)
                   .select_related("user").prefetch_related("days_off").order_by("pk"))
    staff = []
    for m in members:
        leave: set[date] = set()
        avoid: set[date] = set()
        for off in m.days_off.all():
            d = max(off.first_day, first_day)
            while d <= min(off.last_day, last_day):
                (leave if off.kind == DayOffKind.LEAVE else avoid).add(d)
                d += timedelta(days=1)
        staff.append(rota.Staff(id=str(m.user_id), name=m.user.display_name,
                                community=community.name, team=rota.Team(m.team),
                                kind=rota.StaffKind(m.kind), skills=m.skill_set,
                                leave=frozenset(leave), avoid_days=frozenset(avoid),
                                avoid_shifts=m.avoid_set))
    return (rota.RotaProblem(start=first_day, days=days, posts=tuple(problem_posts),
                             staff=tuple(staff), rules=rules), by_key)


def rota_plan_make(*, community: Area, first_day: date, days: int, ab_mode: str,
                   ab_block_days: int, by: User, time_limit_s: float | None = None,
                   force_greedy: bool = False) -> RotaPlan:
    """Solve the community's rota for `days` days from `first_day` and keep it as a
    draft, with every shift left short explained. Solving happens outside the
    transaction (it takes up to `time_limit_s`, by default CARE_ROTA_SECONDS);
    `force_greedy` skips CP-SAT (the benchmark's floor)."""
    _require_manager(by, community.pk)
    today = clock.local_today()
    errors: dict[str, list[str]] = {}
    if first_day < today:
        errors["first_day"] = [_("A rota starts today or later.")]
    if not 7 <= days <= MAX_ROTA_DAYS:
        errors["days"] = [_("From 1 to 6 weeks.")]
    if ab_mode not in ("prefer", "strict", "off"):
        errors["ab_mode"] = [_("Choose how the teams take turns.")]
    if not 1 <= ab_block_days <= 7:
        errors["ab_block_days"] = [_("From 1 to 7 days.")]
    if errors:
        raise ValidationError(errors)
    rules = rota_rules(ab_mode=ab_mode, ab_block_days=ab_block_days,
                       time_limit_s=time_limit_s)
    problem, by_key = rota_problem(community=community, first_day=first_day, days=days,
                                   rules=rules)
    if not problem.posts:
        raise ValidationError({"first_day": [_(
            "This community has no post with shifts yet: add them under “Posts and "
            "staff”.")]})
    if not problem.staff:
        raise ValidationError({"first_day": [_(
            "Nobody is on this community's rota yet: add staff under “Posts and staff”.")]})
    result = rota.rota_solve(problem, force_greedy=force_greedy)
    with transaction.atomic():
        plan = RotaPlan.objects.create(
            community=community, first_day=first_day, days=days, ab_mode=ab_mode,
            ab_block_days=ab_block_days, method=result.method, seconds=result.seconds,
            uncovered=result.uncovered, call_ins=len(result.call_ins),
            conflicts=[{"day": c.day.isoformat(), "post": c.post.name, "shift": c.shift.name,
                        "missing": c.missing, "message": c.message}
                       for c in result.conflicts],
            notes=result.notes, created_by=by, created_at=clock.now())
        rows = []
        for a in result.assignments:
            shift = by_key[a.post_id, a.shift]
            starts = _local(a.day, shift.start_hour)
            rows.append(ShiftAssignment(
                plan=plan, community=community, user_id=int(a.staff_id), shift=shift,
                day=a.day, starts_at=starts, ends_at=starts + timedelta(hours=a.hours),
                hours=a.hours, call_in=a.call_in))
        ShiftAssignment.objects.bulk_create(rows, batch_size=500)
    return plan


@dataclass
class AreaRotas:
    """Drafts made for the communities of an area, and the communities skipped (why)."""

    plans: list[RotaPlan]
    skipped: list[tuple[Area, str]]
    seconds: float

    @property
    def uncovered(self) -> int:
        return sum(p.uncovered for p in self.plans)


def rota_plans_make_area(*, area: Area, first_day: date, days: int, ab_mode: str,
                         ab_block_days: int, by: User, seconds: float | None = None,
                         force_greedy: bool = False) -> AreaRotas:
    """Draft rotas for every community of a street (or district) the user manages that has
    posts and staff, sharing `seconds` (by default CARE_AREA_ROTA_SECONDS) among them,
    each community at most CARE_ROTA_SECONDS. A community without posts or staff is
    skipped with the reason; bad dates refuse the whole request."""
    started = time_module.perf_counter()
    communities = [c for c in communities_for_rota(by)
                   if c.pk == area.pk or c.path.startswith(area.path + ".")]
    ready = set(Post.objects.filter(community__in=communities, active=True,
                                    shifts__isnull=False).values_list("community_id",
                                                                      flat=True))
    staffed = set(RotaMember.objects.filter(community__in=communities, active=True)
                  .values_list("community_id", flat=True))
    skipped = [(c, _("no post with shifts") if c.pk not in ready else _("nobody on the rota"))
               for c in communities if c.pk not in ready or c.pk not in staffed]
    todo = [c for c in communities if c.pk in ready and c.pk in staffed]
    total = float(settings.CARE_AREA_ROTA_SECONDS if seconds is None else seconds)
    share = min(float(settings.CARE_ROTA_SECONDS), total / max(len(todo), 1))
    plans = []
    for community in todo:
        plans.append(rota_plan_make(community=community, first_day=first_day, days=days,
                                    ab_mode=ab_mode, ab_block_days=ab_block_days, by=by,
                                    time_limit_s=share, force_greedy=force_greedy))
    return AreaRotas(plans=plans, skipped=skipped,
                     seconds=time_module.perf_counter() - started)


@transaction.atomic
def rota_plan_publish(*, plan: RotaPlan, by: User) -> RotaPlan:
    """Publish a draft: its shifts from today on replace those other plans of the
    community had on its days (shifts already worked stay), and the staff see them. Open
    swaps of replaced shifts end with them."""
    _require_manager(by, plan.community_id)
    plan = RotaPlan.objects.select_for_update().get(pk=plan.pk)
    if plan.status != PlanStatus.DRAFT:
        raise ValidationError({"plan": [_("Only a draft can be published.")]})
    today = clock.local_today()
    if plan.last_day < today:
        raise ValidationError({"plan": [_("All days of this draft have passed: make a new "
                                          "rota.")]})
    plan.assignments.filter(day__lt=today).delete()
    start = max(plan.first_day, today)
    replaced = ShiftAssignment.objects.filter(
        community_id=plan.community_id, plan__status=PlanStatus.PUBLISHED, day__gte=start,
        day__lte=plan.last_day, starts_at__gt=clock.now())
    n_replaced = replaced.count()
    replaced.delete()
    plan.status, plan.published_by, plan.published_at = (PlanStatus.PUBLISHED, by,
                                                         clock.now())
    plan.save(update_fields=["status", "published_by", "published_at"])
    audit_record(by=by, action=AuditAction.ROTA_CHANGE, object_type="rota_plan",
                 object_id=plan.pk, area_path=plan.community.path,
                 object_label=f"{plan.community.name} {plan.first_day}–{plan.last_day}",
                 changes={"status": [PlanStatus.DRAFT, PlanStatus.PUBLISHED],
                          "replaced_shifts": n_replaced})
    return plan


@transaction.atomic
def rota_plan_discard(*, plan: RotaPlan, by: User) -> RotaPlan:
    _require_manager(by, plan.community_id)
    if plan.status != PlanStatus.DRAFT:
        raise ValidationError({"plan": [_("Only a draft can be discarded.")]})
    plan.assignments.all().delete()
    plan.status = PlanStatus.DISCARDED
    plan.save(update_fields=["status"])
    return plan


@transaction.atomic
def shift_mark_absent(*, assignment: ShiftAssignment, absent: bool, note: str,
                      by: User) -> ShiftAssignment:
    """Mark a worked shift absent (it does not count for the allowance), or undo that."""
    _require_manager(by, assignment.community_id)
    if assignment.starts_at > clock.now():
        raise ValidationError({"note": [_("This shift has not started yet: swap it instead.")]})
    assignment.attendance = Attendance.ABSENT if absent else Attendance.PLANNED
    assignment.absence_note = _text(note, field="note", limit=100) if absent else ""
    assignment.save(update_fields=["attendance", "absence_note"])
    return assignment


# Swaps -------------------------------------------------------------------------------------


def _swap_problems(swap: ShiftSwap) -> list[str]:
    """Why the swap would break a rule, for each of the two workers; [] when it keeps
    every hard rule (rules already broken before the swap do not count against it)."""
    plan = swap.shift.plan
    rules = rota_rules(ab_mode="off")
    gives, takes = swap.shift, swap.in_return
    problems = []
    members = {m.user_id: m for m in RotaMember.objects.filter(
        user_id__in=[swap.asked_by_id, swap.colleague_id]).prefetch_related("days_off")}
    for person, new, old in ((swap.colleague, gives, takes), (swap.asked_by, takes, gives)):
        if new is None:
            continue
        member = members.get(person.pk)
        if member is None or not member.active:
            problems.append(_("%(name)s is not on the rota.") % {"name": person.display_name})
            continue
        skill = new.shift.skill
        if skill and skill not in member.skill_set:
            problems.append(_("%(name)s does not have the skill “%(skill)s”.") % {
                "name": person.display_name, "skill": skill})
        if any(off.kind == DayOffKind.LEAVE and off.first_day <= new.day <= off.last_day
               for off in member.days_off.all()):
            problems.append(_("%(name)s is on leave on %(day)s.") % {
                "name": person.display_name, "day": new.day.isoformat()})
        # Within the plan's days, whose weeks the solver counted.
        current = list(ShiftAssignment.objects.filter(
            user_id=person.pk, plan__status=PlanStatus.PUBLISHED, day__gte=plan.first_day,
            day__lte=plan.last_day, attendance=Attendance.PLANNED).select_related("shift"))

        def shifts(rows: list[ShiftAssignment]) -> list[tuple[date, rota.Shift]]:
            return [(a.day, rota.Shift(a.shift.name, a.shift.start_hour,
                                       a.shift.end_hour % 24)) for a in rows]

        after = [a for a in current if old is None or a.pk != old.pk] + [new]
        before_broken = rota.rules_broken(rules, first_day=plan.first_day, days=plan.days,
                                          shifts=shifts(current))
        after_broken = rota.rules_broken(rules, first_day=plan.first_day, days=plan.days,
                                         shifts=shifts(after))
        problems.extend(
            _("%(name)s: %(rule)s.") % {"name": person.display_name,
                                        "rule": rota.rule_words(rule, rules)}
            for rule in sorted(after_broken - before_broken))
    return problems


@transaction.atomic
def swap_ask(*, shift: ShiftAssignment, colleague: User, in_return: ShiftAssignment | None,
             note: str, by: User) -> ShiftSwap:
    """Ask a colleague of the same community to take one of your future shifts,
    optionally taking one of theirs in return. Refused with the reason when it would
    break a rule of the rota."""
    if shift.user_id != by.pk or shift.plan.status != PlanStatus.PUBLISHED:
        raise PermissionDenied
    if shift.starts_at <= clock.now():
        raise ValidationError({"colleague": [_("This shift has started: it can no longer be "
                                               "swapped.")]})
    if colleague.pk == by.pk or not RotaMember.objects.filter(
            user=colleague, community_id=shift.community_id, active=True).exists():
        raise ValidationError({"colleague": [_("Choose a colleague on this community's rota.")]})
    if in_return is not None and (in_return.user_id != colleague.pk
                                  or in_return.plan_id != shift.plan_id
                                  or in_return.starts_at <= clock.now()):
        raise ValidationError({"in_return": [_("Choose one of the colleague's coming shifts.")]})
    swap = ShiftSwap(community_id=shift.community_id, shift=shift, in_return=in_return,
                     asked_by=by, colleague=colleague,
                     note=_text(note, field="note", limit=100), asked_at=clock.now())
    problems = _swap_problems(swap)
    if problems:
        raise ValidationError({"colleague": problems})
    try:
        with transaction.atomic():
            swap.save()
    except IntegrityError:
        raise ValidationError({"colleague": [_(
            "You already asked someone to take this shift: wait for the answer or withdraw "
            "that request.")]}) from None
    return swap


def _locked(swap: ShiftSwap) -> ShiftSwap:
    locked = ShiftSwap.objects.select_for_update().get(pk=swap.pk)
    swap.status = locked.status
    return swap


@transaction.atomic
def swap_answer(*, swap: ShiftSwap, agree: bool, by: User) -> ShiftSwap:
    """The colleague agrees (then it waits for approval) or declines."""
    if by.pk != swap.colleague_id:
        raise PermissionDenied
    swap = _locked(swap)
    if swap.status != SwapStatus.ASKED:
        raise ValidationError({"swap": [_("This request has already been answered.")]})
    swap.status = SwapStatus.AGREED if agree else SwapStatus.DECLINED
    swap.answered_at = clock.now()
    swap.save(update_fields=["status", "answered_at"])
    return swap


@transaction.atomic
def swap_cancel(*, swap: ShiftSwap, by: User) -> ShiftSwap:
    if by.pk != swap.asked_by_id:
        raise PermissionDenied
    swap = _locked(swap)
    if swap.status not in SWAP_OPEN:
        raise ValidationError({"swap": [_("This request is already decided.")]})
    swap.status = SwapStatus.CANCELLED
    swap.save(update_fields=["status"])
    return swap


@transaction.atomic
def swap_decide(*, swap: ShiftSwap, approve: bool, reason: str, by: User) -> ShiftSwap:
    """A rota manager approves (the shifts change hands) or refuses (with a reason) a swap
    the colleague agreed to. The rules are checked again: the rota may have changed."""
    if not may_manage(by, swap.community_id):
        raise PermissionDenied
    swap = _locked(swap)
    if swap.status != SwapStatus.AGREED:
        raise ValidationError({"swap": [_("Only a request the colleague agreed to can be "
                                          "decided.")]})
    reason = _text(reason, field="reason", limit=300)
    if approve:
        if swap.shift.starts_at <= clock.now() or (
                swap.in_return is not None and swap.in_return.starts_at <= clock.now()):
            raise ValidationError({"swap": [_("The shift has started: it can no longer be "
                                              "swapped.")]})
        problems = _swap_problems(swap)
        if problems:
            raise ValidationError({"swap": problems})
        ShiftAssignment.objects.filter(pk=swap.shift_id).update(
            user_id=swap.colleague_id, swapped_from_id=swap.asked_by_id)
        if swap.in_return_id:
            ShiftAssignment.objects.filter(pk=swap.in_return_id).update(
                user_id=swap.asked_by_id, swapped_from_id=swap.colleague_id)
    elif not reason:
        raise ValidationError({"reason": [_("Say why, for the two colleagues.")]})
    swap.status = SwapStatus.APPROVED if approve else SwapStatus.REFUSED
    swap.decided_by, swap.decided_at, swap.reason = by, clock.now(), reason
    swap.save(update_fields=["status", "decided_by", "decided_at", "reason"])
    audit_record(by=by, action=AuditAction.ROTA_CHANGE, object_type="shift_swap",
                 object_id=swap.pk, area_path=swap.community.path,
                 object_label=f"{swap.asked_by.display_name} → {swap.colleague.display_name} "
                              f"{swap.shift.day}",
                 changes={"status": [SwapStatus.AGREED, swap.status]})
    return swap
