"""Questionnaires: copied, changed into new versions, while running campaigns keep theirs."""

from __future__ import annotations

import json

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.urls import reverse

from fangkong.followup.models import Questionnaire
from fangkong.followup.services import questionnaire_save
from tests.followup.conftest import make_campaign
from tests.views.clients import make_client


def shipped():  # noqa: ANN201
    return Questionnaire.objects.get(slug="daily_health")


def test_secretary_copies_a_shipped_questionnaire_and_changes_it_into_a_new_version(
        community_secretary, pinned_clock):  # noqa: ANN001
    client = make_client(community_secretary)
    copy_page = client.get(reverse("followup:questionnaire_new"), {"copy": shipped().pk})
    spec = json.loads(copy_page.context["form"].initial["spec"])
    spec["questions"][0]["label"] = "今天体温有没有超过37.3度？"
    saved = client.post(reverse("followup:questionnaire_new"), {
        "name": "本社区健康监测", "spec": json.dumps(spec, ensure_ascii=False)})
    assert saved.status_code == 302
    mine = Questionnaire.objects.get(name="本社区健康监测")
    assert mine.area_id == community_secretary.area_id
    first = mine.versions.get()
    campaign = make_campaign(community_secretary, community_secretary.area, version=first)
    spec["questions"][2]["label"] = "有没有咳嗽或气短？"
    edit = reverse("followup:questionnaire_edit", args=[mine.pk])
    client.post(edit, {"name": mine.name, "spec": json.dumps(spec, ensure_ascii=False)})
    assert mine.versions.count() == 2
    client.post(edit, {"name": mine.name, "spec": json.dumps(spec, ensure_ascii=False)})
    assert mine.versions.count() == 2  # unchanged: no new version
    campaign.refresh_from_db()
    assert campaign.version == first  # the running campaign keeps what it started with
    page = client.get(reverse("followup:questionnaire", args=[mine.pk]))
    assert "有没有咳嗽或气短？" in page.content.decode()


def test_every_problem_of_a_questionnaire_is_listed_and_nothing_is_saved(community_secretary):  # noqa: ANN001
    client = make_client(community_secretary)
    broken_json = client.post(reverse("followup:questionnaire_new"),
                              {"name": "x", "spec": '{"questions": [}'},
                              HTTP_ACCEPT_LANGUAGE="en")
    assert "line 1" in broken_json.context["form"].errors["spec"][0]
    bad = {"questions": [{"key": "Fever", "kind": "yes_no", "label": ""},
                         {"key": "t", "kind": "temperature", "label": "体温",
                          "when": {"nothing": True}}],
           "rules": [{"key": "r", "kind": "threshold", "question": "t", "op": ">=",
                      "value": "99", "severity": "high", "title": "发热"}]}
    response = client.post(reverse("followup:questionnaire_new"),
                           {"name": "x", "spec": json.dumps(bad)})
    problems = response.context["form"].errors["spec"]
    assert len(problems) >= 3
    assert not Questionnaire.objects.filter(name="x").exists()


def test_a_shipped_questionnaire_cannot_be_changed_and_a_grid_worker_cannot_write_one(
        community_secretary, grid_worker):  # noqa: ANN001
    with pytest.raises(ValidationError):
        questionnaire_save(by=community_secretary, questionnaire=shipped(), name="改",
                           spec=shipped().versions.latest("number").spec)
    with pytest.raises(PermissionDenied):
        questionnaire_save(by=grid_worker, name="网格问卷",
                           spec=shipped().versions.latest("number").spec)
    assert make_client(grid_worker).get(reverse("followup:questionnaire_new")).status_code == 403
