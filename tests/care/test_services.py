"""The difficulty workflow: filing with deadlines by kind, acknowledging, assigning,
resolving, rating and reopening, escalating the overdue, designating care officers."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404

from fangkong.accounts.models import Role, User
from fangkong.audit.models import AuditAction, AuditEvent
from fangkong.care.jobs import escalate  # noqa: F401 - the handler is registered
from fangkong.care.models import CareOfficer, Difficulty, DifficultyStatus, Level
from fangkong.care.selectors import difficulties_to_handle, difficulty_for_user
from fangkong.care.services import (
    DEADLINE_HOURS,
    care_officer_designate,
    care_officer_remove,
    deadline_hours,
    difficulties_escalate,
    difficulty_acknowledge,
    difficulty_assign,
    difficulty_file,
    difficulty_rate,
    difficulty_resolve,
)
from fangkong.jobs.handlers import PERIODIC
from fangkong.lib import clock
from tests.care.conftest import NOW
from tests.factories import field_messages

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("english")]


def _file(by, **kwargs) -> Difficulty:  # noqa: ANN001
    data = {"kind": "health", "details": "发烧三天，需要请假看病", "urgency": "normal",
            "confidential": False, **kwargs}
    return difficulty_file(by=by, **data)


def _events(difficulty: Difficulty) -> list[str]:
    return list(difficulty.events.values_list("what", flat=True))


@pytest.mark.parametrize(("kind", "urgency", "hours"), [
    ("ppe", "normal", 24), ("health", "normal", 24), ("childcare", "normal", 48),
    ("pay", "normal", 168), ("work", "normal", 72), ("family", "normal", 72),
    ("transport", "normal", 72), ("other", "normal", 72),
    ("ppe", "urgent", 12), ("childcare", "urgent", 24), ("pay", "urgent", 84),
    ("other", "urgent", 36),
])
def test_deadline_by_kind_and_urgency(grid_worker, kind, urgency, hours):
    assert deadline_hours(kind, urgency) == hours
    difficulty = _file(grid_worker, kind=kind, urgency=urgency)
    assert difficulty.deadline_hours == hours
    assert difficulty.due_at == NOW + timedelta(hours=hours)


def test_every_kind_has_a_deadline():
    from fangkong.care.models import DifficultyKind

    assert set(DEADLINE_HOURS) == set(DifficultyKind.values)


def test_filed_difficulty_goes_to_the_community_secretary(grid_worker, community_secretary):
    difficulty = _file(grid_worker)
    assert difficulty.status == DifficultyStatus.OPEN
    assert difficulty.level == Level.COMMUNITY
    assert difficulty.assigned_to == community_secretary
    assert difficulty.street_id == community_secretary.area.parent_id
    assert difficulty.community_id == community_secretary.area_id
    assert _events(difficulty) == ["filed"]
    assert difficulty in difficulties_to_handle(community_secretary)


def test_confidential_difficulty_goes_to_the_care_officer(grid_worker, care_officer):
    difficulty = _file(grid_worker, confidential=True)
    assert (difficulty.level, difficulty.assigned_to) == (Level.STREET, care_officer)


def test_confidential_difficulty_without_care_officer_waits_at_the_street(grid_worker):
    difficulty = _file(grid_worker, confidential=True)
    assert (difficulty.level, difficulty.assigned_to) == (Level.STREET, None)


def test_designating_a_care_officer_hands_them_what_nobody_holds(grid_worker, street_officer,
                                                                  community_secretary):
    difficulty = _file(grid_worker, confidential=True)
    officer = User.objects.create(username="late_carer", role=Role.COMMUNITY_WORKER,
                                  area=community_secretary.area)
    care_officer_designate(street=street_officer.area, user=officer, by=street_officer)
    difficulty.refresh_from_db()
    assert difficulty.assigned_to == officer
    assert _events(difficulty) == ["filed", "assigned"]


def test_street_officer_files_to_the_care_officer(street_officer, care_officer):
    difficulty = _file(street_officer)
    assert difficulty.community_id is None
    assert (difficulty.level, difficulty.assigned_to) == (Level.STREET, care_officer)


def test_a_secretary_never_handles_their_own(community_secretary, care_officer):
    difficulty = _file(community_secretary)
    assert difficulty.assigned_to == care_officer
    with pytest.raises(PermissionDenied):
        difficulty_acknowledge(difficulty=difficulty, by=community_secretary)


def test_admin_without_a_street_is_told_why(admin_user):
    with pytest.raises(ValidationError) as excinfo:
        _file(admin_user)
    assert "street" in field_messages(excinfo)["__all__"]


@pytest.mark.parametrize(("details", "expected"), [
    ("", "Write a few words"), ("   ", "Write a few words"),
    ("字" * 1001, "under 1000 characters"), ("坏\x00字", "cannot be stored"),
    ("坏\x1b[31m", "cannot be stored"),
])
def test_bad_details_are_refused(grid_worker, details, expected):
    with pytest.raises(ValidationError) as excinfo:
        _file(grid_worker, details=details)
    assert expected in field_messages(excinfo)["details"]
    assert not Difficulty.objects.filter(filed_by=grid_worker).exists()


def test_details_may_hold_lines_and_1000_characters(grid_worker):
    assert len(_file(grid_worker, details="第一行\n" + "字" * 996).details) == 1000


def test_bad_kind_and_urgency_are_refused(grid_worker):
    with pytest.raises(ValidationError) as excinfo:
        _file(grid_worker, kind="money", urgency="now")
    assert set(field_messages(excinfo)) == {"kind", "urgency"}


def test_workflow_acknowledge_assign_resolve_rate(grid_worker, community_secretary,
                                                  care_officer):
    difficulty = _file(grid_worker, kind="childcare")
    difficulty = difficulty_acknowledge(difficulty=difficulty, by=community_secretary)
    assert difficulty.status == DifficultyStatus.ACKNOWLEDGED
    assert difficulty.acknowledged_at == NOW
    with pytest.raises(ValidationError):
        difficulty_acknowledge(difficulty=difficulty, by=community_secretary)
    difficulty = difficulty_assign(difficulty=difficulty, to=care_officer,
                                   by=community_secretary)
    assert (difficulty.assigned_to, difficulty.level) == (care_officer, Level.STREET)
    clock.advance(hours=5)
    difficulty = difficulty_resolve(difficulty=difficulty, by=care_officer,
                                    resolution="已联系社区托育点，每天 8:00-18:00 照看")
    assert difficulty.status == DifficultyStatus.RESOLVED
    assert difficulty.resolved_by == care_officer
    with pytest.raises(ValidationError):
        difficulty_resolve(difficulty=difficulty, by=care_officer, resolution="再次")
    difficulty = difficulty_rate(difficulty=difficulty, by=grid_worker, rating=5,
                                 comment="很及时")
    assert difficulty.status == DifficultyStatus.CLOSED
    assert (difficulty.rating, difficulty.rating_comment) == (5, "很及时")
    assert _events(difficulty) == ["filed", "acknowledged", "assigned", "resolved", "rated"]


def test_assign_only_to_someone_who_can_act(grid_worker, community_secretary, care_officer,
                                            city):
    difficulty = _file(grid_worker)
    for stranger in (city.persona("other_grid_worker"), city.persona("street_officer"),
                     grid_worker):
        with pytest.raises(ValidationError) as excinfo:
            difficulty_assign(difficulty=difficulty, to=stranger, by=community_secretary)
        assert "to" in field_messages(excinfo)
    confidential = _file(grid_worker, confidential=True)
    with pytest.raises(ValidationError):
        difficulty_assign(difficulty=confidential, to=community_secretary, by=care_officer)


@pytest.mark.parametrize("persona", ["grid_worker", "other_grid_worker", "community_worker",
                                     "street_officer", "other_street_officer", "gate_guard"])
def test_who_cannot_act_is_refused(grid_worker, city, persona):
    difficulty = _file(grid_worker)
    user = city.persona(persona)
    for act in (lambda: difficulty_acknowledge(difficulty=difficulty, by=user),
                lambda: difficulty_resolve(difficulty=difficulty, by=user, resolution="好")):
        with pytest.raises(PermissionDenied):
            act()
    assert Difficulty.objects.get(pk=difficulty.pk).status == DifficultyStatus.OPEN


def test_low_rating_reopens_for_the_care_officer(grid_worker, community_secretary,
                                                 care_officer):
    difficulty = _file(grid_worker, kind="ppe")
    difficulty_resolve(difficulty=difficulty, by=community_secretary, resolution="发了口罩")
    clock.advance(hours=30)
    difficulty = difficulty_rate(difficulty=difficulty, by=grid_worker, rating=2,
                                 comment="只有两个口罩")
    assert difficulty.status == DifficultyStatus.OPEN
    assert (difficulty.level, difficulty.assigned_to) == (Level.STREET, care_officer)
    assert difficulty.times_reopened == 1
    assert difficulty.due_at == clock.now() + timedelta(hours=24)
    assert difficulty.resolution == ""
    assert _events(difficulty)[-2:] == ["rated", "reopened"]
    assert difficulty in difficulties_to_handle(care_officer)
    difficulty_resolve(difficulty=difficulty, by=care_officer, resolution="送来一箱 N95")
    assert difficulty_rate(difficulty=difficulty, by=grid_worker, rating=3).status == "closed"


def test_rating_rules(grid_worker, community_secretary):
    difficulty = _file(grid_worker)
    with pytest.raises(ValidationError) as excinfo:
        difficulty_rate(difficulty=difficulty, by=grid_worker, rating=4)
    assert "resolved" in field_messages(excinfo)["rating"]
    difficulty_resolve(difficulty=difficulty, by=community_secretary, resolution="已安排")
    with pytest.raises(PermissionDenied):
        difficulty_rate(difficulty=difficulty, by=community_secretary, rating=5)
    for bad in (0, 6, "5"):
        with pytest.raises(ValidationError):
            difficulty_rate(difficulty=difficulty, by=grid_worker, rating=bad)
    with pytest.raises(ValidationError):
        difficulty_rate(difficulty=difficulty, by=grid_worker, rating=4, comment="x\x00")
    assert Difficulty.objects.get(pk=difficulty.pk).status == DifficultyStatus.RESOLVED


def test_overdue_climbs_secretary_street_district(grid_worker, community_secretary,
                                                  care_officer, admin_user):
    difficulty = _file(grid_worker, kind="health", urgency="urgent")  # 12 h
    clock.advance(hours=11, minutes=59)
    assert difficulties_escalate() == 0
    clock.advance(minutes=2)
    assert difficulties_escalate() == 1
    assert difficulties_escalate() == 0  # idempotent
    difficulty.refresh_from_db()
    assert (difficulty.level, difficulty.assigned_to) == (Level.STREET, care_officer)
    assert difficulty.due_at == clock.now() + timedelta(hours=12)
    clock.advance(hours=12)
    assert difficulties_escalate() == 1
    difficulty.refresh_from_db()
    assert (difficulty.level, difficulty.assigned_to) == (Level.DISTRICT, admin_user)
    assert difficulty in difficulties_to_handle(admin_user)
    clock.advance(days=3)
    assert difficulties_escalate() == 0  # the top: it stays overdue there
    events = list(difficulty.events.filter(what="escalated").values_list("detail", flat=True))
    assert events == [care_officer.display_name, admin_user.display_name]
    difficulty_resolve(difficulty=difficulty, by=admin_user, resolution="区里派车送医")


def test_acknowledged_but_unresolved_still_escalates(grid_worker, community_secretary,
                                                     care_officer):
    difficulty = _file(grid_worker, kind="ppe")
    difficulty_acknowledge(difficulty=difficulty, by=community_secretary)
    clock.advance(hours=25)
    assert difficulties_escalate() == 1
    assert Difficulty.objects.get(pk=difficulty.pk).assigned_to == care_officer


def test_resolved_ones_do_not_escalate(grid_worker, community_secretary):
    difficulty = _file(grid_worker, kind="ppe")
    difficulty_resolve(difficulty=difficulty, by=community_secretary, resolution="已发放")
    clock.advance(days=10)
    assert difficulties_escalate() == 0


def test_without_care_officer_overdue_goes_to_the_district(grid_worker, admin_user):
    difficulty = _file(grid_worker, kind="ppe")
    clock.advance(hours=25)
    assert difficulties_escalate() == 1
    difficulty.refresh_from_db()
    assert (difficulty.level, difficulty.assigned_to) == (Level.DISTRICT, admin_user)


def test_confidential_overdue_reaches_the_district_as_a_count(grid_worker, care_officer,
                                                               admin_user):
    difficulty = _file(grid_worker, kind="family", confidential=True)
    clock.advance(hours=73)
    assert difficulties_escalate() == 1
    difficulty.refresh_from_db()
    assert (difficulty.level, difficulty.assigned_to) == (Level.DISTRICT, care_officer)
    with pytest.raises(Http404):
        difficulty_for_user(admin_user, difficulty.pk)
    assert difficulty not in difficulties_to_handle(admin_user)
    assert difficulty in difficulties_to_handle(care_officer)


def test_escalation_job_runs_every_ten_minutes():
    assert PERIODIC["care.escalate"] == timedelta(minutes=10)


# Care officers --------------------------------------------------------------------------


def test_designation_is_audited_and_removal_hands_on(street_officer, care_officer,
                                                     grid_worker, community_secretary):
    assert AuditEvent.objects.filter(action=AuditAction.CARE_OFFICER_CHANGE,
                                     object_id=str(care_officer.pk),
                                     area_path=street_officer.area.path).count() == 1
    confidential = _file(grid_worker, confidential=True)
    plain = _file(grid_worker)
    difficulty_assign(difficulty=plain, to=care_officer, by=community_secretary)
    care_officer_remove(officer=CareOfficer.objects.get(user=care_officer),
                        by=street_officer)
    assert AuditEvent.objects.filter(action=AuditAction.CARE_OFFICER_CHANGE).count() == 2
    confidential.refresh_from_db()
    plain.refresh_from_db()
    assert confidential.assigned_to is None
    assert plain.assigned_to is None or plain.assigned_to != care_officer
    with pytest.raises(Http404):
        difficulty_for_user(care_officer, confidential.pk)


def test_only_staff_of_the_street_become_its_care_officers(street_officer, city):
    stranger = city.persona("other_grid_worker")
    other_street_staff = city.persona("other_street_officer")
    for user in (other_street_staff,) + ((stranger,) if not stranger.area.path.startswith(
            street_officer.area.path + ".") else ()):
        with pytest.raises(ValidationError):
            care_officer_designate(street=street_officer.area, user=user, by=street_officer)
    with pytest.raises(PermissionDenied):
        care_officer_designate(street=street_officer.area, user=city.persona("grid_worker"),
                               by=city.persona("community_secretary"))


def test_designating_twice_is_refused(street_officer, care_officer):
    with pytest.raises(ValidationError) as excinfo:
        care_officer_designate(street=street_officer.area, user=care_officer,
                               by=street_officer)
    assert "already" in field_messages(excinfo)["user"]


def test_details_typed_in_a_browser_keep_their_line_breaks(grid_worker, care_officer):  # noqa: ANN001
    # A textarea sends CR LF: read as LF, not refused as a control character.
    difficulty = difficulty_file(by=grid_worker, kind="family", details="第一行\r\n第二行")
    assert difficulty.details == "第一行\n第二行"
