"""The workers' errand pages: asking on a resident's behalf through the form, the queue
in a fixed number of queries, assigning and handing over through the errand page, and
404 for anyone outside the resident's area."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse

from fangkong.errands import services
from fangkong.errands.models import Errand, ErrandStatus
from fangkong.errands.services import ErrandInput
from tests.views.clients import make_client

pytestmark = pytest.mark.django_db


@pytest.fixture
def resident(city, grid_worker):  # noqa: ANN001, ANN201
    return city.resident_in(grid_worker.area)


def test_a_worker_asks_on_a_residents_behalf_through_the_form(resident, grid_worker):  # noqa: ANN001
    client = make_client(grid_worker)
    url = reverse("errands:new", args=[resident.pk])
    assert url in client.get(reverse("residents:detail", args=[resident.pk])).content.decode()
    # A medicine request without a medicine line is shown again, nothing stored.
    response = client.post(url, {"source": "phone", "kind": "medicine", "urgency": "normal",
                                  "payment": "resident", "details": "常用药"})
    assert response.status_code == 200 and response.context["form"].errors
    assert not Errand.objects.exists()
    response = client.post(url, {
        "source": "visit", "kind": "medicine", "urgency": "today", "payment": "account",
        "supplier": "老百姓大药房", "item_0_name": "硝苯地平缓释片", "item_0_strength": "20mg",
        "item_0_quantity": "2", "item_0_prescription": "on"})
    errand = Errand.objects.get()
    assert response.status_code == 302 and response.url == reverse("errands:errand",
                                                                   args=[errand.pk])
    item = errand.items.get()
    assert (item.name, item.strength, item.quantity, item.prescription) == (
        "硝苯地平缓释片", "20mg", 2, True)
    assert (errand.source, errand.supplier, errand.created_by) == ("visit", "老百姓大药房",
                                                                    grid_worker)


def test_assign_move_and_hand_over_through_the_errand_page(resident, grid_worker):  # noqa: ANN001
    errand = services.errand_create(resident=resident, data=ErrandInput(
        kind="groceries", details="大米一袋、鸡蛋"), source="phone", by=grid_worker)
    client = make_client(grid_worker)
    url = reverse("errands:errand", args=[errand.pk])
    page = client.get(url)
    assert page.context["helpers"][0].user == grid_worker
    assert client.post(url, {"do": "assign", "to": grid_worker.pk}).status_code == 302
    assert client.post(url, {"do": "buying"}).status_code == 302
    assert client.post(url, {"do": "delivering"}).status_code == 302
    wrong = "1111" if errand.handover_code != "1111" else "2222"
    response = client.post(url, {"do": "delivered", "code": wrong}, follow=True)
    errand.refresh_from_db()
    assert errand.status == ErrandStatus.DELIVERING
    assert client.post(url, {"do": "delivered", "code": errand.handover_code}
                       ).status_code == 302
    errand.refresh_from_db()
    assert errand.status == ErrandStatus.DELIVERED and errand.handover == "code"
    assert response.status_code == 200


def test_failing_without_a_reason_is_shown_on_the_form(resident, grid_worker):  # noqa: ANN001
    errand = services.errand_create(resident=resident, data=ErrandInput(
        kind="repair", details="下水道堵了"), source="phone", by=grid_worker)
    url = reverse("errands:errand", args=[errand.pk])
    response = make_client(grid_worker).post(url, {"do": "fail", "reason": ""})
    assert response.status_code == 200 and response.context["reason_form"].errors
    errand.refresh_from_db()
    assert errand.status == ErrandStatus.NEW


def test_errand_pages_are_not_found_outside_the_area(resident, grid_worker, city):  # noqa: ANN001
    errand = services.errand_create(resident=resident, data=ErrandInput(
        kind="other", details="取快递"), source="phone", by=grid_worker)
    for persona in ("other_grid_worker", "other_street_officer", "volunteer", "gate_guard"):
        client = make_client(city.persona(persona))
        assert client.get(reverse("errands:errand", args=[errand.pk])).status_code == 404
        assert client.get(reverse("errands:new", args=[resident.pk])).status_code in (403,
                                                                                        404)
    for persona in ("community_secretary", "community_worker", "street_officer"):
        client = make_client(city.persona(persona))
        assert client.get(reverse("errands:errand", args=[errand.pk])).status_code == 200


def test_the_queue_takes_a_fixed_number_of_queries(resident, grid_worker,  # noqa: ANN001
                                                   django_assert_max_num_queries):
    client = make_client(grid_worker)
    client.get(reverse("errands:queue"))
    for n in range(30):
        services.errand_create(resident=resident, data=ErrandInput(
            kind="groceries", details=f"第{n}单", urgency="urgent" if n % 5 == 0 else "normal"),
            source="phone", by=grid_worker)
    with django_assert_max_num_queries(12):
        response = client.get(reverse("errands:queue"), {"kind": "groceries"})
    assert response.status_code == 200
    assert len(response.context["queue"].page.object_list) == 30
    assert make_client().get(reverse("errands:queue")).status_code == 302


def test_a_worker_stops_the_residents_old_links(resident, grid_worker,  # noqa: ANN001
                                                other_grid_worker):
    from fangkong.audit.models import AuditAction, AuditEvent
    from fangkong.errands.resident_links import resident_token
    from fangkong.lib import clock

    old = resident_token(resident.pk)
    page = reverse("errands:resident", args=[old])
    assert make_client().get(page).status_code == 200
    client = make_client(grid_worker)
    with clock.pinned(clock.now() + timedelta(seconds=5)):
        url = reverse("errands:new", args=[resident.pk])
        assert client.post(url, {"do": "reset_links"}).status_code == 302
        assert make_client().get(page).status_code == 410
        new = resident_token(resident.pk)
        assert make_client().get(reverse("errands:resident", args=[new])).status_code == 200
    assert AuditEvent.objects.filter(action=AuditAction.RESIDENT_UPDATE,
                                     object_id=str(resident.pk),
                                     changes={"errand_links": "reset"}).exists()
    # A worker of another grid cannot.
    assert make_client(other_grid_worker).post(url, {"do": "reset_links"}).status_code == 404
