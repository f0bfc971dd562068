from __future__ import annotations

from collections import defaultdict
from datetime import date, timedelta

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from fangkong.accounts.models import User
from fangkong.audit.models import AuditAction, AuditEvent
from fangkong.care import rota, rota_services
from fangkong.care.models import (
    DayOffKind,
    PlanStatus,
    ShiftAssignment,
    ShiftSwap,
    SwapStatus,
    worked_q,
)
from fangkong.lib import clock
from tests.care.rota_fixtures import FIRST_DAY, RotaCommunity, rota_community
from tests.factories import field_messages

pytestmark = pytest.mark.usefixtures("english")


@pytest.fixture(autouse=True)
def quick_solver(settings):  # noqa: ANN001
    settings.CARE_ROTA_SECONDS = 1


@pytest.fixture
def rc(community_secretary) -> RotaCommunity:  # noqa: ANN001
    return rota_community(community_secretary)


def make(rc: RotaCommunity, *, days: int = 7, ab_mode: str = "prefer", first_day=FIRST_DAY):  # noqa: ANN001, ANN201
    return rota_services.rota_plan_make(community=rc.community, first_day=first_day,
                                        days=days, ab_mode=ab_mode, ab_block_days=1,
                                        by=rc.secretary)


def published(rc: RotaCommunity, **kwargs):  # noqa: ANN003, ANN201
    return rota_services.rota_plan_publish(plan=make(rc, **kwargs), by=rc.secretary)


def shifts_by_user(plan) -> dict[int, list[ShiftAssignment]]:  # noqa: ANN001
    by_user: dict[int, list[ShiftAssignment]] = defaultdict(list)
    for a in plan.assignments.select_related("shift"):
        by_user[a.user_id].append(a)
    return by_user


# Making and publishing -----------------------------------------------------------------------


def test_a_made_rota_covers_every_shift_and_keeps_every_rule(rc):  # noqa: ANN001
    plan = make(rc, days=14)
    assert plan.status == PlanStatus.DRAFT
    assert plan.uncovered == 0 and plan.conflicts == []
    rows = list(plan.assignments.all())
    assert len(rows) == 14 * 3  # three one-person shifts a day
    assert {(a.day, a.shift_id) for a in rows} == {
        (FIRST_DAY + timedelta(days=d), s.pk) for d in range(14)
        for s in (rc.day, rc.evening, rc.night)}
    rules = rota_services.rota_rules()
    for assignments in shifts_by_user(plan).values():
        shifts = [(a.day, rota.Shift(a.shift.name, a.shift.start_hour, a.shift.end_hour % 24))
                  for a in assignments]
        assert rota.rules_broken(rules, first_day=FIRST_DAY, days=14, shifts=shifts) == set()


def test_shift_times_are_local_and_a_midnight_end_is_the_next_day(rc):  # noqa: ANN001
    plan = make(rc)
    evening = plan.assignments.filter(shift=rc.evening).order_by("day").first()
    local = clock.now().tzinfo
    assert evening.starts_at.astimezone(local).hour == 16
    assert evening.ends_at.astimezone(local).date() == evening.day + timedelta(days=1)
    assert evening.hours == 8


def test_leave_is_never_scheduled_and_a_wish_is_kept_when_possible(rc):  # noqa: ANN001
    on_leave, wishing = rc.members[0], rc.members[2]
    rota_services.day_off_add(member=on_leave, first_day=FIRST_DAY,
                              last_day=FIRST_DAY + timedelta(days=6), kind=DayOffKind.LEAVE,
                              note="探亲", by=rc.secretary)
    rota_services.day_off_add(member=wishing, first_day=FIRST_DAY, last_day=FIRST_DAY,
                              kind=DayOffKind.WISH, note="", by=rc.secretary)
    # Without teams, others are free that day (a call-in of the team off duty would cost
    # more than the broken wish).
    plan = make(rc, ab_mode="off")
    assert not plan.assignments.filter(user=on_leave.user).exists()
    assert not plan.assignments.filter(user=wishing.user, day=FIRST_DAY).exists()


def test_a_shift_nobody_can_take_is_explained_not_hidden(rc):  # noqa: ANN001
    office = rota_services.post_add(community=rc.community, name="办公室", kind="office",
                                    by=rc.secretary)
    rota_services.post_shift_add(post=office, name="白班", start_hour=9, end_hour=17, people=1,
                                 skill="财务", by=rc.secretary)
    plan = make(rc)
    assert plan.uncovered == 7
    assert len(plan.conflicts) == 7
    assert all("财务" in c["message"] and c["post"] == "办公室" for c in plan.conflicts)
    # The rest of the rota is still made.
    assert plan.assignments.count() == 21


def test_too_few_staff_leaves_shifts_short_with_the_reason(community_secretary):  # noqa: ANN001
    rc = rota_community(community_secretary, staff=2)
    plan = make(rc, ab_mode="strict")
    assert plan.uncovered > 0
    assert plan.status == PlanStatus.DRAFT
    assert all(c["message"] for c in plan.conflicts)


@pytest.mark.parametrize(("changes", "field", "words"), [
    ({"first_day": date(2026, 11, 30)}, "first_day", "today or later"),
    ({"days": 3}, "days", "1 to 6 weeks"),
    ({"days": 49}, "days", "1 to 6 weeks"),
    ({"ab_mode": "sometimes"}, "ab_mode", "teams take turns"),
])
def test_bad_rota_requests_are_refused_with_the_reason(rc, changes, field, words):  # noqa: ANN001
    args = {"community": rc.community, "first_day": FIRST_DAY, "days": 7,
            "ab_mode": "prefer", "ab_block_days": 1, "by": rc.secretary, **changes}
    with pytest.raises(ValidationError) as excinfo:
        rota_services.rota_plan_make(**args)
    assert words in field_messages(excinfo)[field]


def test_a_community_without_posts_or_staff_gets_told_what_to_add(community_secretary):  # noqa: ANN001
    with pytest.raises(ValidationError) as excinfo:
        rota_services.rota_plan_make(community=community_secretary.area, first_day=FIRST_DAY,
                                     days=7, ab_mode="prefer", ab_block_days=1,
                                     by=community_secretary)
    assert "no post" in field_messages(excinfo)["first_day"]


def test_only_the_communitys_rota_managers_make_rotas(rc, city, grid_worker):  # noqa: ANN001
    for outsider in (grid_worker, city.persona("other_street_officer"), rc.user(0)):
        with pytest.raises(PermissionDenied):
            rota_services.rota_plan_make(community=rc.community, first_day=FIRST_DAY, days=7,
                                         ab_mode="prefer", ab_block_days=1, by=outsider)
    street_officer = city.persona("street_officer")
    plan = rota_services.rota_plan_make(community=rc.community, first_day=FIRST_DAY, days=7,
                                        ab_mode="prefer", ab_block_days=1, by=street_officer)
    assert plan.created_by == street_officer


def test_publishing_replaces_the_coming_shifts_of_earlier_rotas_and_is_audited(rc):  # noqa: ANN001
    first = published(rc, days=14)
    with clock.pinned(clock.now() + timedelta(days=3)):
        second = published(rc, days=7, first_day=FIRST_DAY + timedelta(days=3))
    first_days = set(first.assignments.values_list("day", flat=True))
    # Days before the second rota stay with the first; its days are the second's alone.
    assert first_days == {FIRST_DAY + timedelta(days=d) for d in (0, 1, 2, *range(10, 14))}
    assert second.assignments.count() == 21
    event = AuditEvent.objects.filter(action=AuditAction.ROTA_CHANGE,
                                      object_id=str(second.pk)).get()
    assert event.changes["replaced_shifts"] == 21


def test_drafts_are_not_seen_and_only_a_draft_is_published_or_discarded(rc):  # noqa: ANN001
    plan = make(rc)
    assert not ShiftAssignment.objects.filter(worked_q(clock.now() + timedelta(days=30))
                                              ).exists()
    rota_services.rota_plan_discard(plan=plan, by=rc.secretary)
    assert plan.status == PlanStatus.DISCARDED and not plan.assignments.exists()
    with pytest.raises(ValidationError):
        rota_services.rota_plan_publish(plan=plan, by=rc.secretary)


def test_an_absent_shift_does_not_count_as_worked(rc):  # noqa: ANN001
    plan = published(rc)
    later = clock.now() + timedelta(days=3)
    with clock.pinned(later):
        worked = ShiftAssignment.objects.filter(worked_q(later), plan=plan)
        n = worked.count()
        assert n > 0
        rota_services.shift_mark_absent(assignment=worked.first(), absent=True, note="病假",
                                        by=rc.secretary)
        assert ShiftAssignment.objects.filter(worked_q(later), plan=plan).count() == n - 1
    future = plan.assignments.order_by("-day").first()
    with pytest.raises(ValidationError):
        rota_services.shift_mark_absent(assignment=future, absent=True, note="",
                                        by=rc.secretary)


# Setup -------------------------------------------------------------------------------------


def test_shift_definitions_are_checked(rc):  # noqa: ANN001
    with pytest.raises(ValidationError) as excinfo:
        rota_services.post_shift_add(post=rc.gate, name="长班", start_hour=6, end_hour=22,
                                     people=1, skill="", by=rc.secretary)
    assert "16 hours" in field_messages(excinfo)["end_hour"]
    with pytest.raises(ValidationError) as excinfo:
        rota_services.post_shift_add(post=rc.gate, name="白班", start_hour=8, end_hour=12,
                                     people=1, skill="", by=rc.secretary)
    assert "already" in field_messages(excinfo)["name"]
    with pytest.raises(ValidationError):
        rota_services.post_add(community=rc.community, name="东门卡口", kind="gate",
                               by=rc.secretary)


def test_only_the_communitys_staff_join_its_rota_once(rc, city):  # noqa: ANN001
    outsider = city.persona("other_grid_worker")
    with pytest.raises(ValidationError) as excinfo:
        rota_services.member_add(community=rc.community, user=outsider, team="A",
                                 kind="worker", skills="", avoid_shifts="", by=rc.secretary)
    assert "Only staff of this community" in field_messages(excinfo)["user"]
    with pytest.raises(ValidationError) as excinfo:
        rota_services.member_add(community=rc.community, user=rc.user(0), team="A",
                                 kind="worker", skills="", avoid_shifts="", by=rc.secretary)
    assert "already on a rota" in field_messages(excinfo)["user"]


def test_skills_are_normalised_and_full_width_commas_accepted(rc):  # noqa: ANN001
    member = rota_services.member_update(member=rc.members[0], team="B", kind="cadre",
                                         skills=" 驾驶，财务, 驾驶 ", avoid_shifts="夜班",
                                         active=True, by=rc.secretary)
    assert member.skills == "驾驶,财务"
    assert member.skill_set == {"驾驶", "财务"}


def test_leave_over_a_published_shift_is_refused_until_it_is_swapped(rc):  # noqa: ANN001
    plan = published(rc)
    a = plan.assignments.select_related("user__rota_member").first()
    with pytest.raises(ValidationError) as excinfo:
        rota_services.day_off_add(member=a.user.rota_member, first_day=a.day, last_day=a.day,
                                  kind=DayOffKind.LEAVE, note="", by=rc.secretary)
    assert a.day.isoformat() in field_messages(excinfo)["first_day"]
    # A wish is only a preference: it is recorded.
    rota_services.day_off_add(member=a.user.rota_member, first_day=a.day, last_day=a.day,
                              kind=DayOffKind.WISH, note="", by=rc.secretary)


# Swaps -------------------------------------------------------------------------------------


def _free_colleague(plan, shift: ShiftAssignment) -> User:  # noqa: ANN001
    """A colleague with no shift the day before, that day or the day after."""
    busy = set(plan.assignments.filter(day__gte=shift.day - timedelta(days=1),
                                       day__lte=shift.day + timedelta(days=1))
               .values_list("user_id", flat=True))
    return User.objects.filter(rota_member__community=shift.community_id,
                               rota_member__active=True).exclude(pk__in=busy).first()


def test_a_swap_agreed_and_approved_moves_the_shift_and_is_audited(rc):  # noqa: ANN001
    plan = published(rc)
    shift = plan.assignments.filter(shift=rc.day).order_by("day").last()
    asker, colleague = shift.user, _free_colleague(plan, shift)
    swap = rota_services.swap_ask(shift=shift, colleague=colleague, in_return=None,
                                  note="孩子发烧", by=asker)
    assert swap.status == SwapStatus.ASKED
    with pytest.raises(PermissionDenied):
        rota_services.swap_answer(swap=swap, agree=True, by=asker)
    rota_services.swap_answer(swap=swap, agree=True, by=colleague)
    with pytest.raises(PermissionDenied):
        rota_services.swap_decide(swap=swap, approve=True, reason="", by=colleague)
    rota_services.swap_decide(swap=swap, approve=True, reason="", by=rc.secretary)
    shift.refresh_from_db()
    assert shift.user_id == colleague.pk and shift.swapped_from_id == asker.pk
    assert ShiftSwap.objects.get(pk=swap.pk).status == SwapStatus.APPROVED
    assert AuditEvent.objects.filter(action=AuditAction.ROTA_CHANGE,
                                     object_type="shift_swap", object_id=str(swap.pk)).exists()


def test_an_exchange_gives_each_the_others_shift(rc):  # noqa: ANN001
    plan = published(rc)
    mine = plan.assignments.filter(shift=rc.day).order_by("day").first()
    theirs = plan.assignments.filter(shift=rc.day, day=mine.day + timedelta(days=1)).first()
    if theirs.user_id == mine.user_id:
        pytest.skip("the same person works both days")
    swap = rota_services.swap_ask(shift=mine, colleague=theirs.user, in_return=theirs,
                                  note="", by=mine.user)
    rota_services.swap_answer(swap=swap, agree=True, by=theirs.user)
    rota_services.swap_decide(swap=swap, approve=True, reason="", by=rc.secretary)
    mine_user, their_user = mine.user_id, theirs.user_id
    mine.refresh_from_db()
    theirs.refresh_from_db()
    assert (mine.user_id, theirs.user_id) == (their_user, mine_user)


def test_a_swap_that_would_break_a_rule_is_refused_with_the_rule(rc):  # noqa: ANN001
    plan = published(rc)
    night = plan.assignments.filter(shift=rc.night).order_by("day").last()
    day_shift = plan.assignments.filter(shift=rc.day, day=night.day).first()
    if day_shift.user_id == night.user_id:
        pytest.skip("the solver never does this")
    # The night worker would work 0–8 and then 8–16 the same day.
    with pytest.raises(ValidationError) as excinfo:
        rota_services.swap_ask(shift=day_shift, colleague=night.user, in_return=None,
                               note="", by=day_shift.user)
    message = field_messages(excinfo)["colleague"]
    assert night.user.display_name in message
    rules = rota_services.rota_rules()
    assert rota.rule_words(rota.Rule.SAME_DAY, rules) in message
    assert rota.rule_words(rota.Rule.REST_HOURS, rules) in message


def test_a_colleague_on_leave_cannot_take_a_shift(rc):  # noqa: ANN001
    plan = published(rc)
    shift = plan.assignments.order_by("day").last()
    colleague = _free_colleague(plan, shift)
    rota_services.day_off_add(member=colleague.rota_member, first_day=shift.day,
                              last_day=shift.day, kind=DayOffKind.LEAVE, note="",
                              by=rc.secretary)
    with pytest.raises(ValidationError) as excinfo:
        rota_services.swap_ask(shift=shift, colleague=colleague, in_return=None, note="",
                               by=shift.user)
    assert "on leave" in field_messages(excinfo)["colleague"]


def test_swap_requests_out_of_order_are_refused(rc, city):  # noqa: ANN001
    plan = published(rc)
    shift = plan.assignments.order_by("day").last()
    colleague = _free_colleague(plan, shift)
    # Not one's own shift; someone outside the rota; the same shift twice.
    with pytest.raises(PermissionDenied):
        rota_services.swap_ask(shift=shift, colleague=colleague, in_return=None, note="",
                               by=colleague)
    with pytest.raises(ValidationError):
        rota_services.swap_ask(shift=shift, colleague=city.persona("grid_worker"),
                               in_return=None, note="", by=shift.user)
    swap = rota_services.swap_ask(shift=shift, colleague=colleague, in_return=None, note="",
                                  by=shift.user)
    with pytest.raises(ValidationError) as excinfo:
        rota_services.swap_ask(shift=shift, colleague=colleague, in_return=None, note="",
                               by=shift.user)
    assert "already asked" in field_messages(excinfo)["colleague"]
    # Deciding before the colleague agreed; refusing without a reason.
    with pytest.raises(ValidationError):
        rota_services.swap_decide(swap=swap, approve=True, reason="", by=rc.secretary)
    rota_services.swap_answer(swap=swap, agree=True, by=colleague)
    with pytest.raises(ValidationError) as excinfo:
        rota_services.swap_decide(swap=swap, approve=False, reason="", by=rc.secretary)
    assert "Say why" in field_messages(excinfo)["reason"]
    rota_services.swap_decide(swap=swap, approve=False, reason="人手不够", by=rc.secretary)
    shift.refresh_from_db()
    assert shift.user_id != colleague.pk
    with pytest.raises(ValidationError):
        rota_services.swap_answer(swap=swap, agree=True, by=colleague)


def test_a_declined_or_withdrawn_request_frees_the_shift_for_another(rc):  # noqa: ANN001
    plan = published(rc)
    shift = plan.assignments.order_by("day").last()
    colleague = _free_colleague(plan, shift)
    first = rota_services.swap_ask(shift=shift, colleague=colleague, in_return=None,
                                   note="", by=shift.user)
    rota_services.swap_answer(swap=first, agree=False, by=colleague)
    second = rota_services.swap_ask(shift=shift, colleague=colleague, in_return=None,
                                    note="", by=shift.user)
    rota_services.swap_cancel(swap=second, by=shift.user)
    assert ShiftSwap.objects.get(pk=first.pk).status == SwapStatus.DECLINED
    assert ShiftSwap.objects.get(pk=second.pk).status == SwapStatus.CANCELLED


def test_a_started_shift_cannot_be_swapped(rc):  # noqa: ANN001
    plan = published(rc)
    shift = plan.assignments.order_by("day", "starts_at").first()
    colleague = _free_colleague(plan, shift)
    with clock.pinned(shift.starts_at + timedelta(minutes=1)), \
            pytest.raises(ValidationError) as excinfo:
        rota_services.swap_ask(shift=shift, colleague=colleague, in_return=None, note="",
                               by=shift.user)
    assert "started" in field_messages(excinfo)["colleague"]


def test_a_street_officer_drafts_every_ready_community_at_once(rc, city):  # noqa: ANN001
    street_officer = city.persona("street_officer")
    made = rota_services.rota_plans_make_area(
        area=street_officer.area, first_day=FIRST_DAY, days=7, ab_mode="prefer",
        ab_block_days=1, by=street_officer, seconds=1)
    assert [p.community_id for p in made.plans] == [rc.community.pk]
    assert made.plans[0].status == PlanStatus.DRAFT and made.uncovered == 0
    # The street's other communities have no posts yet: skipped, and said why.
    assert made.skipped and all(c.pk != rc.community.pk for c, _why in made.skipped)
    assert {why for _c, why in made.skipped} == {"no post with shifts"}
    # A secretary drafts only their own community; bad dates refuse the whole request.
    with pytest.raises(ValidationError):
        rota_services.rota_plans_make_area(
            area=street_officer.area, first_day=FIRST_DAY - timedelta(days=2), days=7,
            ab_mode="prefer", ab_block_days=1, by=street_officer)
    own = rota_services.rota_plans_make_area(
        area=street_officer.area, first_day=FIRST_DAY, days=7, ab_mode="prefer",
        ab_block_days=1, by=rc.secretary, seconds=1)
    assert [p.community_id for p in own.plans] == [rc.community.pk] and not own.skipped
