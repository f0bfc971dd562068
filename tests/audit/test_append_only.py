"""The audit log is append-only in the model and in the database itself, and each reader
sees the events of their own area only."""

from __future__ import annotations

import pytest
from django.db import DatabaseError, connection, transaction
from django.urls import reverse

from fangkong.audit.models import AuditAction, AuditEvent
from fangkong.audit.selectors import audit_events_for_user
from fangkong.audit.services import audit_record
from fangkong.residents.services import resident_reveal
from tests.views.clients import make_client

pytestmark = pytest.mark.django_db


@pytest.fixture
def event(grid_worker) -> AuditEvent:  # noqa: ANN001
    return audit_record(by=grid_worker, action=AuditAction.EXPORT, object_type="export",
                        object_label="名单.xlsx", area_path=grid_worker.area.path,
                        changes={"rows": ["", 12]})


def test_saving_an_existing_event_again_is_refused(event):
    event.object_label = "改过的"
    with pytest.raises(PermissionError):
        event.save()
    assert AuditEvent.objects.get(pk=event.pk).object_label == "名单.xlsx"


def test_deleting_an_event_through_the_model_is_refused(event):
    with pytest.raises(PermissionError):
        event.delete()
    assert AuditEvent.objects.filter(pk=event.pk).exists()


def test_audit_record_appends_with_the_actor(event, grid_worker):
    assert (event.actor_id, event.actor_name, event.actor_role) == (
        grid_worker.pk, "grid_worker", "grid_worker")
    system = audit_record(by=None, action=AuditAction.LOGIN_FAILED, object_label="x")
    assert (system.actor_id, system.actor_name) == (None, "system")


@pytest.mark.parametrize("sql", [
    "UPDATE audit_auditevent SET object_label = 'forged' WHERE id = %s",
    "DELETE FROM audit_auditevent WHERE id = %s",
], ids=["update", "delete"])
def test_database_refuses_raw_update_and_delete(event, sql):
    with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql, [event.pk])
    row = AuditEvent.objects.get(pk=event.pk)
    assert row.object_label == "名单.xlsx"


def test_database_refuses_queryset_update_and_delete(event):
    with pytest.raises(DatabaseError), transaction.atomic():
        AuditEvent.objects.filter(pk=event.pk).update(actor_name="someone else")
    with pytest.raises(DatabaseError), transaction.atomic():
        AuditEvent.objects.filter(pk=event.pk).delete()
    assert AuditEvent.objects.get(pk=event.pk).actor_name == "grid_worker"


def test_database_refuses_emptying_the_table(event):
    # PostgreSQL's TRUNCATE skips row triggers; SQLite's unqualified DELETE is its truncate.
    sql = ("TRUNCATE audit_auditevent" if connection.vendor == "postgresql"
           else "DELETE FROM audit_auditevent")
    with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql)
    assert AuditEvent.objects.filter(pk=event.pk).exists()


# Who reads what -----------------------------------------------------------------------------


@pytest.fixture
def two_reveals(city):  # noqa: ANN001
    """A reveal in the secretary's community and one in the other community."""
    mine, other = city.persona("grid_worker"), city.persona("other_grid_worker")
    assert mine.area.parent_id != other.area.parent_id
    here = city.resident_in(mine.area)
    there = city.resident_in(other.area)
    resident_reveal(by=mine, resident=here, what="phone")
    resident_reveal(by=other, resident=there, what="phone")
    return here, there


def _event_ids(user, resident) -> set[int]:  # noqa: ANN001
    return set(audit_events_for_user(user).filter(object_id=str(resident.pk))
               .values_list("pk", flat=True))


def test_secretary_reads_the_events_of_her_community_only(city, community_secretary,
                                                          two_reveals):
    here, there = two_reveals
    assert _event_ids(community_secretary, here)
    assert not _event_ids(community_secretary, there)
    paths = audit_events_for_user(community_secretary).values_list("area_path", flat=True)
    top = community_secretary.area.path
    assert all(p == top or p.startswith(top + ".") for p in paths)
    page = make_client(community_secretary).get(reverse("audit:log"))
    assert page.status_code == 200
    body = page.content.decode()
    assert reverse("residents:detail", args=[here.pk]) in body
    assert reverse("residents:detail", args=[there.pk]) not in body
    assert "other_grid_worker" not in body


def test_street_officer_reads_both_communities_and_the_other_street_neither(
        city, street_officer, two_reveals):
    here, there = two_reveals
    assert _event_ids(street_officer, here) and _event_ids(street_officer, there)
    other_officer = city.persona("other_street_officer")
    assert not _event_ids(other_officer, here) and not _event_ids(other_officer, there)


def test_audit_page_filters_by_action(city, community_secretary, two_reveals):
    here, _there = two_reveals
    client = make_client(community_secretary)
    shown = client.get(reverse("audit:log"), {"action": AuditAction.REVEAL_PHONE})
    assert all(e.action == AuditAction.REVEAL_PHONE for e in shown.context["page"])
    assert reverse("residents:detail", args=[here.pk]) in shown.content.decode()
    hidden = client.get(reverse("audit:log"), {"action": AuditAction.EXPORT})
    assert reverse("residents:detail", args=[here.pk]) not in hidden.content.decode()


@pytest.mark.parametrize("persona", ["grid_worker", "community_worker", "gate_guard",
                                     "volunteer"])
def test_roles_without_the_audit_permission_cannot_read_the_log(city, persona, two_reveals):
    user = city.persona(persona)
    assert not audit_events_for_user(user).exists()
    assert make_client(user).get(reverse("audit:log")).status_code == 403
