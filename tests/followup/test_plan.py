"""The channel plan (what the dispatcher does after each outcome) and the round schedule.
Pure: no database."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.utils import translation
from hypothesis import given
from hypothesis import strategies as st

from fangkong.followup.plan import (
    PlanError,
    Step,
    after_outcome,
    in_quiet_hours,
    parse_plan,
)
from fangkong.followup.schedule import next_round_at, overlapping, parse_times

SHANGHAI = ZoneInfo("Asia/Shanghai")
OPENED = datetime(2026, 11, 30, 9, 0, tzinfo=SHANGHAI)  # a Monday
CLOSES = OPENED + timedelta(minutes=360)

# web link at 09:00, voice from 10:30 (3 tries), door visit from 14:00; closes at 15:00
PLAN = (Step("web", at=0),
        Step("voice", at=90, retries=2, spacing=30, busy_spacing=5),
        Step("visit", at=300))
WEB, VOICE, VISIT = 0, 1, 2


def minute(n: int) -> datetime:
    return OPENED + timedelta(minutes=n)


def after(outcome: str, *, step: int = VOICE, tries: int = 1, now: int = 90,
          plan: tuple[Step, ...] = PLAN, closes: datetime = CLOSES):  # noqa: ANN202
    return after_outcome(plan, step=step, tries=tries, outcome=outcome, now=minute(now),
                         opened=OPENED, closes=closes)


# --- after_outcome ----------------------------------------------------------------------

@pytest.mark.parametrize("step", [WEB, VOICE])
def test_an_answer_stops_the_contact_where_it_is(step):
    nxt = after("answered", step=step, tries=1, now=95)

    assert (nxt.state, nxt.step, nxt.tries, nxt.due_at) == ("answered", step, 1, None)


def test_a_busy_line_is_retried_after_the_short_busy_spacing():
    nxt = after("busy", tries=1, now=90)

    assert (nxt.state, nxt.step, nxt.tries) == ("pending", VOICE, 1)
    assert nxt.due_at == minute(95)


@pytest.mark.parametrize("outcome", ["no_answer", "failed", "rejected", "partial"])
def test_no_answer_is_retried_after_the_normal_spacing(outcome):
    nxt = after(outcome, tries=1, now=90)

    assert (nxt.state, nxt.step, nxt.tries) == ("pending", VOICE, 1)
    assert nxt.due_at == minute(120)


def test_the_last_allowed_retry_is_still_made():
    # retries=2: tries 1 and 2 are followed by another try, the third is the last
    assert after("no_answer", tries=2, now=120).due_at == minute(150)


def test_exhausted_retries_fall_back_to_the_next_step_at_its_start_time_not_before():
    plan = (Step("voice", at=0, retries=1, spacing=10),
            Step("sms", at=120),
            Step("visit", at=300))

    nxt = after("no_answer", step=0, tries=2, now=10, plan=plan)

    assert (nxt.state, nxt.step, nxt.tries) == ("pending", 1, 0)
    assert nxt.due_at == minute(120)


def test_exhausted_retries_after_the_next_start_fall_back_at_once():
    plan = (Step("voice", at=0, retries=1, spacing=10), Step("sms", at=5))

    nxt = after("no_answer", step=0, tries=2, now=20, plan=plan)

    assert (nxt.step, nxt.due_at) == (1, minute(20))


def test_exhausted_retries_before_a_door_visit_put_the_contact_on_the_visit_list():
    nxt = after("no_answer", tries=3, now=150)

    assert (nxt.state, nxt.step, nxt.tries, nxt.due_at) == ("pending", VISIT, 0, None)


def test_a_retry_that_would_pass_the_next_steps_start_falls_back_instead():
    plan = (Step("voice", at=0, retries=5, spacing=30), Step("sms", at=100))

    stays = after("no_answer", step=0, tries=1, now=60, plan=plan)  # retry at 90 < 100
    moves = after("no_answer", step=0, tries=2, now=90, plan=plan)  # retry at 120 >= 100

    assert (stays.step, stays.due_at) == (0, minute(90))
    assert (moves.step, moves.tries, moves.due_at) == (1, 0, minute(100))


def test_a_retry_landing_exactly_on_the_next_steps_start_falls_back():
    plan = (Step("voice", at=0, retries=5, spacing=30), Step("sms", at=100))

    nxt = after("no_answer", step=0, tries=1, now=70, plan=plan)  # retry would be at 100

    assert (nxt.step, nxt.due_at) == (1, minute(100))


def test_the_last_step_keeps_retrying_until_the_round_closes():
    plan = (Step("web", at=0), Step("voice", at=60, retries=3, spacing=30))

    nxt = after("no_answer", plan=plan, tries=1, now=300)

    assert (nxt.step, nxt.due_at) == (VOICE, minute(330))


@pytest.mark.parametrize("outcome", ["invalid", "opted_out"])
def test_a_dead_or_refusing_number_skips_every_phone_channel_and_goes_to_the_visit(outcome):
    plan = (Step("web", at=0), Step("sms", at=30), Step("voice", at=90), Step("visit", at=300))

    nxt = after(outcome, step=0, tries=1, now=0, plan=plan)

    assert (nxt.state, nxt.step, nxt.due_at) == ("pending", 3, None)


def test_an_invalid_number_without_a_visit_step_ends_the_contacts_work():
    plan = (Step("web", at=0), Step("voice", at=90))

    nxt = after("invalid", step=0, tries=1, now=0, plan=plan)

    # pending with nothing left: marked unreached when the round closes
    assert (nxt.state, nxt.step, nxt.due_at) == ("pending", len(plan), None)


def test_opting_out_without_a_visit_step_records_the_refusal():
    plan = (Step("web", at=0), Step("voice", at=90))

    nxt = after("opted_out", step=0, tries=1, now=0, plan=plan)

    assert (nxt.state, nxt.step, nxt.due_at) == ("opted_out", len(plan), None)


def test_a_carrier_throttle_is_retried_a_minute_later_without_spending_a_try():
    nxt = after("throttled", tries=3, now=150)  # the third and last try, held back

    assert (nxt.state, nxt.step, nxt.tries) == ("pending", VOICE, 2)
    assert nxt.due_at == minute(151)


@pytest.mark.parametrize("outcome", ["throttled", "not_placed"])
def test_a_call_not_placed_does_not_hold_up_the_next_step(outcome):
    nxt = after(outcome, tries=1, now=299)  # the door visit starts at 300

    assert (nxt.step, nxt.due_at) == (VISIT, None)


def test_a_call_not_placed_is_made_again_a_minute_later_without_spending_a_try():
    nxt = after("not_placed", tries=2, now=150)

    assert (nxt.state, nxt.step, nxt.tries, nxt.due_at) == ("pending", VOICE, 1, minute(151))


def test_a_number_called_too_often_falls_back_to_a_step_that_is_not_a_call():
    plan = (Step("voice", at=0, retries=3), Step("voice", at=30), Step("sms", at=60),
            Step("visit", at=90))

    nxt = after("capped", step=0, tries=1, now=10, plan=plan)

    assert (nxt.step, nxt.due_at) == (2, minute(60))


def test_a_throttle_in_the_rounds_last_minute_is_not_retried_after_the_close():
    nxt = after("throttled", tries=1, now=359)

    assert nxt.due_at is None or nxt.due_at < CLOSES
    assert (nxt.step, nxt.due_at) == (VISIT, None)  # falls back like a spent retry


def test_a_delivered_link_waits_for_the_next_step_at_its_start():
    nxt = after("delivered", step=WEB, tries=1, now=0)

    assert (nxt.state, nxt.step, nxt.tries, nxt.due_at) == ("pending", VOICE, 0, minute(90))


@pytest.mark.parametrize("outcome", ["delivered", "no_answer", "busy", "invalid", "failed"])
def test_after_the_last_step_there_is_nothing_left_to_do(outcome):
    plan = (Step("web", at=0), Step("voice", at=90))

    nxt = after(outcome, step=1, tries=1, now=355, plan=plan)

    assert (nxt.step, nxt.due_at) == (len(plan), None)
    assert nxt.state == "pending"


def test_a_next_step_starting_after_the_close_is_not_scheduled():
    plan = (Step("web", at=0), Step("voice", at=200))

    nxt = after("delivered", step=0, tries=1, now=0, plan=plan,
                closes=OPENED + timedelta(minutes=200))

    assert (nxt.step, nxt.due_at) == (len(plan), None)


OUTCOMES = ["delivered", "answered", "partial", "no_answer", "busy", "rejected", "invalid",
            "opted_out", "throttled", "failed"]


@st.composite
def plans(draw):  # noqa: ANN001, ANN201
    round_minutes = draw(st.integers(30, 24 * 60))
    count = draw(st.integers(1, 5))
    starts = sorted(draw(st.lists(st.integers(0, round_minutes - 1), min_size=count,
                                  max_size=count)))
    channels = draw(st.lists(st.sampled_from(["web", "sms", "voice"]), min_size=count,
                             max_size=count))
    steps = [Step(channel, at=start, retries=draw(st.integers(0, 5)),
                  spacing=draw(st.integers(1, 240)), busy_spacing=draw(st.integers(1, 240)))
             for channel, start in zip(channels, starts, strict=True)]
    if draw(st.booleans()):
        steps.append(Step("visit", at=draw(st.integers(starts[-1], round_minutes - 1))))
    return tuple(steps), round_minutes


@given(plans(), st.data())
def test_nothing_is_ever_scheduled_at_or_after_the_rounds_close(planned, data):
    plan, round_minutes = planned
    closes = OPENED + timedelta(minutes=round_minutes)
    dialable = [i for i, s in enumerate(plan) if s.channel != "visit"]
    step = data.draw(st.sampled_from(dialable))
    tries = data.draw(st.integers(1, plan[step].retries + 1))
    # the round's last minutes are where a careless "retry in a while" lands past the close
    now = data.draw(st.one_of(st.integers(plan[step].at, round_minutes - 1),
                              st.integers(max(plan[step].at, round_minutes - 3),
                                          round_minutes - 1)))
    outcome = data.draw(st.sampled_from(OUTCOMES))

    nxt = after_outcome(plan, step=step, tries=tries, outcome=outcome, now=minute(now),
                        opened=OPENED, closes=closes)

    assert nxt.due_at is None or minute(now) <= nxt.due_at < closes
    assert nxt.step >= step
    if nxt.step > step and nxt.due_at is not None:
        assert nxt.due_at >= minute(plan[nxt.step].at)  # never before the step's start
    if nxt.step < len(plan) and plan[nxt.step].channel == "visit":
        assert nxt.due_at is None  # visits wait on the worker's list


# --- parse_plan -------------------------------------------------------------------------

def test_a_sensible_plan_parses_with_defaults_filled_in():
    steps = parse_plan([{"channel": "web"}, {"channel": "voice", "at": 90, "retries": 2},
                        {"channel": "visit", "at": 300}], round_minutes=360)

    assert steps == (Step("web", 0, 0, 30, 5), Step("voice", 90, 2, 30, 5),
                     Step("visit", 300, 0, 30, 5))


@pytest.mark.parametrize("raw", [[], None, {"channel": "web"}])
def test_an_empty_plan_is_refused(raw):
    with translation.override("en"), pytest.raises(PlanError) as excinfo:
        parse_plan(raw, round_minutes=360)

    assert excinfo.value.problems == ["Choose at least one channel."]


def test_every_problem_of_a_plan_is_reported_at_once():
    raw = [{"channel": "fax"},
           {"channel": "web", "at": 60, "retries": 6},
           {"channel": "voice", "at": 30},
           {"channel": "visit", "at": 400},
           {"channel": "sms", "at": 400}]

    with translation.override("en"), pytest.raises(PlanError) as excinfo:
        parse_plan(raw, round_minutes=360)

    problems = excinfo.value.problems
    assert "Step 1: choose a channel." in problems
    assert "Step 2: retry at most 5 times." in problems
    assert "Step 3 starts before the step it falls back from." in problems
    assert "Step 4 starts after the round has closed." in problems
    assert "A door visit is the last resort: no step can follow it." in problems
    assert len(problems) == 6  # step 5 also starts after the close
    assert all(p in str(excinfo.value) for p in problems)


@pytest.mark.parametrize(("item", "problem"), [
    ({"channel": "voice", "at": "soon"}, "Step 1: times and counts must be whole numbers."),
    ({"channel": "voice", "spacing": 0}, "Step 1: wait between 1 and 240 minutes between tries."),
    ({"channel": "voice", "busy_spacing": 241},
     "Step 1: wait between 1 and 240 minutes between tries."),
    ({"channel": "voice", "retries": -1}, "Step 1: retry at most 5 times."),
])
def test_a_bad_step_is_refused_with_the_reason(item, problem):
    with translation.override("en"), pytest.raises(PlanError) as excinfo:
        parse_plan([item], round_minutes=360)

    assert excinfo.value.problems == [problem]


def test_a_plan_of_more_than_six_steps_is_refused():
    raw = [{"channel": "sms", "at": n} for n in range(7)]

    with translation.override("en"), pytest.raises(PlanError) as excinfo:
        parse_plan(raw, round_minutes=360)

    assert excinfo.value.problems == ["A plan has at most 6 steps."]


# --- quiet hours ------------------------------------------------------------------------

@pytest.mark.parametrize(("local", "quiet"), [
    (time(20, 59), False), (time(21, 0), True), (time(23, 59), True), (time(0, 0), True),
    (time(7, 59), True), (time(8, 0), False), (time(12, 0), False),
])
def test_quiet_hours_that_wrap_midnight(local, quiet):
    assert in_quiet_hours(["21:00", "08:00"], local) is quiet


@pytest.mark.parametrize(("local", "quiet"), [
    (time(11, 59), False), (time(12, 0), True), (time(13, 59), True), (time(14, 0), False),
    (time(23, 0), False), (time(3, 0), False),
])
def test_quiet_hours_within_one_day(local, quiet):
    assert in_quiet_hours(["12:00", "14:00"], local) is quiet


@pytest.mark.parametrize("window", [[], ["21:00"], ["08:00", "08:00"]])
def test_no_or_empty_quiet_window_is_never_quiet(window):
    assert not in_quiet_hours(window, time(22, 0))


# --- schedule ---------------------------------------------------------------------------

MONDAY = date(2026, 11, 30)


def local(day: date, hour: int, minute_: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute_, tzinfo=SHANGHAI)


def next_round(after_: datetime, *, times=("09:00", "16:00"), weekdays=(),  # noqa: ANN001
               starts_on: date = MONDAY, ends_on: date | None = None) -> datetime | None:
    return next_round_at(times=parse_times(list(times)), weekdays=list(weekdays),
                         starts_on=starts_on, ends_on=ends_on, after=after_)


def test_the_next_round_is_later_the_same_day():
    assert next_round(local(MONDAY, 9, 30)) == local(MONDAY, 16)


def test_a_round_starting_exactly_now_is_not_the_next_one():
    assert next_round(local(MONDAY, 9)) == local(MONDAY, 16)


def test_after_the_last_time_of_day_the_next_round_is_tomorrow_morning():
    assert next_round(local(MONDAY, 16)) == local(MONDAY + timedelta(days=1), 9)


def test_the_first_round_waits_for_the_first_day():
    starts = MONDAY + timedelta(days=3)

    assert next_round(local(MONDAY, 8), starts_on=starts) == local(starts, 9)


def test_rounds_open_only_on_the_chosen_weekdays():
    # Monday and Wednesday only: after Monday's last round comes Wednesday morning
    assert next_round(local(MONDAY, 17), weekdays=[0, 2]) == local(MONDAY + timedelta(days=2), 9)
    # after Wednesday the next is the following Monday
    wednesday = MONDAY + timedelta(days=2)
    assert next_round(local(wednesday, 17), weekdays=[0, 2]) == local(MONDAY + timedelta(days=7),
                                                                      9)


def test_no_round_after_the_last_day():
    assert next_round(local(MONDAY, 9, 30), ends_on=MONDAY) == local(MONDAY, 16)
    assert next_round(local(MONDAY, 16), ends_on=MONDAY) is None


def test_a_moment_given_in_utc_is_read_in_local_time():
    # Monday 20:00 UTC is Tuesday 04:00 in Shanghai: the next round is Tuesday 09:00
    utc_evening = datetime(2026, 11, 30, 20, 0, tzinfo=ZoneInfo("UTC"))

    assert next_round(utc_evening) == local(MONDAY + timedelta(days=1), 9)


def test_times_are_sorted_and_checked():
    assert parse_times(["16:00", "09:00"]) == [time(9), time(16)]
    for bad in ([], ["9 o'clock"], ["09:00", "09:00"], "09:00"):
        with pytest.raises(ValueError):
            parse_times(bad)


@pytest.mark.parametrize(("times", "minutes", "overlaps"), [
    (["09:00", "10:00"], 360, True),  # the 09:00 round is still open at 10:00
    (["09:00", "16:00"], 360, False),
    (["09:00", "16:00"], 420, False),  # closes at 16:00 exactly: no overlap
    (["09:00", "16:00"], 421, True),
    (["02:00", "20:00"], 420, True),  # the 20:00 round runs into the 02:00 one
    (["12:00", "22:00"], 540, False),
    (["20:00"], 24 * 60, False),  # one round a day may stay open all day
])
def test_overlapping_rounds_are_detected_within_the_day_and_across_midnight(times, minutes,
                                                                           overlaps):
    assert overlapping(parse_times(times), minutes) is overlaps


def test_a_landline_skips_the_text_steps_but_is_still_called():
    plan = (Step("sms", at=0), Step("web", at=10), Step("voice", at=30), Step("visit", at=60))
    nxt = after_outcome(plan, step=0, tries=1, outcome="no_mobile", now=OPENED,
                        opened=OPENED, closes=CLOSES)
    assert (nxt.step, nxt.due_at) == (2, OPENED + timedelta(minutes=30))


def test_a_number_not_in_service_goes_straight_to_the_door_visit():
    plan = (Step("sms", at=0), Step("voice", at=30), Step("visit", at=60))
    nxt = after_outcome(plan, step=0, tries=1, outcome="invalid", now=OPENED,
                        opened=OPENED, closes=CLOSES)
    assert (nxt.step, nxt.due_at) == (2, None)
