"""Creating and starting campaigns: every problem reported at once, who may run them, and
whom a campaign with an isolation target asks."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from fangkong.followup.models import CampaignStatus, Contact
from fangkong.followup.rounds import round_open
from fangkong.followup.services import CampaignInput, campaign_create, campaign_start
from fangkong.isolation.services import isolation_end, isolation_start
from fangkong.places.models import Area, AreaKind
from fangkong.residents.models import Resident, Tag
from tests.factories import field_messages
from tests.followup.conftest import MONDAY, at, daily_version, make_campaign

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("english", "pinned_clock")]

WEDNESDAY = MONDAY + timedelta(days=2)
PLAN = [{"channel": "web", "at": 0}, {"channel": "visit", "at": 300}]


def campaign_input(area: Area, **changes) -> CampaignInput:  # noqa: ANN003
    data = CampaignInput(name="居家健康监测", purpose="疫情防控每日健康随访", area=area,
                         version=daily_version(), times=["09:00"], starts_on=MONDAY, plan=PLAN)
    return replace(data, **changes)


def test_a_campaign_is_saved_as_a_draft_with_its_settings_tidied(community_secretary,
                                                                   community):
    campaign = campaign_create(by=community_secretary, data=campaign_input(
        community, name="  居家健康监测 ", times=["16:00", "09:00"], weekdays=[4, 0, 0]))

    assert (campaign.status, campaign.next_round_at, campaign.created_by) == (
        CampaignStatus.DRAFT, None, community_secretary)
    assert (campaign.name, campaign.times, campaign.weekdays) == (
        "居家健康监测", ["09:00", "16:00"], [0, 4])
    assert campaign.target == {"tags": [], "isolation": "", "age_min": None, "age_max": None}


def test_every_problem_of_a_campaign_is_reported_at_once(community_secretary, other_grid_worker):
    outside_grid = other_grid_worker.area  # a grid, and in another community

    with pytest.raises(ValidationError) as excinfo:
        campaign_create(by=community_secretary, data=campaign_input(
            outside_grid, name=" ", times=["09:00", "10:00"], round_minutes=360, plan=[],
            target={"tags": ["no_such_tag"]}))

    errors = excinfo.value.message_dict
    assert set(errors) == {"name", "area", "times", "plan", "target"}
    assert errors["name"] == ["This field is required."]
    assert len(errors["area"]) == 2
    assert "A campaign covers a community or more" in errors["area"][0]
    assert errors["area"][1] == "This area is outside your own."
    assert errors["times"] == ["A round would still be open when the next one starts: space "
                               "the times further apart or shorten the rounds."]
    assert errors["plan"] == ["Choose at least one channel."]
    assert errors["target"] == ["Unknown tags: no_such_tag."]


def test_a_campaign_cannot_cover_a_single_grid(community_secretary, grid_worker):
    with pytest.raises(ValidationError) as excinfo:
        campaign_create(by=community_secretary, data=campaign_input(grid_worker.area))

    assert set(field_messages(excinfo)) == {"area"}
    assert "choose the community and narrow the target" in field_messages(excinfo)["area"]


def test_a_campaign_cannot_cover_an_area_outside_ones_own(street_officer):
    other_street = Area.objects.filter(kind=AreaKind.STREET).exclude(
        pk=street_officer.area_id).order_by("path").first()
    theirs = Area.objects.filter(parent=other_street).order_by("path").first()
    mine = Area.objects.filter(parent=street_officer.area).order_by("path").first()

    with pytest.raises(ValidationError) as excinfo:
        campaign_create(by=street_officer, data=campaign_input(theirs))

    assert field_messages(excinfo) == {"area": "This area is outside your own."}
    assert campaign_create(by=street_officer, data=campaign_input(mine)).area == mine


@pytest.mark.parametrize(("changes", "field"), [
    ({"round_minutes": 20, "plan": [{"channel": "web"}]}, "round_minutes"),
    ({"ends_on": MONDAY - timedelta(days=1)}, "ends_on"),
    ({"weekdays": [7]}, "weekdays"),
    ({"quiet_calls": ["21:00"]}, "quiet_calls"),
    ({"capacity": {"voice": 0}}, "capacity"),
    ({"capacity": {"fax": 5}}, "capacity"),
    ({"target": {"isolation": "quarantine"}}, "target"),
    ({"target": {"age_min": 70, "age_max": 60}}, "target"),
    ({"plan": [{"channel": "voice", "at": 0, "retries": 6}]}, "plan"),
    ({"times": ["09:00"] * 2}, "times"),
    ({"purpose": ""}, "purpose"),
])
def test_a_campaign_with_a_bad_setting_is_refused_on_that_field(community_secretary, community,
                                                               changes, field):
    with pytest.raises(ValidationError) as excinfo:
        campaign_create(by=community_secretary, data=campaign_input(community, **changes))

    assert set(excinfo.value.message_dict) == {field}


@pytest.mark.parametrize("persona", ["grid_worker", "community_worker", "gate_guard"])
def test_roles_that_do_not_manage_campaigns_cannot_create_or_start_one(
        city, community_secretary, community, persona):
    user = city.persona(persona)
    draft = campaign_create(by=community_secretary, data=campaign_input(community))

    with pytest.raises(PermissionDenied):
        campaign_create(by=user, data=campaign_input(community))
    with pytest.raises(PermissionDenied):
        campaign_start(by=user, campaign=draft)

    draft.refresh_from_db()
    assert draft.status == CampaignStatus.DRAFT


def test_starting_a_campaign_schedules_its_first_round(community_secretary, community):
    draft = campaign_create(by=community_secretary, data=campaign_input(community))

    started = campaign_start(by=community_secretary, campaign=draft)

    assert (started.status, started.next_round_at, started.started_at) == (
        CampaignStatus.RUNNING, at(9, 0), at(8, 0))


@pytest.mark.parametrize("target", [{"tags": ["nobody_has_it"]}, {"isolation": "any"},
                                    {"isolation": "monitoring"}])
def test_a_campaign_that_would_ask_nobody_is_not_started(community_secretary, community,
                                                         target):
    Tag.objects.create(slug="nobody_has_it", name="无人")
    draft = campaign_create(by=community_secretary,
                            data=campaign_input(community, target=target))

    with pytest.raises(ValidationError) as excinfo:
        campaign_start(by=community_secretary, campaign=draft)

    assert excinfo.value.messages == ["Nobody matches this campaign's target today: check the "
                                      "area and the filters."]
    draft.refresh_from_db()
    assert (draft.status, draft.next_round_at) == (CampaignStatus.DRAFT, None)


def test_a_campaign_whose_last_day_has_passed_is_not_started(community_secretary, community):
    draft = campaign_create(by=community_secretary, data=campaign_input(
        community, starts_on=MONDAY - timedelta(days=7), ends_on=MONDAY - timedelta(days=1)))

    with pytest.raises(ValidationError) as excinfo:
        campaign_start(by=community_secretary, campaign=draft)

    assert excinfo.value.messages == ["No round is left to run: the last day has passed."]


# --- isolation targets ------------------------------------------------------------------

@pytest.fixture
def periods(community, grid_worker, other_grid_worker):  # noqa: ANN001, ANN201
    """Residents in every situation an isolation filter must tell apart."""
    here = list(Resident.objects.filter(community=community).order_by("pk")[:4])
    isolated, monitored, ended_early, from_wednesday = here
    elsewhere = Resident.objects.filter(grid=other_grid_worker.area).order_by("pk").first()
    isolation_start(resident=isolated, kind="isolation", starts_on=MONDAY - timedelta(days=3),
                    reason="密接", by=grid_worker)
    isolation_start(resident=monitored, kind="monitoring", starts_on=MONDAY, reason="武汉返回",
                    by=grid_worker)
    early = isolation_start(resident=ended_early, kind="isolation",
                            starts_on=MONDAY - timedelta(days=10), reason="密接", by=grid_worker)
    isolation_end(period=early, on=MONDAY - timedelta(days=1), end_reason="early",
                  by=grid_worker)
    isolation_start(resident=from_wednesday, kind="isolation", starts_on=WEDNESDAY,
                    reason="次密接", by=grid_worker)
    isolation_start(resident=elsewhere, kind="isolation", starts_on=MONDAY, reason="密接",
                    by=other_grid_worker)
    return {"isolated": isolated, "monitored": monitored, "from_wednesday": from_wednesday}


@pytest.mark.parametrize(("isolation", "monday", "wednesday"), [
    ("any", {"isolated", "monitored"}, {"isolated", "monitored", "from_wednesday"}),
    ("isolation", {"isolated"}, {"isolated", "from_wednesday"}),
    ("monitoring", {"monitored"}, {"monitored"}),
])
def test_an_isolation_campaign_asks_only_residents_in_an_open_period_that_day(
        community_secretary, community, periods, isolation, monday, wednesday):
    campaign = make_campaign(community_secretary, community, target={"isolation": isolation},
                             plan=PLAN)

    names = {resident.pk: name for name, resident in periods.items()}

    def asked(day) -> set:  # noqa: ANN001
        """Who that day's round asks, by name (anyone unexpected by id)."""
        round_ = round_open(campaign=campaign, scheduled_for=at(9, 0, day), now=at(8, 0))
        return {names.get(pk, pk) for pk in Contact.objects.filter(round=round_)
                .values_list("resident_id", flat=True)}

    assert asked(MONDAY) == monday
    assert asked(WEDNESDAY) == wednesday
