"""The errand workflow: asking (a worker of the area only), the quantities flagged, the
queue marks, assigning to who may take it, moving only along the transitions, the
hand-over by code, cancel and fail with reasons, the helper's phone while the task is
theirs, and the household's garbage service."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from fangkong.accounts.models import Role, User
from fangkong.audit.models import AuditAction, AuditEvent
from fangkong.errands import selectors, services
from fangkong.errands.models import (
    ErrandEvent,
    ErrandStatus,
    GarbageService,
    Volunteer,
    VolunteerStatus,
)
from fangkong.errands.services import ErrandInput, ItemInput
from fangkong.isolation.models import IsolationPeriod
from fangkong.lib import clock
from fangkong.residents.models import Tag
from tests.factories import field_messages

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("english")]
NOW = datetime(2026, 12, 1, 9, 0, tzinfo=ZoneInfo("Asia/Shanghai"))
MEDICINE = ErrandInput(kind="medicine", items=[ItemInput(name="布洛芬缓释胶囊", strength="0.3g",
                                                         quantity=2, prescription=False)])


@pytest.fixture(autouse=True)
def pinned():
    with clock.pinned(NOW):
        yield


@pytest.fixture
def resident(city, grid_worker):  # noqa: ANN001, ANN201
    return city.resident_in(grid_worker.area)


def ask(resident, by, data: ErrandInput = MEDICINE, source: str = "phone"):  # noqa: ANN001, ANN201
    return services.errand_create(resident=resident, data=data, source=source, by=by)


def volunteer_of(community, username: str = "helper_v") -> User:  # noqa: ANN001
    user = User.objects.create(username=username, role=Role.VOLUNTEER, area=community,
                               full_name="志愿者小王")
    Volunteer.objects.create(community=community, user=user, name="志愿者小王",
                             phone_sealed=b"x", phone_index=username, phone_masked="138****0000",
                             skills=["medical"], status=VolunteerStatus.VERIFIED,
                             applied_at=NOW)
    return user


def test_a_worker_asks_for_a_resident_of_their_area(resident, grid_worker):  # noqa: ANN001
    errand = ask(resident, grid_worker)
    assert errand.status == ErrandStatus.NEW
    assert errand.grid_id == resident.grid_id and errand.community_id == resident.community_id
    assert errand.due_at == NOW + timedelta(days=1)
    assert len(errand.handover_code) == 4 and errand.handover_code.isdigit()
    assert [i.name for i in errand.items.all()] == ["布洛芬缓释胶囊"]
    assert ErrandEvent.objects.filter(errand=errand, what="created", by=grid_worker).exists()


def test_a_resident_outside_the_workers_area_is_refused(city, other_grid_worker, resident):  # noqa: ANN001
    with pytest.raises(PermissionDenied):
        ask(resident, other_grid_worker)
    with pytest.raises(PermissionDenied):
        ask(resident, city.persona("volunteer"))


@pytest.mark.parametrize(("data", "field", "words"), [
    (ErrandInput(kind="medicine"), "items", "at least one medicine"),
    (ErrandInput(kind="groceries"), "details", "what is needed"),
    (ErrandInput(kind="cake"), "kind", "Choose what is needed"),
    (ErrandInput(kind="other", details="x", urgency="yesterday"), "urgency", "how urgent"),
    (ErrandInput(kind="medicine", items=[ItemInput(name="药", quantity=0)]), "items",
     "Line 1"),
    (ErrandInput(kind="groceries", details="坏\x07字"), "details", "control character"),
])
def test_bad_requests_are_refused_with_the_reason(resident, grid_worker, data, field, words):  # noqa: ANN001
    with pytest.raises(ValidationError) as excinfo:
        ask(resident, grid_worker, data)
    assert words in field_messages(excinfo)[field]


def test_unusual_quantities_are_flagged_not_refused(resident, grid_worker):  # noqa: ANN001
    errand = ask(resident, grid_worker, ErrandInput(kind="medicine", items=[
        ItemInput(name="感冒灵颗粒", quantity=40), ItemInput(name="口罩", quantity=2)]))
    assert errand.flagged
    flags = dict(errand.items.values_list("name", "flag"))
    assert "40" in flags["感冒灵颗粒"] and flags["口罩"] == ""


def test_urgency_sets_the_deadline(resident, grid_worker):  # noqa: ANN001
    urgent = ask(resident, grid_worker, ErrandInput(kind="other", details="送氧气袋",
                                                    urgency="urgent"))
    today = ask(resident, grid_worker, ErrandInput(kind="other", details="取快递",
                                                   urgency="today"))
    assert urgent.due_at == NOW + timedelta(hours=2)
    assert today.due_at.astimezone(NOW.tzinfo).hour == 22


def test_the_elderly_alone_and_isolated_are_marked(resident, grid_worker):  # noqa: ANN001
    resident.tags.add(Tag.objects.get(slug="elderly_alone"))
    IsolationPeriod.objects.create(resident=resident, kind="isolation", starts_on=NOW.date(),
                                   planned_end=NOW.date() + timedelta(days=13), reason="密接")
    errand = ask(resident, grid_worker)
    assert errand.vulnerable and errand.isolated


def test_the_queue_puts_the_urgent_first_then_the_longest_waiting(resident, grid_worker,  # noqa: ANN001
                                                                 django_assert_max_num_queries):
    first = ask(resident, grid_worker, ErrandInput(kind="other", details="一"))
    with clock.pinned(NOW + timedelta(minutes=5)):
        urgent = ask(resident, grid_worker, ErrandInput(kind="other", details="急",
                                                        urgency="urgent"))
        later = ask(resident, grid_worker, ErrandInput(kind="other", details="二"))
    with django_assert_max_num_queries(5):
        data = selectors.queue(grid_worker)
        shown = list(data.page)
    assert shown[:3] == [urgent, first, later]
    assert data.counts[ErrandStatus.NEW] == 3


def test_an_errand_goes_to_a_verified_volunteer_or_a_worker_of_the_area(  # noqa: ANN001
        resident, grid_worker, city):
    errand = ask(resident, grid_worker)
    helper = volunteer_of(resident.community)
    suggestions = selectors.helper_suggestions(errand)
    assert suggestions[0].user == grid_worker  # the resident's own grid first
    assert helper in [c.user for c in suggestions]
    for outsider in (city.persona("other_grid_worker"), city.persona("volunteer")):
        with pytest.raises(ValidationError):
            services.errand_assign(errand=errand, to=outsider, by=grid_worker)
    services.errand_assign(errand=errand, to=helper, by=grid_worker)
    assert errand.status == ErrandStatus.ASSIGNED and errand.assigned_to == helper


def test_statuses_move_only_forward_and_the_code_hands_over(resident, grid_worker):  # noqa: ANN001
    errand = ask(resident, grid_worker)
    helper = volunteer_of(resident.community)
    with pytest.raises(ValidationError):
        services.errand_advance(errand=errand, to=ErrandStatus.DELIVERING, by=grid_worker)
    services.errand_assign(errand=errand, to=helper, by=grid_worker)
    with pytest.raises(ValidationError) as excinfo:
        services.errand_deliver(errand=errand, by=helper, code=errand.handover_code)
    assert "cannot go from" in " ".join(excinfo.value.messages)
    services.errand_accept(errand=errand, by=helper)
    services.errand_advance(errand=errand, to=ErrandStatus.BUYING, by=helper)
    services.errand_advance(errand=errand, to=ErrandStatus.DELIVERING, by=helper)
    with pytest.raises(ValidationError) as excinfo:
        services.errand_deliver(errand=errand, by=helper, code="0000" if errand.handover_code
                                != "0000" else "1111")
    assert "not right" in field_messages(excinfo)["code"]
    services.errand_deliver(errand=errand, by=helper, code=errand.handover_code, hours=1.5)
    errand.refresh_from_db()
    assert (errand.status, errand.handover, float(errand.hours)) == ("delivered", "code", 1.5)
    with pytest.raises(ValidationError):
        services.errand_cancel(errand=errand, by=grid_worker, reason="晚了")
    whats = list(errand.events.values_list("what", flat=True))
    assert whats == ["created", "assigned", "accepted", "status", "status", "delivered"]


def test_garbage_and_repairs_have_nothing_to_buy(resident, grid_worker):  # noqa: ANN001
    errand = ask(resident, grid_worker, ErrandInput(kind="repair", details="暖气不热"))
    services.errand_assign(errand=errand, to=grid_worker, by=grid_worker)
    with pytest.raises(ValidationError):
        services.errand_advance(errand=errand, to=ErrandStatus.BUYING, by=grid_worker)
    services.errand_advance(errand=errand, to=ErrandStatus.DELIVERING, by=grid_worker)


def test_failing_needs_a_reason_the_resident_will_read(resident, grid_worker):  # noqa: ANN001
    errand = ask(resident, grid_worker)
    with pytest.raises(ValidationError) as excinfo:
        services.errand_fail(errand=errand, by=grid_worker, reason="  ")
    assert "Say why" in field_messages(excinfo)["reason"]
    services.errand_fail(errand=errand, by=grid_worker, reason="药店无货")
    assert errand.status == ErrandStatus.FAILED and errand.failure_reason == "药店无货"


def test_only_handlers_or_the_resident_cancel(resident, grid_worker, other_grid_worker):  # noqa: ANN001
    errand = ask(resident, grid_worker)
    with pytest.raises(PermissionDenied):
        services.errand_cancel(errand=errand, by=other_grid_worker)
    services.errand_cancel(errand=errand, by=None, by_resident=True, reason="不需要了")
    assert errand.status == ErrandStatus.CANCELLED
    assert errand.events.filter(what="cancelled", by_resident=True).exists()


def test_the_helper_sees_the_full_phone_only_while_the_task_is_theirs(resident, grid_worker):  # noqa: ANN001
    errand = ask(resident, grid_worker)
    helper = volunteer_of(resident.community)
    services.errand_assign(errand=errand, to=helper, by=grid_worker)
    with pytest.raises(ValidationError):
        services.errand_phone_reveal(errand=errand, by=helper)
    with pytest.raises(PermissionDenied):
        services.errand_phone_reveal(errand=errand, by=grid_worker)
    services.errand_accept(errand=errand, by=helper)
    phone = services.errand_phone_reveal(errand=errand, by=helper)
    assert phone.isdigit() and phone[-4:] == resident.phone_last4
    assert AuditEvent.objects.filter(action=AuditAction.REVEAL_PHONE, object_type="errand",
                                     object_id=str(errand.pk), actor_id=helper.pk).exists()
    services.errand_fail(errand=errand, by=helper, reason="联系不上")  # given back
    with pytest.raises(PermissionDenied):
        services.errand_phone_reveal(errand=errand, by=helper)


def test_a_garbage_errand_starts_the_households_daily_pickup_until_it_ends(resident,  # noqa: ANN001
                                                                           grid_worker):
    errand = ask(resident, grid_worker, ErrandInput(kind="garbage"))
    service = GarbageService.objects.get(household=resident.household)
    assert service.ends_on is None and service.errand == errand
    ask(resident, grid_worker, ErrandInput(kind="garbage"))  # no second service
    assert GarbageService.objects.filter(household=resident.household).count() == 1
    services.errand_cancel(errand=errand, by=grid_worker, reason="隔离结束")
    service.refresh_from_db()
    assert service.ends_on == NOW.date()


def test_a_helper_turns_down_a_task_before_taking_it_on(resident, grid_worker):  # noqa: ANN001
    errand = ask(resident, grid_worker)
    helper = volunteer_of(resident.community)
    services.errand_assign(errand=errand, to=helper, by=grid_worker)
    with pytest.raises(PermissionDenied):
        services.errand_decline(errand=errand, by=grid_worker)
    services.errand_decline(errand=errand, by=helper, reason="今天加班")
    assert (errand.status, errand.assigned_to) == (ErrandStatus.NEW, None)
    services.errand_assign(errand=errand, to=helper, by=grid_worker)
    services.errand_accept(errand=errand, by=helper)
    with pytest.raises(ValidationError):
        services.errand_decline(errand=errand, by=helper)


def test_line_breaks_from_a_browser_are_kept_as_plain_newlines(resident, grid_worker):  # noqa: ANN001
    errand = ask(resident, grid_worker, ErrandInput(kind="groceries", details="大米\r\n鸡蛋"))
    assert errand.details == "大米\n鸡蛋"


def test_a_helper_who_cannot_do_it_gives_it_back_to_the_queue(resident, grid_worker):  # noqa: ANN001
    errand = ask(resident, grid_worker)
    helper = volunteer_of(resident.community)
    services.errand_assign(errand=errand, to=helper, by=grid_worker)
    services.errand_accept(errand=errand, by=helper)
    services.errand_fail(errand=errand, by=helper, reason="药店关门了")
    assert (errand.status, errand.assigned_to, errand.failure_reason) == (
        ErrandStatus.NEW, None, "")
    assert errand.events.filter(what="gave_back", detail="药店关门了").exists()


def test_a_worker_cannot_move_it_on_before_the_helper_took_it(resident, grid_worker):  # noqa: ANN001
    errand = ask(resident, grid_worker)
    helper = volunteer_of(resident.community)
    services.errand_assign(errand=errand, to=helper, by=grid_worker)
    with pytest.raises(ValidationError) as excinfo:
        services.errand_advance(errand=errand, to=ErrandStatus.BUYING, by=grid_worker)
    assert "not taken it on" in field_messages(excinfo)["status"]


def test_a_second_tap_on_the_residents_page_asks_for_nothing_new(resident):  # noqa: ANN001
    data = ErrandInput(kind="groceries", details="牛奶两盒")
    first = ask(resident, None, data, source="resident")
    assert ask(resident, None, data, source="resident") == first
    with clock.pinned(NOW + timedelta(minutes=3)):
        assert ask(resident, None, data, source="resident") != first


def test_a_helper_no_longer_reads_an_errand_a_week_after_it_closed(resident, grid_worker):  # noqa: ANN001
    from django.http import Http404

    errand = ask(resident, grid_worker)
    helper = volunteer_of(resident.community)
    services.errand_assign(errand=errand, to=helper, by=grid_worker)
    services.errand_accept(errand=errand, by=helper)
    services.errand_advance(errand=errand, to=ErrandStatus.DELIVERING, by=helper)
    services.errand_deliver(errand=errand, by=helper, code=errand.handover_code)
    assert selectors.errand_for_user(helper, errand.pk) == errand
    with clock.pinned(NOW + timedelta(days=8)), pytest.raises(Http404):
        selectors.errand_for_user(helper, errand.pk)


def test_a_volunteer_no_longer_verified_cannot_act_on_their_task(resident, grid_worker):  # noqa: ANN001
    errand = ask(resident, grid_worker)
    helper = volunteer_of(resident.community)
    services.errand_assign(errand=errand, to=helper, by=grid_worker)
    Volunteer.objects.filter(user=helper).update(status=VolunteerStatus.SUSPENDED)
    with pytest.raises(PermissionDenied):
        services.errand_accept(errand=errand, by=helper)


@pytest.mark.parametrize(("value", "expected"), [("12", 12), (" 7 ", 7), ("²", None),
                                                 ("1" * 19, None), ("-3", None), ("", None),
                                                 (None, None)])
def test_posted_ids_are_plain_ascii_digits(value, expected):  # noqa: ANN001
    from fangkong.lib.http import posted_id

    assert posted_id(value) == expected


def test_wrong_codes_are_counted_and_stop_after_five(resident, grid_worker):  # noqa: ANN001
    errand = ask(resident, grid_worker)
    helper = volunteer_of(resident.community)
    services.errand_assign(errand=errand, to=helper, by=grid_worker)
    services.errand_accept(errand=errand, by=helper)
    services.errand_advance(errand=errand, to=ErrandStatus.DELIVERING, by=helper)
    wrong = "0000" if errand.handover_code != "0000" else "1111"
    for _n in range(services.MAX_CODE_MISSES):
        with pytest.raises(ValidationError):
            services.errand_deliver(errand=errand, by=helper, code=wrong)
    errand.refresh_from_db()
    assert errand.handover_misses == services.MAX_CODE_MISSES
    # Even the right code is refused now; a worker confirms it.
    with pytest.raises(ValidationError) as excinfo:
        services.errand_deliver(errand=errand, by=helper, code=errand.handover_code)
    assert "Too many wrong codes" in field_messages(excinfo)["code"]
    services.errand_deliver(errand=errand, by=grid_worker)
    errand.refresh_from_db()
    assert (errand.status, errand.handover) == (ErrandStatus.DELIVERED, "worker")
