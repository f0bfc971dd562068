"""Alert summaries pushed to a community's WeCom / DingTalk group robot, against fake
robots over real HTTP: configuring, what the group reads (counts, never a name), retries,
errors that stick, and the page the secretary uses."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.urls import reverse
from django.utils import timezone

from fangkong.followup import robots
from fangkong.followup.answers import contacts_answer
from fangkong.followup.models import Alert, AlertEvent, Contact, GroupRobot
from fangkong.followup.notices import notice_raise
from fangkong.followup.push import MAX_CONTENT_BYTES
from fangkong.followup.rounds import round_open
from fangkong.jobs.dispatch import HANDLERS
from fangkong.jobs.handlers import PERIODIC
from fangkong.jobs.models import Job, JobState
from fangkong.lib import crypto
from fangkong.places.models import Area, AreaKind
from fangkong.residents.models import Resident, Tag
from tests.factories import field_messages
from tests.fakes.group_robot import FakeGroupRobot
from tests.followup.conftest import at, make_campaign
from tests.views.clients import make_client

pytestmark = pytest.mark.django_db

FEVER = {"fever": True, "temperature": Decimal("38.2"), "cough": False, "symptoms": []}
DING_SECRET = "SEC0123456789abcdef0123456789abcdef"
PUBLIC_URL = "https://fk.example.cn"


@pytest.fixture(autouse=True)
def _public_url(settings):  # noqa: ANN001, ANN202
    settings.PUBLIC_URL = PUBLIC_URL


@pytest.fixture
def wecom() -> Iterator[FakeGroupRobot]:
    with FakeGroupRobot("wecom") as robot:
        yield robot


@pytest.fixture
def dingtalk() -> Iterator[FakeGroupRobot]:
    with FakeGroupRobot("dingtalk", secret=DING_SECRET) as robot:
        yield robot


@pytest.fixture
def resident(community) -> Resident:  # noqa: ANN001
    person = (Resident.objects.filter(community=community, phone_sealed__isnull=False)
              .select_related("household", "grid").order_by("pk").first())
    Tag.objects.create(slug="robots_test", name="robots_test").residents.add(person)
    return person


@pytest.fixture
def fever(community_secretary, community, resident, pinned_clock) -> list[Alert]:  # noqa: ANN001
    """The resident answers the 09:00 round with a fever at 09:30: two alerts (fever, and
    fever reported)."""
    campaign = make_campaign(community_secretary, community, target={"tags": ["robots_test"]})
    round_ = round_open(campaign=campaign, scheduled_for=at(9, 0), now=at(8, 0))
    contact = Contact.objects.select_related("round", "round__campaign").get(round=round_)
    return contacts_answer([(contact, FEVER, "web")], now=at(9, 30))


def configure(by, area, fake: FakeGroupRobot, **kwargs) -> GroupRobot:  # noqa: ANN001
    return robots.robot_configure(by=by, area=area, kind=fake.kind, url=fake.url, **kwargs)


def texts(fake: FakeGroupRobot) -> list[str]:
    key = "content" if fake.kind == "wecom" else "text"
    return [message["markdown"][key] for message in fake.received]


def pushed(alerts: list[Alert]) -> list:
    return list(Alert.objects.filter(pk__in=[a.pk for a in alerts]).order_by("pk")
                .values_list("pushed_at", flat=True))


# Configuring ----------------------------------------------------------------------------

@pytest.mark.parametrize(("kind", "url"), [
    ("wecom", "https://qyapi.weixin.qq.com.evil.cn/cgi-bin/webhook/send?key=abc"),
    ("wecom", "http://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=abc"),
    ("wecom", "https://qyapi.weixin.qq.com/cgi-bin/webhook/send"),
    ("wecom", "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=abc 复制"),
    ("dingtalk", "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=abc"),
    ("dingtalk", "https://oapi.dingtalk.com/robot/send?access_token="),
    ("wecom", ""),
])
def test_configuring_refuses_an_address_that_is_not_a_robots(community_secretary, community,
                                                             kind, url):
    with pytest.raises(ValidationError) as excinfo:
        robots.robot_configure(by=community_secretary, area=community, kind=kind, url=url)

    assert set(field_messages(excinfo)) == {"url"}
    assert not GroupRobot.objects.exists()


def test_configuring_refuses_a_secret_the_robot_cannot_have(community_secretary, community,
                                                            wecom, dingtalk):
    for fake, secret in ((wecom, DING_SECRET), (dingtalk, "not a secret")):
        with pytest.raises(ValidationError) as excinfo:
            configure(community_secretary, community, fake, secret=secret)
        assert set(field_messages(excinfo)) == {"secret"}
    assert not GroupRobot.objects.exists()


def test_configuring_refuses_other_areas_and_roles(city, community_secretary, street_officer,
                                                   grid_worker, wecom):
    other_community = (Area.objects.filter(kind=AreaKind.COMMUNITY)
                       .exclude(pk=community_secretary.area_id).order_by("path").first())
    other_street = city.persona("other_street_officer").area
    refused = [(community_secretary, other_community), (community_secretary, other_street),
               (street_officer, other_street), (grid_worker, grid_worker.area),
               (grid_worker, community_secretary.area)]
    for user, area in refused:
        with pytest.raises(PermissionDenied):
            configure(user, area, wecom)
    # A grid lies inside the secretary's community, but a robot is a community's or a
    # street's.
    grid = Area.objects.filter(parent=community_secretary.area).first()
    with pytest.raises(ValidationError) as excinfo:
        configure(community_secretary, grid, wecom)
    assert set(field_messages(excinfo)) == {"area"}
    assert not GroupRobot.objects.exists()
    # The street officer sets up the street's robot, and a community's of their street.
    configure(street_officer, street_officer.area, wecom)
    inside = Area.objects.filter(parent=street_officer.area, kind=AreaKind.COMMUNITY).first()
    configure(street_officer, inside, wecom)
    assert GroupRobot.objects.count() == 2


def test_address_and_secret_are_stored_sealed_and_kept_when_left_empty(
        community_secretary, community, dingtalk):
    robot = configure(community_secretary, community, dingtalk, secret=DING_SECRET)

    assert dingtalk.credential.encode() not in bytes(robot.url_sealed)
    assert DING_SECRET.encode() not in bytes(robot.secret_sealed)
    assert robots.robot_target(robot).url == dingtalk.url
    # Switched off without pasting the address again: address and secret stay.
    robots.robot_configure(by=community_secretary, area=community, kind="dingtalk", url="",
                           enabled=False)
    robot = GroupRobot.objects.get(area=community)
    assert not robot.enabled
    assert robots.robot_target(robot) == robots.RobotTarget("dingtalk", dingtalk.url,
                                                           DING_SECRET)
    # Another kind needs its own address.
    with pytest.raises(ValidationError) as excinfo:
        robots.robot_configure(by=community_secretary, area=community, kind="wecom", url="")
    assert set(field_messages(excinfo)) == {"url"}
    # The page shows the host and the last four characters of the key, nothing more.
    assert robots.robot_masked_url(robot) == f"127.0.0.1 …{dingtalk.credential[-4:]}"


# Pushing --------------------------------------------------------------------------------

def test_a_fever_is_pushed_once_as_counts_without_personal_data(
        community_secretary, community, resident, fever, wecom):
    configure(community_secretary, community, wecom)

    assert robots.alerts_push(now=at(9, 31)) == 2

    [text] = texts(wecom)
    assert community.name in text
    assert resident.grid.name in text
    assert "发热 1" in text and "自述发热 1" in text
    assert f"{PUBLIC_URL}{reverse('followup:alerts')}" in text
    phone = crypto.unseal(resident.phone_sealed, purpose="phone")
    for personal in (resident.name, resident.household.label, resident.household.room,
                     phone, resident.phone_masked, "38.2"):
        assert personal not in text, personal
    assert pushed(fever) == [at(9, 31)] * 2
    assert AlertEvent.objects.filter(alert__in=fever, what="pushed").count() == 2
    # The next minute: nothing new, nothing sent.
    assert robots.alerts_push(now=at(9, 32)) == 0
    assert len(wecom.received) == 1 and wecom.errcodes == [0]


def test_a_new_alert_is_pushed_alone_in_the_next_message(
        community_secretary, community, resident, fever, wecom, pinned_clock):
    configure(community_secretary, community, wecom)
    robots.alerts_push(now=at(9, 31))
    pinned_clock.set(at(9, 40))
    notice_raise(resident=resident, title="隔离期结束")

    assert robots.alerts_push(now=at(9, 41)) == 1

    assert "隔离期结束 1" in texts(wecom)[1] and "发热" not in texts(wecom)[1]


@pytest.mark.parametrize("trouble", ["rate_limit", "bad_gateway"])
def test_a_rate_limited_or_failed_push_is_tried_again_next_run(
        community_secretary, community, fever, wecom, trouble):
    robot = configure(community_secretary, community, wecom)
    if trouble == "rate_limit":
        wecom.rate_limit_next(1)
    else:
        wecom.fail_next(1, status=502)

    assert robots.alerts_push(now=at(9, 31)) == 0

    assert wecom.received == [] and pushed(fever) == [None, None]
    robot.refresh_from_db()
    assert robot.last_error  # shown on the page meanwhile
    assert robots.alerts_push(now=at(9, 32)) == 2
    assert len(wecom.received) == 1 and pushed(fever) == [at(9, 32)] * 2
    robot.refresh_from_db()
    assert robot.last_error == ""


def test_a_permanent_error_is_kept_shown_and_not_retried(community_secretary, community,
                                                         fever, wecom):
    url = wecom.url.replace(wecom.credential, "0" * len(wecom.credential))
    robots.robot_configure(by=community_secretary, area=community, kind="wecom", url=url)

    assert robots.alerts_push(now=at(9, 31)) == 2

    assert wecom.received == [] and wecom.errcodes == [93000]
    robot = GroupRobot.objects.get(area=community)
    assert robot.last_error.startswith("errcode 93000")
    assert pushed(fever) == [at(9, 31)] * 2
    assert robots.alerts_push(now=at(9, 32)) == 0
    assert wecom.errcodes == [93000]  # the same alerts are not sent again
    page = make_client(community_secretary).get(reverse("followup:robot"))
    assert page.status_code == 200
    body = page.content.decode()
    assert "errcode 93000" in body
    assert str(robots.robot_error_help(robot.last_error)) in body


def test_signed_dingtalk_push_is_accepted(community_secretary, community, fever, dingtalk):
    configure(community_secretary, community, dingtalk, secret=DING_SECRET)

    assert robots.alerts_push(now=at(9, 31)) == 2

    [message] = dingtalk.received
    assert community.name in message["markdown"]["title"]
    assert dingtalk.errcodes == [0]


def test_a_wrong_dingtalk_secret_is_a_permanent_error(community_secretary, community, fever,
                                                      dingtalk):
    configure(community_secretary, community, dingtalk, secret="SECwrong")

    assert robots.alerts_push(now=at(9, 31)) == 2

    assert dingtalk.received == [] and dingtalk.errcodes == [310000]
    assert GroupRobot.objects.get(area=community).last_error.startswith("errcode 310000")


def test_a_switched_off_robot_gets_nothing_and_old_alerts_are_left_to_the_list(
        community_secretary, community, fever, wecom):
    configure(community_secretary, community, wecom, enabled=False)
    assert robots.alerts_push(now=at(9, 31)) == 0
    configure(community_secretary, community, wecom)
    # Switched on two days later: the group gets news, not the backlog.
    assert robots.alerts_push(now=at(9, 31) + timedelta(days=2)) == 0
    assert wecom.received == [] and pushed(fever) == [None, None]


def test_each_alert_goes_to_one_group_its_communitys_or_else_its_streets(
        community_secretary, street_officer, community, pinned_clock):
    neighbour = (Area.objects.filter(parent=community.parent, kind=AreaKind.COMMUNITY)
                 .exclude(pk=community.pk).first())
    here = Resident.objects.filter(community=community).first()
    there = Resident.objects.filter(community=neighbour).first()
    with FakeGroupRobot("wecom") as own, FakeGroupRobot("wecom") as street:
        configure(community_secretary, community, own)
        configure(street_officer, street_officer.area, street)
        notice_raise(resident=here, title="本社区")
        notice_raise(resident=there, title="邻社区")

        assert robots.alerts_push(now=at(8, 1)) == 2

        [own_text], [street_text] = texts(own), texts(street)
    assert "本社区 1" in own_text and "邻社区" not in own_text
    assert "邻社区 1" in street_text and "本社区" not in street_text
    # In a street's message a grid is named with its community.
    assert f"{neighbour.name} {there.grid.name}" in street_text


def test_one_run_reads_the_alerts_of_every_robot_in_a_few_queries(
        community_secretary, street_officer, community, pinned_clock,
        django_assert_max_num_queries):
    residents = [person for c in Area.objects.filter(parent=street_officer.area)
                 for person in Resident.objects.filter(community=c).order_by("-pk")[:20]]
    for person in residents:
        notice_raise(resident=person, title="通知")
    with FakeGroupRobot("wecom") as own, FakeGroupRobot("wecom") as street:
        configure(community_secretary, community, own)
        configure(street_officer, street_officer.area, street)
        with django_assert_max_num_queries(10):
            assert robots.alerts_push(now=at(8, 1)) == len(residents)
        assert len(own.received) + len(street.received) == 2


def test_a_long_summary_is_cut_by_grid_and_keeps_its_link(community):
    grids = {n: f"第{n}网格[x](http://evil.example)" for n in range(400)}
    rows = [(n, community.pk, n, "high", "发热") for n in range(400)]

    title, text = robots.summary(community, rows, grids)

    assert len(f"### {title}\n\n{text}".encode()) <= MAX_CONTENT_BYTES
    assert text.endswith(f"({PUBLIC_URL}{reverse('followup:alerts')})")
    # Names are shown as plain text: the only link is the alert list's.
    assert text.count("](") == 1 and "[x]" not in text
    assert "400" in title


def test_the_push_runs_every_minute_one_run_at_a_time(pinned_clock):
    assert PERIODIC["followup.push"] == timedelta(minutes=1)
    now = timezone.now()
    running = Job.objects.create(kind="followup.push", state=JobState.RUNNING,
                                 lease_owner="elsewhere", lease_until=now + timedelta(minutes=5))
    mine = Job.objects.create(kind="followup.push", state=JobState.RUNNING, lease_owner="me",
                              lease_until=now + timedelta(minutes=5))
    assert "skipped" in HANDLERS["followup.push"](mine)
    Job.objects.filter(pk=running.pk).update(state=JobState.DONE)
    assert HANDLERS["followup.push"](mine) == {"pushed": 0}


# The page -------------------------------------------------------------------------------

def test_secretary_sets_up_the_robot_and_sends_a_test_message(community_secretary, community,
                                                              wecom):
    client = make_client(community_secretary)
    assert client.get(reverse("followup:robot")).status_code == 200
    campaigns = client.get(reverse("followup:campaigns")).content.decode()
    assert f'href="{reverse("followup:robot")}"' in campaigns

    empty = client.post(reverse("followup:robot"), {})
    assert empty.status_code == 200 and "kind" in empty.context["form"].errors
    bad = client.post(reverse("followup:robot"), {"kind": "wecom", "url": "https://x.cn/?key=1"})
    assert bad.status_code == 200 and "url" in bad.context["form"].errors
    saved = client.post(reverse("followup:robot"), {"kind": "wecom", "url": wecom.url,
                                                    "enabled": "on"})
    assert saved.status_code == 302
    assert GroupRobot.objects.get(area=community).enabled

    page = client.get(reverse("followup:robot")).content.decode()
    assert f"127.0.0.1 …{wecom.credential[-4:]}" in page
    assert wecom.credential not in page
    tested = client.post(reverse("followup:robot_test"))
    assert tested.status_code == 200
    [text] = texts(wecom)
    assert community.name in text and wecom.credential not in tested.content.decode()


def test_robot_pages_are_refused_to_a_grid_worker(grid_worker):
    client = make_client(grid_worker)
    assert client.get(reverse("followup:robot")).status_code == 403
    assert client.post(reverse("followup:robot"), {"kind": "wecom"}).status_code == 403
    assert client.post(reverse("followup:robot_test")).status_code == 403
    campaigns = client.get(reverse("followup:campaigns")).content.decode()
    assert reverse("followup:robot") not in campaigns
