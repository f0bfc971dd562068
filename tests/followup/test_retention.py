"""Health answers are erased when their purpose has ended; the counts stay."""

from __future__ import annotations

from datetime import timedelta

from fangkong.followup.channels.base import Result
from fangkong.followup.models import Alert, Attempt, Contact, ContactState, Round
from fangkong.followup.retention import answers_purge
from fangkong.followup.tables import round_table
from tests.followup.conftest import at, make_campaign, run_until


def test_answers_are_erased_keep_days_after_the_round_closed_but_the_table_still_adds_up(
        community_secretary, community, pinned_clock, transports, settings):  # noqa: ANN001
    make_campaign(community_secretary, community)
    transports["voice"].script = lambda t: Result(key=t.key, outcome="answered", answers={
        "fever": True, "temperature": "38.1", "cough": False, "symptoms": []},
        detail="3 answered")
    run_until(at(15, 5))
    round_ = Round.objects.get(campaign__area=community)
    answered = Contact.objects.filter(round=round_, state=ContactState.ANSWERED)
    assert answered.exclude(answers={}).exists()
    before = round_table([round_], community)[1]

    too_soon = round_.closes_at + timedelta(days=settings.FOLLOWUP_KEEP_DAYS - 1)
    assert answers_purge(now=too_soon)["answers"] == 0
    later = round_.closes_at + timedelta(days=settings.FOLLOWUP_KEEP_DAYS + 1)
    erased = answers_purge(now=later)
    assert erased["answers"] == answered.count() > 0
    assert not Contact.objects.filter(round=round_).exclude(answers={}).exists()
    assert not Attempt.objects.filter(contact__round=round_).exclude(detail="").exists()
    alerts = Alert.objects.filter(contact__round=round_)
    assert alerts.exists() and not alerts.exclude(reason="").exists()
    after = round_table([round_], community)[1]
    assert (after.answered, after.abnormal, after.high) == (before.answered, before.abnormal,
                                                             before.high)
    assert answers_purge(now=later)["answers"] == 0  # idempotent


def test_calls_placed_are_forgotten_two_days_later(db, pinned_clock):  # noqa: ANN001
    from fangkong.followup.models import NumberDial
    from fangkong.followup.retention import number_dials_purge

    NumberDial.objects.create(number_index="a" * 32, at=at(8, 0) - timedelta(hours=49))
    NumberDial.objects.create(number_index="a" * 32, at=at(8, 0) - timedelta(hours=47))

    assert number_dials_purge(now=at(8, 0)) == 1
    assert list(NumberDial.objects.values_list("at", flat=True)) == [
        at(8, 0) - timedelta(hours=47)]
