"""The staff pages of the follow-up robot, as the secretary and the grid worker use them."""

from __future__ import annotations

from django.urls import reverse

from fangkong.followup.channels.base import Result
from fangkong.followup.models import Alert, AlertStatus, Campaign, Contact, ContactState, Round
from tests.followup.conftest import at, make_campaign, run_until
from tests.views.clients import make_client

FEVER = {"fever": True, "temperature": "38.5", "cough": True, "symptoms": ["fatigue"]}


def _fever_round(secretary, community, transports):  # noqa: ANN001, ANN202
    campaign = make_campaign(secretary, community)
    transports["voice"].script = lambda t: Result(key=t.key, outcome="answered", answers=FEVER)
    run_until(at(11, 0))
    return campaign, Round.objects.get(campaign=campaign)


def test_secretary_reads_the_round_table_and_resolves_an_alert(
        community_secretary, community, pinned_clock, transports):  # noqa: ANN001
    campaign, round_ = _fever_round(community_secretary, community, transports)
    client = make_client(community_secretary)
    for url in (reverse("followup:campaigns"), reverse("followup:campaign", args=[campaign.pk]),
                reverse("followup:campaign_new"), reverse("followup:visits")):
        assert client.get(url).status_code == 200, url
    table = client.get(reverse("followup:round", args=[round_.pk]))
    total = table.context["total"]
    assert total.targeted == round_.targeted
    assert total.answered == Contact.objects.filter(round=round_, state="answered").count() > 0
    assert total.high == total.answered  # every voice answer was a fever
    assert "发热" in total.by_rule
    # The live refresh asks for the table alone.
    partial = client.get(reverse("followup:round", args=[round_.pk]), HTTP_HX_REQUEST="true")
    assert [t.name for t in partial.templates][0] == "followup/_round_table.html"
    alert = Alert.objects.filter(contact__round=round_, rule_key="fever").first()
    page = client.get(reverse("followup:alert", args=[alert.pk]))
    assert page.status_code == 200 and alert.title in page.content.decode()
    refused = client.post(reverse("followup:alert", args=[alert.pk]), {"outcome": "other"})
    assert refused.status_code == 200 and "note" in refused.context["form"].errors
    done = client.post(reverse("followup:alert", args=[alert.pk]), {"outcome": "fever_clinic"})
    assert done.status_code == 302
    alert.refresh_from_db()
    assert (alert.status, alert.outcome, alert.resolved_by) == (
        AlertStatus.RESOLVED, "fever_clinic", community_secretary)


def test_grid_worker_sees_only_the_alerts_of_their_grid(
        community_secretary, grid_worker, community, pinned_clock, transports):  # noqa: ANN001
    _fever_round(community_secretary, community, transports)
    listed = make_client(grid_worker).get(reverse("followup:alerts")).context["alerts"]
    assert listed and {a.grid_id for a in listed} == {grid_worker.area_id}


def test_door_visit_recorded_on_the_doorstep_answers_the_contact(
        community_secretary, grid_worker, community, pinned_clock, transports):  # noqa: ANN001
    campaign = make_campaign(community_secretary, community,
                             plan=[{"channel": "web", "at": 0}, {"channel": "visit", "at": 60}])
    run_until(at(10, 5))
    client = make_client(grid_worker)
    waiting = client.get(reverse("followup:visits")).context["contacts"]
    assert waiting and {c.grid_id for c in waiting} == {grid_worker.area_id}
    contact = waiting[0]
    bad = client.post(reverse("followup:visit", args=[contact.pk]), {"fever": "yes"})
    assert bad.status_code == 200 and "temperature" in bad.context["form"].errors
    ok = client.post(reverse("followup:visit", args=[contact.pk]),
                     {"fever": "no", "cough": "no"})
    assert ok.status_code == 302
    contact.refresh_from_db()
    assert (contact.state, contact.answered_via) == (ContactState.ANSWERED, "visit")
    assert contact not in client.get(reverse("followup:visits")).context["contacts"]
    assert campaign.pk


def test_secretary_creates_and_starts_a_campaign_from_the_form(
        community_secretary, pinned_clock):  # noqa: ANN001
    client = make_client(community_secretary)
    form = client.get(reverse("followup:campaign_new")).context["form"]
    questionnaire = form.fields["questionnaire"].queryset.get(slug="daily_health")
    data = {"name": "全体居民发热排查", "purpose": "疫情防控", "questionnaire": questionnaire.pk,
            "times": "09:00 16:00", "starts_on": "2026-11-30", "round_minutes": 360,
            "step1": "web", "step1_at": 0, "step2": "voice", "step2_at": 90, "step3": "visit",
            "step3_at": 300, "call_retries": 2, "call_spacing": 30, "voice_lines": 30,
            "sms_rate": 50, "quiet_calls_from": "21:00", "quiet_calls_to": "08:00",
            "quiet_sms_from": "22:00", "quiet_sms_to": "07:00", "proxy_answering": "on"}
    overlapping = client.post(reverse("followup:campaign_new"), {**data, "times": "09:00 10:00"})
    assert "times" in overlapping.context["form"].errors
    saved = client.post(reverse("followup:campaign_new"), data)
    assert saved.status_code == 302
    campaign = Campaign.objects.get(name="全体居民发热排查")
    assert campaign.status == "draft" and campaign.times == ["09:00", "16:00"]
    assert [s["channel"] for s in campaign.plan] == ["web", "voice", "visit"]
    client.post(reverse("followup:campaign_run", args=[campaign.pk, "start"]))
    campaign.refresh_from_db()
    assert campaign.status == "running" and campaign.next_round_at == at(9, 0)


def test_round_table_and_daily_table_download_as_excel_and_are_audited(
        community_secretary, community, pinned_clock, transports):  # noqa: ANN001
    from fangkong.audit.models import AuditEvent

    campaign, round_ = _fever_round(community_secretary, community, transports)
    client = make_client(community_secretary)
    before = AuditEvent.objects.filter(action="export").count()
    table = client.post(reverse("followup:round_export", args=[round_.pk]),
                        {"what": "table", "format": "xlsx"})
    assert table.status_code == 200
    assert table["Content-Disposition"].startswith("attachment")
    assert b"".join(table.streaming_content)[:2] == b"PK"  # an .xlsx is a zip
    listing = client.post(reverse("followup:round_export", args=[round_.pk]),
                          {"what": "abnormal", "format": "csv"})
    assert listing.status_code == 200
    day = client.get(reverse("followup:day", args=[campaign.pk]), {"date": "2026-11-30"})
    assert day.status_code == 200 and day.context["rounds"] == [round_]
    assert day.context["total"].targeted == round_.targeted
    empty = client.get(reverse("followup:day", args=[campaign.pk]), {"date": "2026-11-29"})
    assert empty.context["rounds"] == []
    daily = client.post(reverse("followup:day_export", args=[campaign.pk]),
                        {"date": "2026-11-30", "format": "csv"})
    assert daily.status_code == 200
    assert AuditEvent.objects.filter(action="export").count() == before + 3


def test_resident_record_shows_answers_alerts_and_periods(
        city, grid_worker, community_secretary, pinned_clock, transports):  # noqa: ANN001
    make_campaign(community_secretary, community_secretary.area)
    transports["voice"].script = lambda t: Result(key=t.key, outcome="answered", answers={
        "fever": True, "temperature": "38.4", "cough": False, "symptoms": ["fatigue"]})
    run_until(at(11, 0))
    resident = city.resident_in(grid_worker.area)
    page = make_client(grid_worker).get(reverse("followup:resident", args=[resident.pk]))
    assert page.status_code == 200
    shown = page.context["contacts"][0].shown
    assert ("体温（°C）", "38.4") in shown and ("有没有以下症状？（可多选，没有就不选）", "乏力") in shown
    assert any(a.title == "发热" for a in page.context["alerts"])


def test_follow_up_actions_and_reading_health_answers_are_audited(
        city, community_secretary, grid_worker, community, pinned_clock, transports):  # noqa: ANN001
    from fangkong.audit.models import AuditEvent

    campaign, round_ = _fever_round(community_secretary, community, transports)
    assert AuditEvent.objects.filter(action="campaign_change", object_id=str(campaign.pk),
                                     changes__status=["", "started"]).exists()
    client = make_client(grid_worker)
    resident = city.resident_in(grid_worker.area)
    client.get(reverse("followup:resident", args=[resident.pk]))
    viewed = AuditEvent.objects.get(action="health_view", object_id=str(resident.pk))
    assert viewed.actor_name == grid_worker.username
    alert = Alert.objects.filter(contact__round=round_, grid=grid_worker.area).first()
    client.post(reverse("followup:alert", args=[alert.pk]), {"outcome": "visited"})
    assert AuditEvent.objects.filter(action="alert_resolve", object_id=str(alert.pk)).exists()
