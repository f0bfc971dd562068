"""A round from opening to closing, through the dispatcher, on a pinned clock."""

from __future__ import annotations

from fangkong.followup.channels.base import Result
from fangkong.followup.models import Alert, Attempt, Contact, ContactState, Round
from tests.followup.conftest import at, make_campaign, run_until


def test_round_opens_with_one_contact_per_resident_and_falls_back(
        community_secretary, community, pinned_clock, transports):  # noqa: ANN001
    campaign = make_campaign(community_secretary, community)
    fever_resident = []

    def voice(task):  # noqa: ANN001, ANN202
        if not fever_resident:
            fever_resident.append(task.resident_id)
            return Result(key=task.key, outcome="answered",
                          answers={"fever": True, "temperature": "38.2", "cough": False,
                                   "symptoms": []})
        return Result(key=task.key, outcome="no_answer")

    transports["voice"].script = voice
    run_until(at(9, 1))
    round_ = Round.objects.get(campaign=campaign)
    contacts = Contact.objects.filter(round=round_)
    assert round_.targeted == contacts.count() > 0
    # Everyone got the web link once at 09:00 (proxies' residents share one).
    assert len(transports["web"].sent) <= round_.targeted
    run_until(at(14, 59))
    fever = Contact.objects.get(round=round_, resident_id=fever_resident[0])
    assert fever.state == ContactState.ANSWERED and fever.severity == "high"
    alert = Alert.objects.get(contact=fever, rule_key="fever")
    assert alert.assigned_area_id == fever.grid_id
    # No answer on voice: 3 tries, then the door-visit list.
    other = contacts.exclude(pk=fever.pk).first()
    other.refresh_from_db()
    assert Attempt.objects.filter(contact=other, channel="voice").count() == 3
    assert other.step == 2 and other.state == ContactState.PENDING and other.due_at is None
    run_until(at(15, 2))
    other.refresh_from_db()
    assert other.state == ContactState.UNREACHED
    assert Alert.objects.filter(contact=other, kind="unreached").exists()
