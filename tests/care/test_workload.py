"""Workload figures: residents, alerts and door visits shared by the workers who carry
them, hours, rest and days in a row from the shifts worked, each overload reason, and the
daily warnings for the community secretary (idempotent, noted once)."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.core.exceptions import PermissionDenied
from django.http import Http404

from fangkong.accounts.models import Role, User
from fangkong.care.jobs import workload as workload_job
from fangkong.care.models import (
    Attendance,
    MemberKind,
    OverloadWarning,
    PlanStatus,
    Post,
    PostKind,
    PostShift,
    RotaMember,
    RotaPlan,
    ShiftAssignment,
)
from fangkong.care.workload import (
    Limits,
    area_workload,
    open_warnings_for,
    overload_warning_note,
    reason_messages,
    sorted_rows,
    warning_to_note,
    workload_warn,
)
from fangkong.followup.models import (
    Alert,
    AlertStatus,
    Campaign,
    Contact,
    ContactState,
    Questionnaire,
    Round,
)
from fangkong.followup.selectors import visit_list, visits_waiting_by_grid
from fangkong.jobs.handlers import PERIODIC
from fangkong.jobs.models import Job
from fangkong.places.models import Area, AreaKind
from fangkong.residents.models import Resident, ResidentStatus
from tests.care.conftest import NOW

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("english")]

SHANGHAI = ZoneInfo("Asia/Shanghai")
TODAY = NOW.date()  # 2026-12-01; the last 7 days are 11-24 .. 11-30


def days_before(n: int, *, skip: int = 1) -> list[date]:
    """The n days ending `skip` days before today (skip=1: ending yesterday)."""
    return [TODAY - timedelta(days=skip + i) for i in range(n)]


def staff(username: str, role: str, area: Area, **extra) -> User:  # noqa: ANN003
    user = User.objects.create(username=username, role=role, area=area,
                               full_name=username.replace("_", " ").title(), **extra)
    return User.objects.select_related("area").get(pk=user.pk)


def make_shifts(user: User, community: Area, days: list[date], *, hours: int = 8,
                start_hour: int = 8, status: str = PlanStatus.PUBLISHED,
                attendance: str = Attendance.PLANNED) -> list[ShiftAssignment]:
    """Assigned shifts of `user` on `days` in a plan of `community` (created directly)."""
    plan = RotaPlan.objects.create(community=community, first_day=min(days),
                                   days=(max(days) - min(days)).days + 1, status=status,
                                   method="test", seconds=0, created_at=NOW)
    post, _ = Post.objects.get_or_create(community=community, name="东门",
                                         defaults={"kind": PostKind.GATE})
    end = start_hour + hours
    shift, _ = PostShift.objects.get_or_create(
        post=post, name=f"{start_hour}+{hours}",
        defaults={"start_hour": start_hour, "end_hour": end if end <= 24 else end - 24})
    rows = []
    for day in days:
        starts = datetime.combine(day, time(start_hour), tzinfo=SHANGHAI)
        rows.append(ShiftAssignment(plan=plan, community=community, user=user, shift=shift,
                                    day=day, starts_at=starts,
                                    ends_at=starts + timedelta(hours=hours), hours=hours,
                                    attendance=attendance))
    return ShiftAssignment.objects.bulk_create(rows)


def make_alerts(area: Area, n: int, *, grid: Area, status: str = AlertStatus.OPEN,
                level: int = 0) -> list[Alert]:
    """`n` alerts about residents of `grid`, assigned to `area` (the grid or above)."""
    alerts = []
    for resident in Resident.objects.filter(grid=grid).order_by("pk")[:n]:
        alert = Alert(resident=resident, severity="high", title="发热", assigned_area=area,
                      level=level, status=status, created_at=NOW)
        alert.copy_scope_from(resident)
        alerts.append(alert)
    return Alert.objects.bulk_create(alerts)


def make_visits(by: User, grid: Area, n: int, *, due: bool = True,
                step: int = 1, state: str = ContactState.PENDING) -> list[Contact]:
    """`n` residents of `grid` in an open round whose door-visit step (the second, an
    hour after the start) has come (or, with due=False, not yet)."""
    version = Questionnaire.objects.get(slug="daily_health").versions.order_by(
        "-number").first()
    opened = NOW - timedelta(hours=2) if due else NOW - timedelta(minutes=30)
    campaign = Campaign.objects.create(
        name="居家健康监测", purpose="疫情防控每日健康随访", area=grid.parent, version=version,
        times=[f"{opened.astimezone(SHANGHAI):%H:%M}"], starts_on=TODAY, round_minutes=360,
        plan=[{"channel": "web", "at": 0}, {"channel": "visit", "at": 60}],
        status="running", created_by=by)
    round_ = Round.objects.create(campaign=campaign, scheduled_for=opened,
                                  closes_at=opened + timedelta(hours=6))
    contacts = []
    for resident in Resident.objects.filter(grid=grid).order_by("-pk")[:n]:
        contact = Contact(round=round_, resident=resident, step=step, state=state)
        contact.copy_scope_from(resident)
        contacts.append(contact)
    return Contact.objects.bulk_create(contacts)


def row_of(workload, user: User):  # noqa: ANN001, ANN201
    [row] = [r for r in workload.rows if r.user.pk == user.pk]
    return row


@pytest.fixture
def community(community_secretary) -> Area:  # noqa: ANN001
    return community_secretary.area


@pytest.fixture
def grid(grid_worker) -> Area:  # noqa: ANN001
    return grid_worker.area


@pytest.fixture
def other_community(city) -> Area:  # noqa: ANN001
    """The second community of the first street; its grid has `other_grid_worker`."""
    return city.areas(AreaKind.COMMUNITY)[1]


# Staff ------------------------------------------------------------------------------------


def test_staff_are_the_active_workers_secretaries_and_rota_members_of_the_area(
        community, grid_worker, community_secretary, city):  # noqa: ANN001
    gone = staff("gone", Role.GRID_WORKER, grid_worker.area, is_active=False)
    cadre = staff("cadre", "", city.areas(AreaKind.STREET)[0])
    RotaMember.objects.create(user=cadre, community=community, team="A",
                              kind=MemberKind.CADRE)
    off_rota = staff("off_rota", Role.VOLUNTEER, community)
    RotaMember.objects.create(user=off_rota, community=community, team="B", active=False)

    users = {r.user.username for r in area_workload(community).rows}

    assert users == {"grid_worker", "community_worker", "community_secretary", "cadre"}
    assert gone.username not in users  # nor the guard, the volunteer or the street officer
    cadre_row = row_of(area_workload(community), cadre)
    assert (cadre_row.home, cadre_row.community, cadre_row.residents) == (community, community, 0)
    assert cadre_row.role_label == "Sent-down cadre"


def test_a_grids_page_shows_its_grid_workers_and_a_streets_every_community(
        grid, community, other_community, city):  # noqa: ANN001
    assert [r.user.username for r in area_workload(grid).rows] == ["grid_worker"]
    street = city.areas(AreaKind.STREET)[0]
    street_workload = area_workload(street)
    lines = {line.community.pk: line for line in street_workload.communities}
    assert set(lines) == {community.pk, other_community.pk}
    assert (lines[community.pk].staff, lines[other_community.pk].staff) == (3, 1)


# Residents ----------------------------------------------------------------------------------


def test_grid_workers_share_the_residents_who_live_in_their_grid(grid, grid_worker,
                                                                  community):  # noqa: ANN001
    living = Resident.objects.filter(grid=grid, status=ResidentStatus.ACTIVE).count()
    ids = list(Resident.objects.filter(grid=grid).order_by("pk").values_list("pk", flat=True))
    Resident.objects.filter(pk__in=ids[:10]).update(status=ResidentStatus.MOVED_OUT)
    Resident.objects.filter(pk__in=ids[10:12]).update(status=ResidentStatus.DECEASED)
    second = staff("second_grid_worker", Role.GRID_WORKER, grid)

    workload = area_workload(community)

    assert row_of(workload, grid_worker).residents == (living - 12) / 2
    assert row_of(workload, second).residents == (living - 12) / 2


def test_community_workers_cover_the_grids_without_a_grid_worker(
        community, other_community, grid_worker, community_worker, community_secretary,
        city):  # noqa: ANN001
    other_grid = city.areas(AreaKind.GRID)[1]
    User.objects.filter(username="other_grid_worker").update(is_active=False)
    residents = Resident.objects.filter(grid=other_grid, status=ResidentStatus.ACTIVE).count()
    first = staff("cw1", Role.COMMUNITY_WORKER, other_community)
    second = staff("cw2", Role.COMMUNITY_WORKER, other_community)
    street = city.areas(AreaKind.STREET)[0]

    workload = area_workload(street)
    rows = {r.user.pk: r for r in workload.rows}

    assert rows[first.pk].residents == rows[second.pk].residents == residents / 2
    assert rows[community_worker.pk].residents == 0  # their only grid has a grid worker
    assert rows[community_secretary.pk].residents == 0  # leads
    assert rows[grid_worker.pk].residents > 0
    assert all(line.uncovered_residents == 0 for line in workload.communities)


def test_work_that_nobody_carries_is_shown_as_not_covered(other_community, city):  # noqa: ANN001
    other_grid = city.areas(AreaKind.GRID)[1]
    User.objects.filter(username="other_grid_worker").update(is_active=False)
    make_alerts(other_community, 2, grid=other_grid, level=1)

    [line] = area_workload(other_community).communities

    assert line.uncovered_residents == Resident.objects.filter(
        grid=other_grid, status=ResidentStatus.ACTIVE).count()
    assert line.uncovered_alerts == 2
    assert line.staff == 0


# Alerts and door visits ---------------------------------------------------------------------


def test_open_alerts_go_to_the_workers_of_the_area_they_are_assigned_to(
        community, grid, grid_worker, community_worker, community_secretary,
        street_officer):  # noqa: ANN001
    make_alerts(grid, 3, grid=grid)
    make_alerts(grid, 4, grid=grid, status=AlertStatus.RESOLVED)
    make_alerts(community, 2, grid=grid, level=1)
    make_alerts(street_officer.area, 5, grid=grid, level=2)  # the street's now
    second = staff("cw2", Role.COMMUNITY_WORKER, community)

    workload = area_workload(community)

    assert row_of(workload, grid_worker).alerts == 3
    assert row_of(workload, community_worker).alerts == row_of(workload, second).alerts == 1
    assert row_of(workload, community_secretary).alerts == 0


def test_door_visits_waiting_are_the_visit_lists_and_go_to_the_grids_workers(
        community, grid, grid_worker, community_secretary, community_worker):  # noqa: ANN001
    make_visits(community_secretary, grid, 4)
    make_visits(community_secretary, grid, 3, due=False)  # the visit step starts later
    make_visits(community_secretary, grid, 2, step=0)  # still at the link
    make_visits(community_secretary, grid, 2, state=ContactState.ANSWERED)

    workload = area_workload(community)

    assert row_of(workload, grid_worker).visits == 4
    assert row_of(workload, community_worker).visits == 0
    assert visits_waiting_by_grid(community, now=NOW) == {grid.pk: 4}
    assert len(visit_list(grid_worker)) == 4  # the same definition


# Hours, rest, days in a row --------------------------------------------------------------------


def test_hours_and_rest_count_published_shifts_worked_in_the_last_seven_days(
        community, grid_worker):  # noqa: ANN001
    make_shifts(grid_worker, community, days_before(6))  # 11-25 .. 11-30, 48 hours
    make_shifts(grid_worker, community, [TODAY - timedelta(days=7)], hours=12,
                status=PlanStatus.DRAFT)
    make_shifts(grid_worker, community, [TODAY - timedelta(days=7)], hours=12,
                status=PlanStatus.DISCARDED)
    make_shifts(grid_worker, community, [TODAY - timedelta(days=7)],
                attendance=Attendance.ABSENT)
    make_shifts(grid_worker, community, [TODAY - timedelta(days=8)])  # before the week
    make_shifts(grid_worker, community, [TODAY], start_hour=0)  # today: not yet counted
    # Yesterday's night shift ends after now: not worked yet.
    make_shifts(grid_worker, community, [TODAY - timedelta(days=1)], start_hour=22, hours=12)

    row = row_of(area_workload(community), grid_worker)

    assert (row.hours, row.days_worked, row.rest_days, row.consecutive_days) == (48, 6, 1, 6)
    assert not row.overloaded  # exactly at every limit


def test_days_in_a_row_count_back_from_yesterday(community, grid_worker,
                                                 community_worker):  # noqa: ANN001
    make_shifts(grid_worker, community, days_before(5, skip=2))  # yesterday off
    make_shifts(community_worker, community, days_before(2))
    make_shifts(community_worker, community, days_before(3, skip=4))

    workload = area_workload(community)

    assert row_of(workload, grid_worker).consecutive_days == 0
    assert row_of(workload, community_worker).consecutive_days == 2
    assert row_of(workload, community_worker).days_worked == 5


def test_a_fortnight_without_rest_gives_every_time_reason(community, grid_worker):  # noqa: ANN001
    make_shifts(grid_worker, community, days_before(14))

    row = row_of(area_workload(community), grid_worker)

    assert (row.hours, row.rest_days, row.consecutive_days) == (56, 0, 14)
    assert [r.message for r in row.reasons] == [
        "worked 56 hours in the last 7 days (limit 48)",
        "took 0 rest days in the last 7 days (at least 1)",
        "worked 14 days in a row (limit 6)"]


@pytest.mark.parametrize(("setting", "limit", "key", "message"), [
    ("CARE_OVERLOAD_RESIDENTS", 100, "residents", "looks after {} residents (limit 100)"),
    ("CARE_OVERLOAD_ALERTS", 2, "alerts", "has 3 open alerts (limit 2)"),
    ("CARE_OVERLOAD_VISITS", 3, "visits", "has 4 door visits waiting (limit 3)"),
    ("CARE_MAX_WEEKLY_HOURS", 40, "hours", "worked 48 hours in the last 7 days (limit 40)"),
    ("CARE_MIN_REST_DAYS_PER_WEEK", 2, "rest",
     "took 1 rest day in the last 7 days (at least 2)"),
    ("CARE_MAX_CONSECUTIVE_DAYS", 5, "streak", "worked 6 days in a row (limit 5)"),
])
def test_each_limit_passed_is_a_reason_worded_for_the_secretary(
        settings, setting, limit, key, message, community, grid, grid_worker,
        community_secretary):  # noqa: ANN001
    make_alerts(grid, 3, grid=grid)
    make_visits(community_secretary, grid, 4)
    make_shifts(grid_worker, community, days_before(6))
    residents = Resident.objects.filter(grid=grid, status=ResidentStatus.ACTIVE).count()
    assert not row_of(area_workload(community), grid_worker).overloaded
    setattr(settings, setting, limit)

    [reason] = row_of(area_workload(community), grid_worker).reasons

    assert reason.key == key
    assert reason.message == message.format(residents)


def test_limits_come_from_the_settings_with_defaults(settings):  # noqa: ANN001
    assert Limits.from_settings() == Limits(500, 20, 30, 48, 1, 6)
    settings.CARE_MAX_CONSECUTIVE_DAYS = 20
    assert Limits.from_settings().streak_window == 21


# Sorting --------------------------------------------------------------------------------------


def test_rows_sort_by_a_column_worst_first_and_reversed_with_a_minus(
        community, grid_worker, community_worker, community_secretary):  # noqa: ANN001
    make_shifts(grid_worker, community, days_before(3))
    make_shifts(community_secretary, community, days_before(14))
    rows = area_workload(community).rows

    by_hours, applied = sorted_rows(rows, "hours")
    assert [r.user for r in by_hours] == [community_secretary, grid_worker, community_worker]
    assert applied == "hours"
    assert [r.user for r in sorted_rows(rows, "-hours")[0]] == [
        community_worker, grid_worker, community_secretary]
    default, applied = sorted_rows(rows, "nonsense")
    assert applied == "load" and default[0].user == community_secretary


# Warnings -----------------------------------------------------------------------------------------


def test_warn_raises_one_warning_per_overloaded_person_and_day(
        community, grid_worker, community_worker, other_community):  # noqa: ANN001
    make_shifts(grid_worker, community, days_before(14))
    other = User.objects.get(username="other_grid_worker")
    make_shifts(other, other_community, days_before(7), hours=10)

    assert workload_warn(on_day=TODAY, now=NOW) == 2
    assert workload_warn(on_day=TODAY, now=NOW) == 0  # the same rows

    warnings = {w.user_id: w for w in OverloadWarning.objects.all()}
    assert set(warnings) == {grid_worker.pk, other.pk}
    mine = warnings[grid_worker.pk]
    assert (mine.community, mine.on_day, mine.noted_at) == (community, TODAY, None)
    assert [r["key"] for r in mine.reasons] == ["hours", "rest", "streak"]
    assert mine.reasons[0]["message"] == "worked 56 hours in the last 7 days (limit 48)"
    assert warnings[other.pk].community == other_community


def test_a_warning_is_not_rewritten_and_the_next_day_brings_a_new_one(
        community, grid_worker):  # noqa: ANN001
    make_shifts(grid_worker, community, days_before(14))
    workload_warn(on_day=TODAY, now=NOW)
    make_alerts(grid_worker.area, 25, grid=grid_worker.area)

    assert workload_warn(on_day=TODAY, now=NOW + timedelta(hours=1)) == 0
    assert len(OverloadWarning.objects.get(user=grid_worker).reasons) == 3
    tomorrow = TODAY + timedelta(days=1)
    assert workload_warn(on_day=tomorrow, now=NOW + timedelta(days=1)) == 1
    assert OverloadWarning.objects.filter(user=grid_worker).count() == 2


def test_nobody_overloaded_raises_nothing(community):  # noqa: ANN001
    assert workload_warn(on_day=TODAY, now=NOW) == 0
    assert not OverloadWarning.objects.exists()


def test_the_secretary_of_the_community_sees_and_notes_the_warnings(
        community, grid_worker, community_secretary, community_worker, city):  # noqa: ANN001
    make_shifts(grid_worker, community, days_before(14))
    workload_warn(on_day=TODAY - timedelta(days=1), now=NOW - timedelta(days=1))
    workload_warn(on_day=TODAY, now=NOW)
    other_secretary = staff("other_secretary", Role.COMMUNITY_SECRETARY,
                            city.areas(AreaKind.COMMUNITY)[1])

    assert open_warnings_for(community_secretary).count() == 2
    assert not open_warnings_for(other_secretary).exists()
    assert not open_warnings_for(grid_worker).exists()
    assert not open_warnings_for(community_worker).exists()

    today = OverloadWarning.objects.get(user=grid_worker, on_day=TODAY)
    with pytest.raises(Http404):
        warning_to_note(other_secretary, today.pk)
    with pytest.raises(PermissionDenied):
        warning_to_note(community_worker, today.pk)
    with pytest.raises(PermissionDenied):
        overload_warning_note(warning=today, by=other_secretary)
    assert warning_to_note(community_secretary, str(today.pk)) == today

    # Noting today's warning notes the earlier open one of the same person too.
    assert overload_warning_note(warning=today, by=community_secretary) == 2
    assert overload_warning_note(warning=today, by=community_secretary) == 0
    today.refresh_from_db()
    assert (today.noted_by, today.noted_at) == (community_secretary, NOW)
    assert not open_warnings_for(community_secretary).exists()


def test_reasons_are_worded_again_in_the_language_of_the_reader():
    stored = [{"key": "hours", "value": 56, "limit": 48, "message": "…"},
              {"key": "retired", "message": "kept as stored"}]
    assert reason_messages(stored) == ["worked 56 hours in the last 7 days (limit 48)",
                                       "kept as stored"]


def test_the_job_runs_every_hour_and_warns_for_today(community, grid_worker):  # noqa: ANN001
    assert PERIODIC["care.workload"] == timedelta(hours=1)
    make_shifts(grid_worker, community, days_before(14))

    assert workload_job(Job(kind="care.workload")) == {"warned": 1}
    assert workload_job(Job(kind="care.workload")) == {"warned": 0}
    assert OverloadWarning.objects.get().on_day == TODAY
