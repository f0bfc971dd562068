"""The helper's pages: a volunteer sees only the tasks given to them and only what a task
needs (the masked phone until they take it on, the full phone once per look, audited,
while it is open), and moves it along to a contactless hand-over by code or photo."""

from __future__ import annotations

import struct
import zlib
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from fangkong.accounts.models import User
from fangkong.audit.models import AuditAction, AuditEvent
from fangkong.errands import services
from fangkong.errands.models import ErrandStatus, HandoverPhoto
from fangkong.errands.services import ErrandInput
from fangkong.lib import clock, crypto
from fangkong.residents.models import Tag
from tests.views.clients import make_client

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("english")]
NOW = datetime(2026, 12, 1, 9, 0, tzinfo=ZoneInfo("Asia/Shanghai"))


@pytest.fixture(autouse=True)
def pinned():
    with clock.pinned(NOW):
        yield


@pytest.fixture
def helper(make_volunteer) -> User:  # noqa: ANN001
    return make_volunteer(name="志愿者小张").user


def staff(user: User) -> Client:
    return make_client(user, language="en")


def task_url(errand) -> str:  # noqa: ANN001
    return reverse("errands:task", args=[errand.pk])


def tiny_png() -> bytes:
    """A real 1×1 PNG."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))
    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    pixels = zlib.compress(b"\x00\xff\x00\x00")
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels)
            + chunk(b"IEND", b""))


def clear_phone(errand) -> str:  # noqa: ANN001
    return crypto.unseal(errand.resident.phone_sealed, purpose="phone")


def test_a_volunteer_sees_only_the_tasks_given_to_them(helper, make_volunteer,  # noqa: ANN001
                                                       make_errand, grid_worker):
    mine = make_errand(assign_to=helper)
    theirs = make_errand(assign_to=make_volunteer(name="别的志愿者").user)
    nobodys = make_errand()
    client = staff(helper)
    listing = client.get(reverse("errands:tasks"))
    assert [e.pk for e in listing.context["open"]] == [mine.pk]
    assert task_url(mine) in listing.content.decode()
    assert task_url(theirs) not in listing.content.decode()
    assert client.get(task_url(mine)).status_code == 200
    for errand in (theirs, nobodys):
        assert client.get(task_url(errand)).status_code == 404
        assert client.post(task_url(errand), {"do": "accept"}).status_code == 404
        assert client.post(task_url(errand), {"do": "phone"}).status_code == 404
    assert not AuditEvent.objects.filter(action=AuditAction.REVEAL_PHONE).exists()
    # A worker who handles the errand but was not given it uses the worker's page.
    assert staff(grid_worker).get(task_url(mine)).status_code == 404


def test_a_worker_given_an_errand_uses_the_task_page(grid_worker, make_errand):  # noqa: ANN001
    errand = make_errand(assign_to=grid_worker)
    assert staff(grid_worker).get(task_url(errand)).status_code == 200


def test_anonymous_callers_are_sent_to_the_login(make_errand, helper):  # noqa: ANN001
    errand = make_errand(assign_to=helper)
    for url in (reverse("errands:tasks"), task_url(errand)):
        response = Client().get(url)
        assert response.status_code == 302 and "/login" in response["Location"]


def test_the_task_shows_only_what_it_needs(helper, make_errand, city, grid_worker):  # noqa: ANN001
    resident = city.resident_in(grid_worker.area)
    resident.tags.add(Tag.objects.order_by("pk").first())
    errand = make_errand(resident=resident, assign_to=helper, data=ErrandInput(
        kind="medicine", items=[services.ItemInput(name="阿莫西林", strength="0.25g", quantity=2,
                                                   unit="盒", prescription=True)],
        details="门口放着就行", preferred_time="下午", urgency="today"))
    body = staff(helper).get(task_url(errand)).content.decode()
    household = resident.household
    for shown in ("阿莫西林", "0.25g", "× 2", "needs a prescription", "门口放着就行", "下午",
                  "Paid by the resident", household.building.name, household.room,
                  resident.phone_masked, resident.name[0] + "*"):
        assert shown in body, shown
    for hidden in (resident.name, resident.id_number_masked, clear_phone(errand),
                   errand.handover_code, *[t.name for t in resident.tags.all()]):
        assert hidden not in body, hidden
    assert "tel:" not in body


def test_the_full_phone_only_after_taking_it_on_and_audited(helper, make_errand):  # noqa: ANN001
    errand = make_errand(assign_to=helper)
    client = staff(helper)
    page = client.get(task_url(errand)).content.decode()
    assert "Show full number" not in page and "once you take the task on" in page
    refused = client.post(task_url(errand), {"do": "phone"})
    assert refused.status_code == 200
    assert "only while you have taken the errand on" in refused.content.decode()
    assert clear_phone(errand) not in refused.content.decode()
    assert not AuditEvent.objects.filter(action=AuditAction.REVEAL_PHONE).exists()

    assert client.post(task_url(errand), {"do": "accept"}).status_code == 302
    errand.refresh_from_db()
    assert errand.accepted_at == NOW
    page = client.get(task_url(errand)).content.decode()
    assert "Show full number" in page and clear_phone(errand) not in page
    revealed = client.post(task_url(errand), {"do": "phone"}).content.decode()
    assert f'href="tel:{clear_phone(errand)}"' in revealed
    event = AuditEvent.objects.get(action=AuditAction.REVEAL_PHONE)
    assert (event.actor_id, event.object_type, event.object_id) == (helper.pk, "errand",
                                                                    str(errand.pk))
    # Shown once: the next look at the page is masked again.
    assert clear_phone(errand) not in client.get(task_url(errand)).content.decode()


def test_after_delivery_the_phone_is_masked_again(helper, make_errand):  # noqa: ANN001
    errand = make_errand(assign_to=helper)
    client = staff(helper)
    client.post(task_url(errand), {"do": "accept"})
    client.post(task_url(errand), {"do": "delivering"})
    client.post(task_url(errand), {"do": "deliver", "code": errand.handover_code})
    errand.refresh_from_db()
    assert errand.status == ErrandStatus.DELIVERED
    page = client.get(task_url(errand)).content.decode()
    assert "Show full number" not in page and errand.resident.phone_masked in page
    refused = client.post(task_url(errand), {"do": "phone"}).content.decode()
    assert clear_phone(errand) not in refused
    assert not AuditEvent.objects.filter(action=AuditAction.REVEAL_PHONE).exists()
    # The closed task stays on the list for a week.
    listing = client.get(reverse("errands:tasks"))
    assert [e.pk for e in listing.context["done"]] == [errand.pk]


def test_the_buttons_move_it_along_and_the_code_hands_it_over(helper, make_errand):  # noqa: ANN001
    errand = make_errand(assign_to=helper)
    client = staff(helper)
    page = client.get(task_url(errand)).content.decode()
    assert 'value="accept"' in page and 'value="buying"' not in page
    client.post(task_url(errand), {"do": "accept"})
    page = client.get(task_url(errand)).content.decode()
    assert 'value="buying"' in page and 'value="delivering"' in page
    assert 'value="deliver"' not in page
    assert client.post(task_url(errand), {"do": "buying"}).status_code == 302
    assert client.post(task_url(errand), {"do": "delivering"}).status_code == 302
    errand.refresh_from_db()
    assert errand.status == ErrandStatus.DELIVERING
    wrong = "0000" if errand.handover_code != "0000" else "1111"
    response = client.post(task_url(errand), {"do": "deliver", "code": wrong})
    assert response.status_code == 200
    assert "The code is not right" in " ".join(response.context["deliver_form"].errors["code"])
    errand.refresh_from_db()
    assert errand.status == ErrandStatus.DELIVERING
    nothing = client.post(task_url(errand), {"do": "deliver"})
    assert "Type the resident's code" in " ".join(nothing.context["deliver_form"].errors["code"])
    response = client.post(task_url(errand), {"do": "deliver", "code": errand.handover_code,
                                              "hours": "1.5"})
    assert response.status_code == 302 and response["Location"] == reverse("errands:tasks")
    errand.refresh_from_db()
    assert (errand.status, errand.handover, errand.hours, errand.closed_at) == (
        ErrandStatus.DELIVERED, "code", 1.5, NOW)


def test_a_photo_hands_it_over_and_a_non_image_is_refused(helper, make_errand):  # noqa: ANN001
    errand = make_errand(assign_to=helper)
    client = staff(helper)
    client.post(task_url(errand), {"do": "accept"})
    client.post(task_url(errand), {"do": "delivering"})
    text = SimpleUploadedFile("door.png", b"not a picture at all", content_type="image/png")
    response = client.post(task_url(errand), {"do": "deliver", "photo": text})
    assert response.status_code == 200
    assert "JPEG or PNG" in " ".join(response.context["deliver_form"].errors["photo"])
    assert not HandoverPhoto.objects.exists()
    photo = SimpleUploadedFile("door.png", tiny_png(), content_type="image/png")
    response = client.post(task_url(errand), {"do": "deliver", "photo": photo})
    assert response.status_code == 302
    errand.refresh_from_db()
    assert (errand.status, errand.handover) == (ErrandStatus.DELIVERED, "photo")
    stored = HandoverPhoto.objects.get(errand=errand)
    assert bytes(stored.data) == tiny_png() and stored.content_type == "image/png"


def test_hours_out_of_range_are_refused_next_to_the_field(helper, make_errand):  # noqa: ANN001
    errand = make_errand(assign_to=helper)
    client = staff(helper)
    client.post(task_url(errand), {"do": "accept"})
    client.post(task_url(errand), {"do": "delivering"})
    response = client.post(task_url(errand), {"do": "deliver", "code": errand.handover_code,
                                              "hours": "30"})
    assert response.context["deliver_form"].errors["hours"]
    errand.refresh_from_db()
    assert errand.status == ErrandStatus.DELIVERING


def test_nothing_to_buy_for_a_repair(helper, make_errand):  # noqa: ANN001
    errand = make_errand(assign_to=helper, data=ErrandInput(kind="repair", details="水管漏水"))
    client = staff(helper)
    client.post(task_url(errand), {"do": "accept"})
    page = client.get(task_url(errand)).content.decode()
    assert 'value="buying"' not in page and 'value="delivering"' in page
    response = client.post(task_url(errand), {"do": "buying"})
    assert response.status_code == 200
    assert "nothing to buy" in response.content.decode()
    errand.refresh_from_db()
    assert errand.status == ErrandStatus.ASSIGNED


def test_cannot_do_it_needs_a_reason(helper, make_errand):  # noqa: ANN001
    errand = make_errand(assign_to=helper)
    client = staff(helper)
    client.post(task_url(errand), {"do": "accept"})
    response = client.post(task_url(errand), {"do": "fail", "reason": ""})
    assert "Say why" in " ".join(response.context["fail_form"].errors["reason"])
    assert client.post(task_url(errand), {"do": "fail", "reason": "药店缺货"}).status_code == 302
    # The helper gives it back: to the queue with the reason, for the worker to find
    # another way (only a worker closes an errand as not possible).
    errand.refresh_from_db()
    assert (errand.status, errand.assigned_to_id) == (ErrandStatus.NEW, None)
    assert errand.events.filter(what="gave_back", detail="药店缺货").exists()
    # It is no longer theirs: the task page is not found.
    assert client.get(task_url(errand)).status_code == 404


def test_a_task_reassigned_meanwhile_is_no_longer_theirs(  # noqa: ANN001
        helper, make_errand, make_volunteer, grid_worker):
    errand = make_errand(assign_to=helper)
    services.errand_assign(errand=errand, to=make_volunteer(name="另一位").user, by=grid_worker)
    assert staff(helper).post(task_url(errand), {"do": "accept"}).status_code == 404


def test_the_task_list_costs_the_same_queries_whatever_its_length(  # noqa: ANN001
        helper, make_errand):
    client = staff(helper)
    make_errand(assign_to=helper)
    client.get(reverse("errands:tasks"))
    with CaptureQueriesContext(connection) as one:
        client.get(reverse("errands:tasks"))
    for _n in range(5):
        make_errand(assign_to=helper)
    with CaptureQueriesContext(connection) as six:
        response = client.get(reverse("errands:tasks"))
    assert len(response.context["open"]) == 6
    assert len(six) == len(one)
