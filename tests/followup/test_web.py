"""The resident's one-time web link, through Django's test client: what the page shows,
what a POST stores, and when the link is refused."""

from __future__ import annotations

import re

import pytest
from django.core.signing import b62_encode
from django.test import Client
from django.urls import reverse

from fangkong.followup.channels.web.links import contact_token
from fangkong.followup.models import Alert, Contact, ContactState
from fangkong.followup.rounds import round_close, round_open
from fangkong.residents.models import Resident, Tag
from tests.followup.conftest import at, make_campaign

pytestmark = pytest.mark.django_db

FINE = {"fever": "no", "cough": "no"}


@pytest.fixture
def resident(community):  # noqa: ANN001, ANN201
    person = (Resident.objects.filter(community=community, name__regex=r"^.{2,}$")
              .order_by("pk").first())
    Tag.objects.create(slug="web_test", name="web_test").residents.add(person)
    return person


@pytest.fixture
def contact(community_secretary, community, resident, pinned_clock) -> Contact:  # noqa: ANN001
    campaign = make_campaign(community_secretary, community, target={"tags": ["web_test"]})
    round_ = round_open(campaign=campaign, scheduled_for=at(9, 0), now=at(9, 0))
    pinned_clock.set(at(9, 20))  # the resident opens the link a little later
    return Contact.objects.get(round=round_)


@pytest.fixture
def browser() -> Client:
    return Client(HTTP_ACCEPT_LANGUAGE="en")


def link(contact: Contact) -> str:
    return reverse("followup:answer", args=[contact_token(contact.pk)])


def stored(contact: Contact) -> Contact:
    return Contact.objects.get(pk=contact.pk)


def test_the_link_shows_the_form_with_the_purpose_and_a_masked_name(browser, contact, resident):
    response = browser.get(link(contact))

    assert response.status_code == 200
    page = response.content.decode()
    assert "疫情防控每日健康随访" in page  # why they are asked
    assert resident.name[0] + "*" * (len(resident.name) - 1) in page
    assert resident.name not in page
    assert resident.phone_masked not in page or not resident.phone_masked
    for question in ("fever", "temperature", "cough", "symptoms"):
        assert f'name="{question}"' in page
    assert response["Cache-Control"].startswith("max-age=0")


def test_fever_without_a_temperature_is_sent_back_and_nothing_is_stored(browser, contact):
    response = browser.post(link(contact), {"fever": "yes", "cough": "no"})

    assert response.status_code == 400
    assert set(response.context["form"].errors) == {"temperature"}
    assert "Please answer this question." in response.content.decode()
    after = stored(contact)
    assert (after.answers, after.state) == ({}, ContactState.PENDING)


def test_a_temperature_in_chinese_words_is_stored_and_raises_a_high_alert(browser, contact):
    response = browser.post(link(contact), {"fever": "yes", "temperature": "三十八度二",
                                            "cough": "no"})

    assert response.status_code == 200
    assert "Your answers have been received." in response.content.decode()
    after = stored(contact)
    assert after.answers["temperature"] == ["38.2", "web"]
    assert (after.state, after.answered_via, after.answered_at, after.severity) == (
        ContactState.ANSWERED, "web", at(9, 20), "high")
    alert = Alert.objects.get(contact=contact, rule_key="fever")
    assert (alert.severity, alert.assigned_area_id) == ("high", contact.grid_id)


def test_a_temperature_given_with_no_fever_is_dropped(browser, contact):
    response = browser.post(link(contact), {**FINE, "temperature": "38.5"})

    assert response.status_code == 200
    after = stored(contact)
    assert set(after.answers) == {"fever", "cough", "symptoms"}
    assert after.answers["fever"] == [False, "web"]
    assert after.severity == ""
    assert not Alert.objects.filter(contact=contact).exists()


def test_a_link_is_used_once(browser, contact):
    assert browser.post(link(contact), FINE).status_code == 200

    again = browser.post(link(contact), {"fever": "yes", "temperature": "39", "cough": "yes"})
    opened = browser.get(link(contact))

    assert again.status_code == opened.status_code == 409
    assert "A link can be used once." in again.content.decode()
    assert stored(contact).answers["fever"] == [False, "web"]
    assert not Alert.objects.filter(contact=contact).exists()


@pytest.mark.parametrize("forge", [
    lambda pk, token: token[:-1] + ("A" if token[-1] != "A" else "B"),  # signature tampered
    lambda pk, token: b62_encode(pk + 1) + ":" + token.split(":", 1)[1],  # the next contact
    lambda pk, token: "nonsense",
])
def test_a_forged_link_is_not_found(browser, contact, forge):
    token = forge(contact.pk, contact_token(contact.pk))

    response = browser.get(reverse("followup:answer", args=[token]))

    assert response.status_code == 404
    assert "疫情防控" not in response.content.decode()


def test_a_link_to_a_contact_that_no_longer_exists_is_not_found(browser, contact):
    token = contact_token(contact.pk + 10_000_000)

    assert browser.get(reverse("followup:answer", args=[token])).status_code == 404


def test_a_link_of_a_closed_round_is_gone(browser, contact):
    round_close(round_=contact.round, now=at(15, 0))

    response = browser.post(link(contact), FINE)

    assert response.status_code == 410
    assert "This check-in has closed." in response.content.decode()
    assert stored(contact).answers == {}


def test_a_link_past_its_rounds_closing_time_is_gone_even_before_the_close_runs(
        browser, contact, pinned_clock):
    pinned_clock.set(at(15, 0))

    assert browser.get(link(contact)).status_code == 410


@pytest.mark.parametrize("reading", ["45", "34.0", "四十五度"])
def test_a_temperature_out_of_range_gets_a_polite_message_and_nothing_is_stored(
        browser, contact, reading):
    response = browser.post(link(contact), {"fever": "yes", "temperature": reading,
                                            "cough": "no"})

    assert response.status_code == 400
    [message] = response.context["form"].errors["temperature"]
    assert message.startswith("A body temperature lies between 35.0 and 42.0 °C: "
                              "please measure again")
    assert message in response.content.decode()
    after = stored(contact)
    assert (after.answers, after.state) == ({}, ContactState.PENDING)
    assert not Alert.objects.filter(contact=contact).exists()


def test_the_form_works_as_a_plain_html_post_without_javascript(contact):
    browser = Client(enforce_csrf_checks=True, HTTP_ACCEPT_LANGUAGE="en")
    page = browser.get(link(contact)).content.decode()

    assert "<script" not in page
    [form] = re.findall(r"<form[^>]*>", page)
    assert 'method="post"' in form and "action=" not in form  # posts back to the link
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    response = browser.post(link(contact), {"csrfmiddlewaretoken": token, "fever": "yes",
                                            "temperature": "37.9", "cough": "no",
                                            "symptoms": ["fatigue", "sore_throat"]})

    assert response.status_code == 200
    after = stored(contact)
    assert after.state == ContactState.ANSWERED
    assert after.answers["symptoms"] == [["fatigue", "sore_throat"], "web"]
