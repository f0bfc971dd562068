"""The workers' pass pages: a resident's and a household's pass, issued, issued again
(confirmed, old codes dead), revoked with a reason; the access gate (404 outside the area
before the 403 of a role that may not issue); and the audit trail."""

from __future__ import annotations

import pytest
from django.urls import reverse

from fangkong.audit.models import AuditAction, AuditEvent
from fangkong.lib import clock
from fangkong.passes.models import Pass
from fangkong.passes.services import household_pass_issue, pass_issue
from fangkong.passes.status import Colour, status_of_token
from fangkong.residents.models import Resident, ResidentStatus
from tests.passes.conftest import NOW, code_of
from tests.views.clients import make_client

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("english")]


@pytest.fixture(autouse=True)
def pinned():
    with clock.pinned(NOW):
        yield


def page(resident) -> str:  # noqa: ANN001
    return reverse("passes:resident_pass", args=[resident.pk])


def test_a_resident_without_a_pass_gets_one_with_a_click(resident, grid_worker):  # noqa: ANN001
    client = make_client(grid_worker, language="en")
    before = client.get(page(resident))
    assert before.status_code == 200
    assert "No pass has been issued yet." in before.content.decode()
    assert before["Cache-Control"].count("no-store") == 1
    response = client.post(page(resident), {"do": "issue"})
    assert response.status_code == 302
    pass_ = Pass.objects.get(resident=resident)
    assert (pass_.version, pass_.issued_by) == (1, grid_worker)
    shown = client.get(page(resident)).content.decode()
    assert "data:image/png;base64," in shown and "May pass." in shown
    assert "Pass issued (version 1)" in shown
    event = AuditEvent.objects.get(action=AuditAction.PASS_ISSUE, object_id=str(resident.pk))
    assert (event.actor_id, event.object_type, event.area_path) == (
        grid_worker.pk, "resident", resident.grid.path)


def test_issuing_again_needs_the_confirmation_and_kills_the_old_codes(
        resident, resident_pass, grid_worker):  # noqa: ANN001
    client = make_client(grid_worker, language="en")
    old = code_of(resident_pass)
    shown = client.get(page(resident)).content.decode()
    assert "stop working at the gates" in shown
    refused = client.post(page(resident), {"do": "issue"})
    assert refused.status_code == 400
    assert "Tick the box to confirm" in refused.content.decode()
    assert Pass.objects.get(pk=resident_pass.pk).version == 1
    done = client.post(page(resident), {"do": "issue", "reissue-confirm": "on"})
    assert done.status_code == 302
    assert Pass.objects.get(pk=resident_pass.pk).version == 2
    assert status_of_token(old).refusal == "old_version"


def test_revoking_needs_a_reason_and_turns_the_code_grey(resident, resident_pass,
                                                         grid_worker):  # noqa: ANN001
    client = make_client(grid_worker, language="en")
    blank = client.post(page(resident), {"do": "revoke", "revoke-reason": "  "})
    assert blank.status_code == 400
    assert "Say why" in blank.content.decode()
    done = client.post(page(resident), {"do": "revoke", "revoke-reason": "卡片丢失"})
    assert done.status_code == 302
    status = status_of_token(code_of(resident_pass))
    assert (status.colour, status.refusal) == (Colour.GREY, "revoked")
    shown = client.get(page(resident)).content.decode()
    assert "Pass revoked." in shown and "卡片丢失" in shown
    assert 'value="revoke"' not in shown  # nothing left to revoke
    event = AuditEvent.objects.get(action=AuditAction.PASS_REVOKE)
    assert event.changes["reason"] == ["", "卡片丢失"]
    # Issued again: back in force with a new version.
    client.post(page(resident), {"do": "issue", "reissue-confirm": "on"})
    assert status_of_token(code_of(Pass.objects.get(pk=resident_pass.pk))).colour == "green"


def test_a_resident_outside_the_area_is_not_found_before_the_role_is_asked(
        city, resident, other_grid_worker, street_officer):  # noqa: ANN001
    outside = make_client(other_grid_worker, language="en")
    assert outside.get(page(resident)).status_code == 404
    assert outside.post(page(resident), {"do": "issue"}).status_code == 404
    # A street officer sees the registry of the street but does not issue passes.
    officer = make_client(street_officer, language="en")
    assert officer.get(page(resident)).status_code == 403
    assert officer.post(page(resident), {"do": "issue"}).status_code == 403
    # A guard sees no registry: not found, even in their own community.
    guard = make_client(city.persona("gate_guard"), language="en")
    assert guard.get(page(resident)).status_code == 404
    assert not Pass.objects.exists()
    anonymous = make_client()
    assert anonymous.get(page(resident)).status_code == 302


def test_a_resident_who_moved_out_gets_no_new_pass_but_can_be_revoked(
        resident, resident_pass, grid_worker):  # noqa: ANN001
    Resident.objects.filter(pk=resident.pk).update(status=ResidentStatus.MOVED_OUT)
    client = make_client(grid_worker, language="en")
    shown = client.get(page(resident)).content.decode()
    assert "no longer registered here" in shown and 'value="issue"' not in shown
    refused = client.post(page(resident), {"do": "issue", "reissue-confirm": "on"})
    assert refused.status_code == 400
    assert Pass.objects.get(pk=resident_pass.pk).version == 1
    assert client.post(page(resident), {"do": "revoke", "revoke-reason": "搬走"}
                       ).status_code == 302


def test_the_household_pass_is_one_code_for_the_home(resident, grid_worker,
                                                     community_secretary):  # noqa: ANN001
    url = reverse("passes:household_pass", args=[resident.household_id])
    client = make_client(community_secretary, language="en")
    assert client.get(url).status_code == 200
    assert client.post(url, {"do": "issue"}).status_code == 302
    pass_ = Pass.objects.get(household_id=resident.household_id)
    status = status_of_token(code_of(pass_))
    assert resident in status.residents and status.colour == Colour.GREEN
    shown = client.get(url).content.decode()
    assert resident.name in shown and "data:image/png;base64," in shown
    assert client.post(url, {"do": "issue", "reissue-confirm": "on"}).status_code == 302
    assert Pass.objects.get(pk=pass_.pk).version == 2
    assert client.post(url, {"do": "revoke", "revoke-reason": "换卡"}).status_code == 302
    assert status_of_token(code_of(Pass.objects.get(pk=pass_.pk))).refusal == "revoked"
    assert AuditEvent.objects.filter(object_type="household",
                                     object_id=str(resident.household_id)).count() == 3
    # The resident's page points to it.
    assert "version 2" in client.get(page(resident)).content.decode()


def test_household_passes_are_issued_only_within_ones_area(resident, other_grid_worker,
                                                           grid_worker):  # noqa: ANN001
    from django.core.exceptions import PermissionDenied

    with pytest.raises(PermissionDenied):
        household_pass_issue(household=resident.household, by=other_grid_worker)
    url = reverse("passes:household_pass", args=[resident.household_id])
    assert make_client(other_grid_worker).post(url, {"do": "issue"}).status_code == 404
    pass_ = household_pass_issue(household=resident.household, by=grid_worker)
    assert pass_.version == 1 and pass_.resident_id is None


def test_an_empty_household_gets_no_pass(resident, grid_worker):  # noqa: ANN001
    Resident.objects.filter(household_id=resident.household_id).update(
        status=ResidentStatus.MOVED_OUT)
    url = reverse("passes:household_pass", args=[resident.household_id])
    response = make_client(grid_worker, language="en").post(url, {"do": "issue"})
    assert response.status_code == 400
    assert "Nobody is registered in this household." in response.content.decode()
    assert not Pass.objects.exists()


def test_the_resident_and_building_pages_link_to_the_passes(resident, grid_worker,
                                                            street_officer):  # noqa: ANN001
    client = make_client(grid_worker, language="en")
    detail = client.get(reverse("residents:detail", args=[resident.pk])).content.decode()
    assert page(resident) in detail
    building = client.get(reverse("places:building",
                                  args=[resident.household.building_id])).content.decode()
    assert reverse("passes:building_sheet", args=[resident.household.building_id]) in building
    officer = make_client(street_officer, language="en")
    assert page(resident) not in officer.get(
        reverse("residents:detail", args=[resident.pk])).content.decode()


def test_the_service_audits_every_issue(resident, grid_worker):  # noqa: ANN001
    pass_issue(resident=resident, by=grid_worker)
    pass_issue(resident=resident, by=grid_worker)
    versions = sorted(e.changes["version"][1] for e in AuditEvent.objects.filter(
        action=AuditAction.PASS_ISSUE))
    assert versions == [1, 2]
