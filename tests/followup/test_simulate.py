"""`fangkong simulate`: a simulated day fills the round tables, alerts and visit lists."""

from __future__ import annotations

from fangkong.followup.models import Alert, Contact, ContactState, Round, RoundStatus
from fangkong.followup.simulate import demo_campaigns_create, simulate_days
from fangkong.followup.tables import round_table
from fangkong.lib import clock
from tests.followup.conftest import MONDAY, at


def test_simulated_day_runs_the_demo_campaigns_through_every_channel(community_secretary):  # noqa: ANN001
    community = community_secretary.area
    campaigns = demo_campaigns_create(by=community_secretary, community=community,
                                      starts_on=MONDAY)
    report = simulate_days(days=1, end=at(23, 0))
    assert not clock.is_pinned()  # the clock is given back
    rounds = list(Round.objects.filter(campaign__in=campaigns))
    # Isolation at 09:00 and 16:00, the elderly at 08:30, everyone at 10:00: all closed.
    assert len(rounds) == 4 and {r.status for r in rounds} == {RoundStatus.CLOSED}
    contacts = Contact.objects.filter(round__in=rounds)
    assert report.contacts == contacts.count() > 300
    answered = contacts.filter(state=ContactState.ANSWERED)
    assert set(answered.values_list("answered_via", flat=True)) == {"web", "voice", "visit"}
    assert not contacts.filter(state=ContactState.PENDING).exists()
    # The simulated workers visited the whole list: everyone was reached in the end.
    assert report.alerts == Alert.objects.filter(campaign__in=campaigns).count()
    everyone = next(r for r in rounds if r.campaign.name == "全体居民发热排查")
    rows, total = round_table([everyone], community)
    assert total.targeted == everyone.targeted
    assert total.answered + total.unreached + total.opted_out == total.targeted
    assert sum(r.answered for r in rows) == total.answered == answered.filter(
        round=everyone).count()


def test_simulate_refuses_to_run_where_a_channel_reaches_real_residents(settings):  # noqa: ANN001
    import pytest

    settings.SMS_GATEWAY_URL = "https://sms.example.cn"
    with pytest.raises(ValueError, match="real residents"):
        simulate_days(days=1)
    settings.SMS_GATEWAY_URL = ""
    settings.SIMULATE_CHANNELS = False
    with pytest.raises(ValueError, match="real residents"):
        simulate_days(days=1)


def test_channels_are_simulated_by_default_only_in_the_demos_own_database(tmp_path):
    """A real installation never records made-up answers unless someone asks for it."""
    import os
    import subprocess
    import sys

    def simulated(var) -> str:  # noqa: ANN001
        env = {k: v for k, v in os.environ.items()
               if k not in ("FANGKONG_SIMULATE_CHANNELS", "DATABASE_URL")}
        env.update(FANGKONG_VAR_DIR=str(var), DJANGO_SETTINGS_MODULE="fangkong.settings")
        code = "import django; django.setup(); from django.conf import settings; " \
               "print(settings.SIMULATE_CHANNELS)"
        return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,  # noqa: S603
                              text=True, check=True).stdout.strip()

    real = tmp_path / "real"
    real.mkdir()
    assert simulated(real) == "False"
    demo = tmp_path / "demo"
    demo.mkdir()
    (demo / "demo-logins.json").write_text("{}")
    assert simulated(demo) == "True"
