"""The dispatcher and the scheduler on a pinned clock: what is sent when, to whom, how
often, and what happens when a worker dies mid-send. Channels are recording fakes (the
outside boundary); everything else is the real code on the real database."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

import pytest
from django.db.models import Count

from fangkong.followup.answers import contacts_answer, decode_answers, spec_of
from fangkong.followup.channels import registry
from fangkong.followup.channels.base import Batch, Result, masked_name
from fangkong.followup.channels.sim import Behaviour, SimResident, SimTextTransport
from fangkong.followup.channels.voice.transport import sim_voice_transport
from fangkong.followup.dispatch import TICK_SECONDS, contacts_claim, dispatch_pass
from fangkong.followup.models import (
    Alert,
    AlertKind,
    Attempt,
    Campaign,
    CampaignStatus,
    Contact,
    ContactState,
    Round,
    RoundStatus,
)
from fangkong.followup.rounds import round_close, round_open, rounds_schedule
from fangkong.followup.services import campaign_pause, campaign_start
from fangkong.residents.models import Relation, Resident, ResidentStatus, Tag
from fangkong.residents.services import proxy_add
from tests.followup.conftest import MONDAY, TUESDAY, at, make_campaign, run_until

pytestmark = pytest.mark.django_db

FINE = {"fever": False, "cough": False, "symptoms": []}
VOICE_ONLY = [{"channel": "voice", "at": 0, "retries": 2, "spacing": 30, "busy_spacing": 5}]


@pytest.fixture
def tagged(community):  # noqa: ANN001, ANN201
    """Tag the first residents of the community so a campaign can target a known few."""

    def tag(count: int, slug: str = "followup_test") -> list[Resident]:
        label, _ = Tag.objects.get_or_create(slug=slug, defaults={"name": slug})
        residents = list(Resident.objects.filter(community=community,
                                                 status=ResidentStatus.ACTIVE,
                                                 proxies__isnull=True).order_by("pk")[:count])
        label.residents.add(*residents)
        return residents

    return tag


def campaign_for(secretary, community, **overrides):  # noqa: ANN001, ANN201
    """A running campaign whose target is exactly the tagged residents."""
    return make_campaign(secretary, community, target={"tags": ["followup_test"]}, **overrides)


def opened_round(campaign: Campaign, moment) -> Round:  # noqa: ANN001
    rounds_schedule(now=moment)
    return Round.objects.get(campaign=campaign, scheduled_for__lte=moment,
                             closes_at__gt=moment)


def residents_sent(transport) -> list[int]:  # noqa: ANN001
    return [task.resident_id for _, task in transport.sent]


def drain(moment, owner: str = "w1") -> None:  # noqa: ANN001
    while dispatch_pass(owner=owner, now=moment, limit=10000):
        pass


# --- quiet hours ------------------------------------------------------------------------

def test_no_call_is_made_in_quiet_hours_and_the_calls_go_out_when_they_end(
        community_secretary, community, tagged, pinned_clock, transports):
    residents = tagged(4)
    campaign = campaign_for(community_secretary, community, times=["20:00"],
                            round_minutes=14 * 60, quiet_calls=["21:00", "08:00"],
                            plan=[{"channel": "web", "at": 0},
                                  {"channel": "voice", "at": 90}])
    opened_round(campaign, at(20, 0))
    drain(at(20, 0))
    assert len(transports["web"].sent) == 4  # 20:00: before the quiet hours of calls

    for moment in (at(21, 30), at(23, 59), at(3, 0, TUESDAY), at(7, 59, TUESDAY)):
        drain(moment)
    assert transports["voice"].sent == []
    assert Contact.objects.filter(round__campaign=campaign, step=1,
                                  due_at=at(21, 30)).count() == 4

    drain(at(8, 0, TUESDAY))
    assert sorted(residents_sent(transports["voice"])) == sorted(r.pk for r in residents)


def test_no_link_is_texted_in_the_quiet_hours_of_messages(
        community_secretary, community, tagged, pinned_clock, transports):
    tagged(3)
    campaign = campaign_for(community_secretary, community, times=["22:00"],
                            round_minutes=12 * 60, quiet_sms=["22:00", "07:00"],
                            plan=[{"channel": "web", "at": 0}])
    opened_round(campaign, at(22, 0))

    drain(at(22, 0))
    drain(at(6, 59, TUESDAY))
    assert transports["web"].sent == []

    drain(at(7, 0, TUESDAY))
    assert len(transports["web"].sent) == 3


# --- capacity ---------------------------------------------------------------------------

def test_one_pass_makes_no_more_calls_than_the_campaign_has_lines(
        community_secretary, community, tagged, pinned_clock, transports):
    tagged(12)
    campaign = campaign_for(community_secretary, community, plan=VOICE_ONLY,
                            capacity={"voice": 5})
    opened_round(campaign, at(9, 0))

    dispatch_pass(owner="w1", now=at(9, 0))
    assert len(transports["voice"].sent) == 5

    dispatch_pass(owner="w1", now=at(9, 0))
    assert len(transports["voice"].sent) == 10
    assert len(set(residents_sent(transports["voice"]))) == 10


def test_calls_still_under_way_in_another_worker_take_up_lines(
        community_secretary, community, tagged, pinned_clock, transports):
    tagged(12)
    campaign = campaign_for(community_secretary, community, plan=VOICE_ONLY,
                            capacity={"voice": 5})
    round_ = opened_round(campaign, at(9, 0))
    _, busy = contacts_claim(round_=round_, step=0, owner="w2", limit=3, now=at(9, 0))
    assert len(busy) == 3  # w2 is calling them and has not reported back

    dispatch_pass(owner="w1", now=at(9, 0))

    assert len(transports["voice"].sent) == 2
    assert not set(residents_sent(transports["voice"])) & {c.resident_id for c in busy}


@pytest.mark.parametrize(("rate", "per_pass"), [(1, TICK_SECONDS), (2, 2 * TICK_SECONDS)])
def test_one_pass_sends_no_more_links_than_the_rate_allows(
        community_secretary, community, tagged, pinned_clock, transports, rate, per_pass):
    tagged(15)
    campaign = campaign_for(community_secretary, community,
                            plan=[{"channel": "web", "at": 0}], capacity={"web": rate})
    opened_round(campaign, at(9, 0))

    dispatch_pass(owner="w1", now=at(9, 0))

    assert len(transports["web"].sent) == per_pass


# --- retries and fallback ---------------------------------------------------------------

def test_a_busy_line_is_called_back_sooner_than_one_nobody_answered(
        community_secretary, community, tagged, pinned_clock, transports):
    busy, *others = tagged(3)
    campaign = campaign_for(community_secretary, community, plan=VOICE_ONLY)
    opened_round(campaign, at(9, 0))
    transports["voice"].script = lambda task: Result(
        key=task.key, outcome="busy" if task.resident_id == busy.pk else "no_answer")

    drain(at(9, 0))
    due = dict(Contact.objects.filter(round__campaign=campaign)
               .values_list("resident_id", "due_at"))
    assert due[busy.pk] == at(9, 5)
    assert {due[r.pk] for r in others} == {at(9, 30)}

    drain(at(9, 5))
    assert residents_sent(transports["voice"])[3:] == [busy.pk]

    drain(at(9, 29))
    assert len(transports["voice"].sent) == 5  # busy again at 09:10, nobody else yet
    drain(at(9, 30))
    assert Counter(residents_sent(transports["voice"]))[others[0].pk] == 2


def test_a_resident_falls_back_from_the_link_to_three_calls_to_the_door_visit_list(
        community_secretary, community, tagged, pinned_clock, transports):
    [resident] = tagged(1)
    campaign = campaign_for(community_secretary, community)
    transports["voice"].script = lambda task: Result(key=task.key, outcome="no_answer")

    run_until(at(14, 59))  # minute by minute, as the worker ticks

    contact = Contact.objects.get(round__campaign=campaign, resident=resident)
    attempts = list(contact.attempts.order_by("started_at", "pk")
                    .values_list("channel", "started_at", "outcome"))
    assert attempts == [("web", at(9, 0), "delivered"),
                        ("voice", at(10, 30), "no_answer"),
                        ("voice", at(11, 0), "no_answer"),
                        ("voice", at(11, 30), "no_answer")]
    assert (contact.state, contact.step, contact.due_at) == (ContactState.PENDING, 2, None)


def test_a_resident_who_answered_the_link_is_never_called(
        community_secretary, community, tagged, pinned_clock, transports):
    by_link, by_form_later, silent = tagged(3)
    campaign = campaign_for(community_secretary, community)
    transports["web"].script = lambda task: (
        Result(key=task.key, outcome="answered", answers=FINE) if task.resident_id == by_link.pk
        else Result(key=task.key, outcome="delivered"))
    round_ = opened_round(campaign, at(9, 0))
    drain(at(9, 0))
    # The second opens the delivered link at 10:00 and fills in the form.
    later = Contact.objects.select_related("round").get(round=round_, resident=by_form_later)
    contacts_answer([(later, FINE, "web")], now=at(10, 0))

    drain(at(10, 30))

    assert residents_sent(transports["voice"]) == [silent.pk]
    answered = Contact.objects.filter(round=round_, state=ContactState.ANSWERED)
    assert set(answered.values_list("resident_id", "answered_via")) == {
        (by_link.pk, "web"), (by_form_later.pk, "web")}
    assert not Attempt.objects.filter(contact__in=answered, channel="voice").exists()


def test_an_answer_on_a_call_is_recorded_with_its_channel_and_time_and_ends_the_calls(
        community_secretary, community, tagged, pinned_clock, transports):
    [resident] = tagged(1)
    campaign = campaign_for(community_secretary, community, plan=VOICE_ONLY)
    transports["voice"].script = lambda task: Result(key=task.key, outcome="answered",
                                                     answers=FINE)
    opened_round(campaign, at(9, 0))

    drain(at(9, 0))
    drain(at(9, 30))
    drain(at(10, 0))

    contact = Contact.objects.get(round__campaign=campaign, resident=resident)
    assert (contact.state, contact.answered_via, contact.answered_at, contact.due_at) == (
        ContactState.ANSWERED, "voice", at(9, 0), None)
    assert len(transports["voice"].sent) == 1


def test_a_call_cut_short_keeps_its_answers_and_is_tried_again(
        community_secretary, community, tagged, pinned_clock, transports):
    [resident] = tagged(1)
    campaign = campaign_for(community_secretary, community, plan=VOICE_ONLY)
    transports["voice"].script = lambda task: Result(key=task.key, outcome="answered",
                                                     answers={"fever": True})
    opened_round(campaign, at(9, 0))

    drain(at(9, 0))

    contact = Contact.objects.get(round__campaign=campaign, resident=resident)
    assert (contact.state, contact.tries, contact.due_at) == (ContactState.PENDING, 1,
                                                              at(9, 30))
    assert contact.answers == {"fever": [True, "voice"]}
    transports["voice"].script = lambda task: Result(
        key=task.key, outcome="answered", answers={"temperature": "37.0", "cough": False})
    drain(at(9, 30))
    [_, (_, second)] = transports["voice"].sent
    assert second.answers == {"fever": [True, "voice"]}
    contact.refresh_from_db()
    assert (contact.state, contact.answered_at) == (ContactState.ANSWERED, at(9, 30))


def test_a_call_asks_only_what_the_link_left_unanswered(
        community_secretary, community, tagged, pinned_clock, transports):
    [resident] = tagged(1)
    campaign = campaign_for(community_secretary, community)
    round_ = opened_round(campaign, at(9, 0))
    drain(at(9, 0))
    contact = Contact.objects.select_related("round").get(round=round_, resident=resident)
    contacts_answer([(contact, {"fever": False}, "web")], now=at(9, 20))  # then left the page

    drain(at(10, 30))

    [(_, task)] = transports["voice"].sent
    assert task.answers == {"fever": [False, "web"]}


# --- idempotency keys and leases --------------------------------------------------------

class CrashingTransport:
    """Takes the batch, then dies as a worker killed mid-send would (once)."""

    needs_phone = True

    def __init__(self) -> None:
        self.keys: list[str] = []
        self.crashed = False

    def send(self, batch: Batch) -> list[Result]:
        self.keys += [task.key for task in batch.tasks]
        if not self.crashed:
            self.crashed = True
            raise ConnectionError("worker killed")
        return [Result(key=task.key, outcome="no_answer") for task in batch.tasks]


def test_a_send_repeated_after_a_crash_reuses_its_keys_and_its_attempt_rows(
        community_secretary, community, tagged, pinned_clock, settings, caplog):
    tagged(3)
    campaign = campaign_for(community_secretary, community, plan=VOICE_ONLY)
    round_ = opened_round(campaign, at(9, 0))
    transport = CrashingTransport()

    with registry.override("voice", transport):
        assert dispatch_pass(owner="w1", now=at(9, 0)) == 0
        assert "worker killed" in caplog.text
        first = list(transport.keys)
        assert len(first) == 3
        # The attempts were written before the send, and are still "sending".
        assert set(Attempt.objects.filter(contact__round=round_).values_list(
            "key", "outcome")) == {(key, "sending") for key in first}

        # Another worker does not take over while w1's lease may still be sending.
        # (A batch of calls holds its contacts for as long as calls last.)
        lease_end = at(9, 0) + timedelta(seconds=max(settings.FOLLOWUP_LEASE_SECONDS,
                                                     settings.FOLLOWUP_CALL_LEASE_SECONDS))
        assert dispatch_pass(owner="w2", now=lease_end - timedelta(seconds=1)) == 0
        assert transport.keys == first

        assert dispatch_pass(owner="w2", now=lease_end + timedelta(seconds=1)) == 3

    # The repeat carries the very same keys: the gateway answers it from its first send.
    assert sorted(transport.keys[3:]) == sorted(first)
    per_try = (Attempt.objects.filter(contact__round=round_)
               .values("contact", "step", "try_number").annotate(n=Count("pk")))
    assert [row["n"] for row in per_try] == [1, 1, 1]
    assert set(Attempt.objects.filter(contact__round=round_).values_list("outcome", flat=True)) \
        == {"no_answer"}
    assert set(Contact.objects.filter(round=round_).values_list("tries", flat=True)) == {1}


def test_every_try_gets_a_key_of_its_own(
        community_secretary, community, tagged, pinned_clock, transports):
    tagged(2)
    campaign = campaign_for(community_secretary, community, plan=VOICE_ONLY)
    transports["voice"].script = lambda task: Result(key=task.key, outcome="no_answer")
    opened_round(campaign, at(9, 0))

    for moment in (at(9, 0), at(9, 30), at(10, 0), at(10, 30)):
        drain(moment)

    keys = [task.key for _, task in transports["voice"].sent]
    assert len(keys) == 6 and len(set(keys)) == 6  # 2 residents x 3 tries
    assert Attempt.objects.filter(contact__round__campaign=campaign).count() == 6


def test_a_throttled_send_is_repeated_under_the_same_key_without_spending_a_try(
        community_secretary, community, tagged, pinned_clock, transports):
    [resident] = tagged(1)
    campaign = campaign_for(community_secretary, community, plan=VOICE_ONLY)
    outcomes = iter(["throttled", "no_answer"])
    transports["voice"].script = lambda task: Result(key=task.key, outcome=next(outcomes))
    opened_round(campaign, at(9, 0))

    drain(at(9, 0))
    drain(at(9, 1))

    first, second = (task.key for _, task in transports["voice"].sent)
    assert first == second  # the carrier refused it: the same message, not a new one
    contact = Contact.objects.get(round__campaign=campaign, resident=resident)
    assert (contact.tries, contact.due_at) == (1, at(9, 31))


def test_two_workers_never_claim_the_same_contact(
        community_secretary, community, tagged, pinned_clock, transports):
    tagged(10)
    campaign = campaign_for(community_secretary, community, plan=VOICE_ONLY)
    round_ = opened_round(campaign, at(9, 0))

    lease_a, first = contacts_claim(round_=round_, step=0, owner="w1", limit=4, now=at(9, 0))
    lease_b, second = contacts_claim(round_=round_, step=0, owner="w2", limit=100, now=at(9, 0))
    _, third = contacts_claim(round_=round_, step=0, owner="w3", limit=100, now=at(9, 0))

    assert len(first) == 4 and len(second) == 6 and third == []
    assert not {c.pk for c in first} & {c.pk for c in second}
    assert lease_a != lease_b
    owners = Counter(Contact.objects.filter(round=round_).values_list("lease_owner", flat=True))
    assert owners == {lease_a: 4, lease_b: 6}


def test_a_claim_takes_only_contacts_that_are_due_on_that_step(
        community_secretary, community, tagged, pinned_clock, transports):
    tagged(3)
    campaign = campaign_for(community_secretary, community)
    round_ = opened_round(campaign, at(9, 0))

    assert contacts_claim(round_=round_, step=1, owner="w1", limit=10, now=at(9, 0))[1] == []
    assert contacts_claim(round_=round_, step=0, owner="w1", limit=10,
                          now=at(8, 59))[1] == []
    assert len(contacts_claim(round_=round_, step=0, owner="w1", limit=10,
                              now=at(9, 0))[1]) == 3


# --- proxies ----------------------------------------------------------------------------

PROXY_PHONE = "13912345678"


@pytest.fixture
def proxied(tagged, grid_worker):  # noqa: ANN001, ANN201
    """Two residents looked after by one daughter, and a third who answers for herself."""
    mother, father, neighbour = tagged(3)
    assert grid_worker.area_id == mother.grid_id == father.grid_id
    for resident in (mother, father):
        proxy_add(by=grid_worker, resident=resident, name="王芳", relation="女儿",
                  phone=PROXY_PHONE)
    return mother, father, neighbour


def test_one_proxy_is_asked_once_for_everyone_she_answers_for(
        community_secretary, community, proxied, pinned_clock, transports):
    mother, father, neighbour = proxied
    campaign = campaign_for(community_secretary, community)
    round_ = opened_round(campaign, at(9, 0))
    contact_of = dict(Contact.objects.filter(round=round_).values_list("resident_id", "pk"))

    def web(task):  # noqa: ANN001, ANN202
        others = {pk: {**FINE, "cough": True} for pk in task.also_for}
        return Result(key=task.key, outcome="answered", answers=FINE, more_answers=others)

    transports["web"].script = web
    drain(at(9, 0))

    tasks = [task for _, task in transports["web"].sent]
    assert len(tasks) == 2
    [session] = [t for t in tasks if t.also_for]
    assert {session.contact_id, *session.also_for} == {contact_of[mother.pk],
                                                        contact_of[father.pk]}
    assert session.phone == PROXY_PHONE
    contacts = {c.resident_id: c for c in Contact.objects.filter(round=round_)}
    assert {r: (c.state, c.answered_by_proxy) for r, c in contacts.items()} == {
        mother.pk: (ContactState.ANSWERED, True),
        father.pk: (ContactState.ANSWERED, True),
        neighbour.pk: (ContactState.ANSWERED, False)}
    # Each got their own answers: the one she answered for second has a cough.
    lead = session.contact_id
    coughs = {c.pk: c.answers["cough"][0] for c in contacts.values()}
    assert coughs[lead] is False and coughs[session.also_for[0]] is True


def test_without_proxy_answering_everyone_is_asked_on_their_own(
        community_secretary, community, proxied, pinned_clock, transports):
    campaign = campaign_for(community_secretary, community, proxy_answering=False)
    opened_round(campaign, at(9, 0))

    drain(at(9, 0))

    tasks = [task for _, task in transports["web"].sent]
    assert len(tasks) == 3
    assert all(t.also_for == () and t.phone != PROXY_PHONE for t in tasks)


class Watching:
    """A simulated channel that keeps the tasks it was given (the channel is the outside
    boundary; what it answers is the simulation's)."""

    def __init__(self, transport) -> None:  # noqa: ANN001
        self.transport, self.tasks = transport, []
        self.needs_phone = transport.needs_phone

    def send(self, batch: Batch) -> list[Result]:
        self.tasks += batch.tasks
        return self.transport.send(batch)


# Everyone reached answers, clearly; fevers common, so that residents' answers differ.
RELIABLE = Behaviour(pick_up=1, busy=0, reject=0, invalid_number=0, never_picks_up=0,
                     hang_up_midway=0, unclear_speech=0, answers_web=1, never_texts=0,
                     opt_out=0, fever=0.5, febrile_sign=0.3)


@pytest.mark.parametrize("channel", ["voice", "web"])
def test_a_simulated_proxy_answers_one_session_for_everyone_with_their_own_answers(
        community_secretary, community, proxied, pinned_clock, channel):  # noqa: ANN001
    mother, father, neighbour = proxied
    plan = VOICE_ONLY if channel == "voice" else [{"channel": "web", "at": 0}]
    campaign = campaign_for(community_secretary, community, plan=plan)
    round_ = opened_round(campaign, at(9, 0))
    sim = (sim_voice_transport(5, behaviour=RELIABLE) if channel == "voice"
           else SimTextTransport(seed=5, channel="web", behaviour=RELIABLE))
    with registry.override(channel, Watching(sim)) as watching:
        drain(at(9, 0))

    # One session for the proxy; the neighbour is reached on her own (and named to nobody).
    [session, alone] = sorted(watching.tasks, key=lambda t: not t.subjects)
    assert (alone.resident_id, alone.also_for, alone.subjects) == (neighbour.pk, (), ())
    residents = {r.pk: r for r in (mother, father)}
    assert [s.contact_id for s in session.subjects] == [session.contact_id, *session.also_for]
    assert {s.resident_id for s in session.subjects} == set(residents)
    for subject in session.subjects:  # named masked, never in full
        name = residents[subject.resident_id].name
        assert subject.name.startswith(masked_name(name)) and name not in subject.name
    spec = spec_of(campaign.version_id)
    contacts = {c.resident_id: c for c in Contact.objects.filter(round=round_,
                                                                 resident__in=residents)}
    assert {r: (c.state, c.answered_via, c.answered_by_proxy) for r, c in contacts.items()} == {
        mother.pk: (ContactState.ANSWERED, channel, True),
        father.pk: (ContactState.ANSWERED, channel, True)}
    for resident_id, contact in contacts.items():  # each their own true answers
        truth = SimResident(5, str(resident_id), RELIABLE).answers_for(
            spec, str(round_.pk), channel=channel)
        assert decode_answers(contact.answers, spec) == truth, resident_id


def test_a_proxy_can_tell_apart_residents_whose_masked_names_sound_the_same(
        community_secretary, community, proxied, pinned_clock, transports):
    mother, father, _ = proxied
    Resident.objects.filter(pk=mother.pk).update(name="李秀英", relation=Relation.SPOUSE)
    Resident.objects.filter(pk=father.pk).update(name="李桂英", relation=Relation.SELF)
    opened_round(campaign_for(community_secretary, community), at(9, 0))

    drain(at(9, 0))

    [session] = [task for _, task in transports["web"].sent if task.subjects]
    assert {s.resident_id: s.name for s in session.subjects} == {
        mother.pk: f"李*英（{Relation.SPOUSE.label}）", father.pk: f"李*英（{Relation.SELF.label}）"}


# --- opening and closing rounds ---------------------------------------------------------

def test_opening_a_round_twice_writes_its_contacts_once(
        community_secretary, community, pinned_clock):
    campaign = make_campaign(community_secretary, community)

    first = round_open(campaign=campaign, scheduled_for=at(9, 0), now=at(9, 0))
    again = round_open(campaign=campaign, scheduled_for=at(9, 0), now=at(9, 1))

    assert again.pk == first.pk
    expected = Resident.objects.filter(community=community, status=ResidentStatus.ACTIVE)
    assert first.targeted == expected.count() == Contact.objects.filter(round=first).count()
    assert set(Contact.objects.filter(round=first).values_list("resident_id", flat=True)) \
        == set(expected.values_list("pk", flat=True))
    assert set(Contact.objects.filter(round=first).values_list("community_id", "grid_id")) \
        == set(expected.values_list("community_id", "grid_id"))


def test_a_round_whose_time_has_passed_is_not_opened(
        community_secretary, community, pinned_clock):
    campaign = make_campaign(community_secretary, community)

    assert round_open(campaign=campaign, scheduled_for=at(9, 0), now=at(15, 0)) is None
    assert not Round.objects.filter(campaign=campaign).exists()


def test_a_round_asks_only_the_tagged_once_each(
        community_secretary, community, pinned_clock):
    # Residents with both tags are asked once.
    campaign = make_campaign(community_secretary, community,
                             target={"tags": ["elderly", "elderly_alone"]})

    round_ = round_open(campaign=campaign, scheduled_for=at(9, 0), now=at(9, 0))

    expected = set(Resident.objects.filter(
        community=community, tags__slug__in=["elderly", "elderly_alone"])
        .values_list("pk", flat=True))
    asked = list(Contact.objects.filter(round=round_).values_list("resident_id", flat=True))
    assert sorted(asked) == sorted(expected) and len(asked) == round_.targeted > 0


def test_a_round_asks_only_the_ages_in_the_target(
        community_secretary, community, pinned_clock):
    campaign = make_campaign(community_secretary, community, target={"age_min": 60})

    round_ = round_open(campaign=campaign, scheduled_for=at(9, 0), now=at(9, 0))

    oldest_birthday = MONDAY.replace(year=MONDAY.year - 60)
    expected = set(Resident.objects.filter(community=community, birth_date__lte=oldest_birthday)
                   .values_list("pk", flat=True))
    asked = set(Contact.objects.filter(round=round_).values_list("resident_id", flat=True))
    assert asked == expected and 0 < len(asked) < Resident.objects.filter(
        community=community).count()


def test_closing_a_round_marks_the_unreached_and_alerts_their_grid_once_each(
        community_secretary, community, tagged, pinned_clock, transports):
    reached, *unreached = tagged(4)
    campaign = campaign_for(community_secretary, community,
                            plan=[{"channel": "web", "at": 0}])
    transports["web"].script = lambda task: (
        Result(key=task.key, outcome="answered", answers=FINE) if task.resident_id == reached.pk
        else Result(key=task.key, outcome="delivered"))
    round_ = opened_round(campaign, at(9, 0))
    drain(at(9, 0))

    assert round_close(round_=round_, now=at(15, 0)) == 3
    assert round_close(round_=round_, now=at(15, 1)) == 0

    states = dict(Contact.objects.filter(round=round_).values_list("resident_id", "state"))
    assert states == {reached.pk: ContactState.ANSWERED,
                      **{r.pk: ContactState.UNREACHED for r in unreached}}
    alerts = Alert.objects.filter(campaign=campaign)
    assert sorted(alerts.values_list("resident_id", flat=True)) == sorted(r.pk for r in unreached)
    for alert in alerts:
        assert (alert.kind, alert.rule_key, alert.assigned_area_id) == (
            AlertKind.UNREACHED, "unreached", alert.resident.grid_id)
        assert alert.due_at == at(15, 0) + timedelta(minutes=180)
        assert list(alert.events.values_list("what", flat=True)) == ["raised"]
    round_.refresh_from_db()
    assert (round_.status, round_.closed_at) == (RoundStatus.CLOSED, at(15, 0))


def test_the_scheduler_opens_each_days_round_and_finishes_after_the_last_day(
        community_secretary, community, tagged, pinned_clock, transports):
    tagged(2)
    campaign = campaign_for(community_secretary, community, ends_on=TUESDAY)

    assert rounds_schedule(now=at(9, 0)) == {"opened": 1, "closed": 0}
    assert rounds_schedule(now=at(9, 1)) == {"opened": 0, "closed": 0}
    campaign.refresh_from_db()
    assert campaign.next_round_at == at(9, 0, TUESDAY)

    assert rounds_schedule(now=at(15, 0)) == {"opened": 0, "closed": 1}
    assert rounds_schedule(now=at(9, 0, TUESDAY)) == {"opened": 1, "closed": 0}
    campaign.refresh_from_db()
    assert (campaign.status, campaign.next_round_at) == (CampaignStatus.RUNNING, None)

    rounds_schedule(now=at(15, 0, TUESDAY))
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.FINISHED
    assert sorted(Round.objects.filter(campaign=campaign).values_list("scheduled_for", "status")) \
        == [(at(9, 0), RoundStatus.CLOSED), (at(9, 0, TUESDAY), RoundStatus.CLOSED)]
    assert rounds_schedule(now=at(9, 0, TUESDAY + timedelta(days=1))) == {"opened": 0,
                                                                          "closed": 0}


def test_a_paused_campaign_sends_nothing_and_opens_no_round(
        community_secretary, community, tagged, pinned_clock, transports):
    tagged(3)
    campaign = campaign_for(community_secretary, community)
    opened_round(campaign, at(9, 0))

    campaign_pause(by=community_secretary, campaign=campaign)
    drain(at(9, 0))
    drain(at(10, 30))
    rounds_schedule(now=at(15, 0))
    rounds_schedule(now=at(9, 0, TUESDAY))
    drain(at(9, 0, TUESDAY))

    assert transports["web"].sent == [] and transports["voice"].sent == []
    assert Round.objects.filter(campaign=campaign).count() == 1

    pinned_clock.set(at(9, 30, TUESDAY))
    campaign_start(by=community_secretary, campaign=campaign)
    rounds_schedule(now=at(9, 0, TUESDAY + timedelta(days=1)))
    drain(at(9, 0, TUESDAY + timedelta(days=1)))
    assert len(transports["web"].sent) == 3


def test_a_proxy_answers_for_everyone_she_looks_after_on_one_web_page(
        community_secretary, community, proxied, pinned_clock):  # noqa: ANN001
    from django.test import Client
    from django.urls import reverse

    from fangkong.followup.channels.web.links import contact_token

    mother, father, _neighbour = proxied
    campaign = campaign_for(community_secretary, community)
    round_ = opened_round(campaign, at(9, 0))
    contacts = {c.resident_id: c for c in Contact.objects.filter(round=round_)}
    first, second = contacts[mother.pk], contacts[father.pk]
    url = reverse("followup:answer", args=[contact_token(first.pk)])
    page = Client().get(url)
    names = [name for name, _form in page.context["forms"]]
    assert len(names) == 2 and mother.name not in page.content.decode()
    missing = Client().post(url, {f"c{first.pk}-fever": "no", f"c{first.pk}-cough": "no"})
    assert missing.status_code == 400  # the father's answers are missing: nothing stored
    assert not Contact.objects.filter(pk__in=[first.pk, second.pk], state="answered").exists()
    done = Client().post(url, {f"c{first.pk}-fever": "no", f"c{first.pk}-cough": "no",
                               f"c{second.pk}-fever": "yes",
                               f"c{second.pk}-temperature": "三十八度",
                               f"c{second.pk}-cough": "no"})
    assert done.status_code == 200
    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.state, first.answered_by_proxy, first.severity) == ("answered", True, "")
    assert (second.state, second.answered_by_proxy, second.severity) == (
        "answered", True, "high")
    assert second.answers["temperature"][0] == "38.0"


def test_an_answer_by_call_completes_without_the_questions_a_call_does_not_ask(
        community_secretary, community, tagged, pinned_clock, transports):  # noqa: ANN001
    """The travel questionnaire asks "where" on the web form only: a yes by phone must
    still count as an answer and raise its alert."""
    from fangkong.followup.models import Alert, Questionnaire

    (resident,) = tagged(1)
    travel = Questionnaire.objects.get(slug="travel_contact").versions.latest("number")
    campaign = campaign_for(community_secretary, community, plan=VOICE_ONLY, version=travel)
    round_ = opened_round(campaign, at(9, 0))
    transports["voice"].script = lambda task: Result(key=task.key, outcome="answered", answers={
        "contact_case": True, "contact_fever": False, "travel_risk": True})
    drain(at(9, 0))
    contact = Contact.objects.get(round=round_, resident=resident)
    assert (contact.state, contact.answered_via, contact.severity) == ("answered", "voice",
                                                                       "high")
    assert {a.rule_key for a in Alert.objects.filter(contact=contact)} == {
        "contact_case", "travel_risk"}


def test_a_channel_with_nothing_behind_it_fails_honestly_and_falls_back(
        community_secretary, community, tagged, pinned_clock, settings):  # noqa: ANN001
    settings.SIMULATE_CHANNELS = False
    settings.SMS_GATEWAY_URL = ""
    registry.reset()
    try:
        tagged(2)
        campaign = campaign_for(community_secretary, community,
                                plan=[{"channel": "web", "at": 0},
                                      {"channel": "voice", "at": 0},
                                      {"channel": "visit", "at": 0}])
        round_ = opened_round(campaign, at(9, 0))
        drain(at(9, 0))
        attempts = Attempt.objects.filter(contact__round=round_)
        assert {a.outcome for a in attempts} == {"failed"}
        assert {a.detail for a in attempts} == {
            "no SMS gateway is configured (FANGKONG_SMS_GATEWAY_URL)",
            "no telephony channel is configured"}
        # Nobody was answered by a simulation: everyone waits for a door visit.
        assert set(Contact.objects.filter(round=round_).values_list("state", "step")) == {
            ("pending", 2)}
    finally:
        registry.reset()


def test_worker_once_also_opens_the_due_rounds_and_tries_their_contacts(
        community_secretary, community, tagged, pinned_clock, transports):  # noqa: ANN001
    import io

    from django.core.management import call_command

    tagged(2)
    campaign = campaign_for(community_secretary, community)
    pinned_clock.set(at(9, 0))
    out = io.StringIO()
    call_command("worker", once=True, stdout=out)
    assert Round.objects.filter(campaign=campaign).count() == 1
    assert len(transports["web"].sent) == 2
    assert "handled 2 due item(s)" in out.getvalue()


def test_a_paused_campaign_closes_its_round_without_flooding_alerts(
        community_secretary, community, tagged, pinned_clock, transports):  # noqa: ANN001
    from fangkong.followup.rounds import round_close
    from fangkong.followup.services import campaign_pause

    tagged(3)
    campaign = campaign_for(community_secretary, community)
    round_ = opened_round(campaign, at(9, 0))
    campaign_pause(by=community_secretary, campaign=campaign)
    assert round_close(round_=round_, now=at(15, 0)) == 3
    assert not Alert.objects.filter(contact__round=round_).exists()
    assert set(Contact.objects.filter(round=round_).values_list("state", flat=True)) == {
        "unreached"}


# --- robot calls made by line machines (a SIP trunk) -------------------------------------

def test_with_a_trunk_the_worker_leaves_the_calls_to_the_line_machines(
        community_secretary, community, tagged, pinned_clock, transports, settings):
    settings.SIP_TRUNK = "127.0.0.1:5060"
    tagged(2)
    campaign = campaign_for(community_secretary, community, plan=VOICE_ONLY)
    opened_round(campaign, at(9, 0))

    drain(at(9, 0))

    assert transports["voice"].sent == []
    assert not Contact.objects.filter(round__campaign=campaign).exclude(lease_owner="").exists()


def test_without_a_line_machine_calls_move_on_once_the_next_step_starts(
        community_secretary, community, tagged, pinned_clock, transports, settings):
    from fangkong.followup.dispatch import calls_unattended_move_on
    from fangkong.followup.models import LineMachine

    settings.SIP_TRUNK = "127.0.0.1:5060"
    [resident] = tagged(1)
    campaign = campaign_for(community_secretary, community)  # web 0, voice 90, visit 300
    opened_round(campaign, at(9, 0))
    Contact.objects.filter(round__campaign=campaign).update(step=1, due_at=at(10, 30))
    contact = Contact.objects.get(round__campaign=campaign, resident=resident)

    assert calls_unattended_move_on(now=at(13, 0)) == 0  # the door visit starts at 14:00
    # A line machine alive with its trunk up: the calls are being made.
    LineMachine.objects.create(name="m1", lines=8, started_at=at(13, 0),
                               heartbeat_at=at(13, 59))
    assert calls_unattended_move_on(now=at(14, 0)) == 0
    # Its trunk is down: nobody is calling, and the door visit has started.
    LineMachine.objects.filter(name="m1").update(trunk_up=False)
    assert calls_unattended_move_on(now=at(14, 0)) == 1
    contact.refresh_from_db()
    assert (contact.step, contact.due_at, contact.state) == (2, None, "pending")
