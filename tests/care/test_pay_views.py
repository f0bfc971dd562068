"""The allowance and insurance pages: who opens which, the rules through the forms, the
ledger downloaded for payroll, the insurance of an area and one's own, in a fixed number
of queries."""

from __future__ import annotations

import csv
import io
from datetime import date
from decimal import Decimal

import openpyxl
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from fangkong.accounts.models import Role
from fangkong.audit.models import AuditAction, AuditEvent
from fangkong.care.insurance import insurance_policy_record
from fangkong.care.models import AllowanceRule, InsuranceKind, InsurancePolicy, MemberKind
from fangkong.places.models import AreaKind
from tests.care.pay_fixtures import Rota, nov, saved_rule, staff
from tests.views.clients import make_client


def english_client(user):  # noqa: ANN001, ANN201
    return make_client(user, language="en")

pytestmark = pytest.mark.django_db


@pytest.fixture
def personas(city):  # noqa: ANN001, ANN201
    names = ["admin", "street_officer", "community_secretary", "community_worker",
             "grid_worker", "gate_guard", "volunteer", "other_street_officer"]
    return {name: city.persona(name) for name in names}


# --- Allowance rules ------------------------------------------------------------------------


def test_only_administrators_open_the_allowance_rules(personas):
    url = reverse("care:allowance_rules")
    for name, user in personas.items():
        expected = 200 if name == "admin" else 403
        assert make_client(user).get(url).status_code == expected, name
    assert make_client().get(url).status_code == 302


def test_administrator_adds_and_ends_rules_through_the_page(admin_user, city):
    client = english_client(admin_user)
    url = reverse("care:allowance_rules")
    street = city.areas(AreaKind.STREET)[0]
    form = {"do": "add", "area": street.pk, "role": Role.GRID_WORKER, "member_kind": "",
            "amount": "120.50", "valid_from": "2026-11-01", "valid_to": ""}
    assert client.post(url, form).status_code == 302
    added = AllowanceRule.objects.get()
    assert (added.area, added.amount, added.valid_to) == (street, Decimal("120.50"), None)
    page = client.get(url).content.decode()
    assert street.name in page and "120.50" in page
    # An overlapping rule is refused next to its first day; nothing is lost.
    response = client.post(url, {**form, "valid_from": "2026-12-01", "amount": "130"})
    assert response.status_code == 200
    assert "already applies from 2026-11-01" in " ".join(response.context["form"]
                                                          .errors["valid_from"])
    assert response.context["form"]["amount"].value() == "130"
    # A grid is no choice.
    response = client.post(url, {**form, "area": city.areas(AreaKind.GRID)[0].pk})
    assert "area" in response.context["form"].errors
    # End the rule, then start the new one after it.
    assert client.post(url, {"do": "end", "rule": added.pk,
                             "valid_to": "2026-11-30"}).status_code == 302
    assert client.post(url, {**form, "valid_from": "2026-12-01",
                             "amount": "130"}).status_code == 302
    response = client.post(url, {"do": "end", "rule": added.pk, "valid_to": "2026-12-31"})
    assert response.status_code == 200
    assert "already ends on 2026-11-30" in response.content.decode()
    assert AllowanceRule.objects.count() == 2
    assert AuditEvent.objects.filter(action=AuditAction.ALLOWANCE_RULE_CHANGE).count() == 3


def test_a_rule_outside_the_administrators_area_cannot_be_ended(admin_user, city):
    outside = saved_rule(city.root, "60")  # the city is above the admin's district
    response = make_client(admin_user).post(reverse("care:allowance_rules"), {
        "do": "end", "rule": outside.pk, "valid_to": "2026-11-30"})
    assert response.status_code == 404
    outside.refresh_from_db()
    assert outside.valid_to is None
    # The admin still sees the city's rule as one that applies to their district.
    page = make_client(admin_user).get(reverse("care:allowance_rules")).content.decode()
    assert "60.00" in page


def test_administrator_withdraws_a_rule_typed_wrong_and_adds_the_corrected_one(admin_user,
                                                                               city):
    client = english_client(admin_user)
    url = reverse("care:allowance_rules")
    street = city.areas(AreaKind.STREET)[0]
    typo = saved_rule(street, "1234.56", valid_from=nov(1))
    page = client.get(url).content.decode()
    assert 'name="do" value="withdraw"' in page and 'name="do" value="end"' in page
    # A reason is needed; nothing changes without one.
    response = client.post(url, {"do": "withdraw", "rule": typo.pk, "reason": " "},
                           follow=True)
    assert "Say why the rule is withdrawn" in response.content.decode()
    typo.refresh_from_db()
    assert typo.withdrawn_at is None
    response = client.post(url, {"do": "withdraw", "rule": typo.pk,
                                 "reason": "amount typed wrong"})
    assert response.status_code == 302
    typo.refresh_from_db()
    assert (typo.withdrawn_by, typo.withdrawn_reason) == (admin_user, "amount typed wrong")
    # Listed apart, struck through, with who, when and why; no longer to end or withdraw.
    response = client.get(url)
    assert response.context["book"].withdrawn == [typo]
    assert response.context["book"].current == []
    page = response.content.decode()
    assert "<del>" in page and "1234.56" in page
    assert "Withdrawn 2026-12-01 09:00 by Admin: amount typed wrong" in page
    assert f'name="rule" value="{typo.pk}"' not in page
    response = client.post(url, {"do": "withdraw", "rule": typo.pk, "reason": "again"},
                           follow=True)
    assert "already withdrawn on 2026-12-01 by Admin" in response.content.decode()
    # The corrected rule takes the same days.
    form = {"do": "add", "area": street.pk, "role": "", "member_kind": "", "amount": "123.45",
            "valid_from": "2026-11-01", "valid_to": ""}
    assert client.post(url, form).status_code == 302
    assert AllowanceRule.objects.filter(withdrawn_at__isnull=True).get().amount == Decimal(
        "123.45")
    assert AuditEvent.objects.filter(action=AuditAction.ALLOWANCE_RULE_CHANGE).count() == 2


def test_a_rule_outside_the_administrators_area_cannot_be_withdrawn(admin_user, city):
    outside = saved_rule(city.root, "60")  # the city is above the admin's district
    response = make_client(admin_user).post(reverse("care:allowance_rules"), {
        "do": "withdraw", "rule": outside.pk, "reason": "typo"})
    assert response.status_code == 404
    outside.refresh_from_db()
    assert (outside.withdrawn_at, outside.withdrawn_reason) == (None, "")
    assert not AuditEvent.objects.filter(action=AuditAction.ALLOWANCE_RULE_CHANGE).exists()


# --- The ledger -----------------------------------------------------------------------------


def test_each_role_opens_the_ledger_of_its_own_area_only(personas, city):
    district = city.areas(AreaKind.DISTRICT)[0]
    first_street, second_street = city.areas(AreaKind.STREET)
    first, second = city.areas(AreaKind.COMMUNITY)[:2]
    grid = city.areas(AreaKind.GRID)[0]
    allowed = {
        "admin": {city.root: 404, district: 200, first_street: 200, first: 200, grid: 200},
        "street_officer": {district: 404, first_street: 200, second_street: 404, first: 200,
                           second: 200},
        "other_street_officer": {first_street: 404, second_street: 200, first: 404},
        "community_secretary": {first_street: 404, first: 200, second: 404, grid: 200},
        # Without the capability, even their own area answers 404.
        "community_worker": {first: 404},
        "grid_worker": {grid: 404, first: 404},
        "gate_guard": {first: 404},
        "volunteer": {first: 404},
    }
    for name, areas in allowed.items():
        client = make_client(personas[name])
        for area, expected in areas.items():
            for view in ("care:ledger", "care:insurance"):
                url = reverse(view, args=[area.pk])
                assert client.get(url).status_code == expected, (name, view, area.name)
                if expected == 404:
                    assert client.post(url, {"month": "2026-11", "format": "xlsx"}
                                       ).status_code == 404
    assert not AuditEvent.objects.filter(action=AuditAction.EXPORT).exists()
    assert make_client().get(reverse("care:ledger", args=[first.pk])).status_code == 302


@pytest.fixture
def worked_november(city, grid_worker):  # noqa: ANN001, ANN201
    """The first community in November: a grid worker on 3 days (one changing rule and
    one absence), a cadre on 2 days, and a day no rule covers."""
    community = city.areas(AreaKind.COMMUNITY)[0]
    rota = Rota(community)
    rota.member(grid_worker)
    cadre = staff("cadre", community)
    rota.member(cadre, MemberKind.CADRE)
    saved_rule(community, "100", valid_from=nov(5), valid_to=nov(15))
    saved_rule(community, "120", valid_from=nov(16))
    saved_rule(community, "150.25", kind=MemberKind.CADRE, valid_from=nov(5))
    for day in (10, 16, 20):
        rota.work(grid_worker, nov(day))
    rota.work(grid_worker, nov(21), attendance="absent")
    for day in (3, 6, 7):  # no rule covers the 3rd
        rota.work(cadre, nov(day))
    return community, cadre


def test_ledger_page_shows_the_month_with_its_totals_and_flags(community_secretary,
                                                               worked_november):
    community, _cadre = worked_november
    client = make_client(community_secretary)
    url = reverse("care:ledger", args=[community.pk])
    response = client.get(url, {"month": "2026-11"})
    assert response.status_code == 200
    ledger = response.context["ledger"]
    assert ledger.total.total == Decimal("640.50")  # 100 + 120 + 120 + 150.25 * 2
    assert (ledger.total.days, ledger.total.unruled, ledger.total.absent) == (6, 1, 1)
    body = response.content.decode()
    assert "100.00–120.00" in body and "640.50" in body and 'class="late"' in body
    # Without a month (or with a bad one): the current month, December, nothing worked yet.
    for params in ({}, {"month": "2026-13"}):
        assert client.get(url, params).context["month"] == date(2026, 12, 1)


def test_ledger_downloads_as_an_xlsx_with_the_right_totals_and_is_audited(
        community_secretary, worked_november):
    community, cadre = worked_november
    response = english_client(community_secretary).post(
        reverse("care:ledger", args=[community.pk]), {"month": "2026-11", "format": "xlsx"})
    assert response.status_code == 200
    assert response["Content-Disposition"].startswith("attachment")
    assert "202611.xlsx" in response["Content-Disposition"]
    sheet = openpyxl.load_workbook(io.BytesIO(b"".join(response.streaming_content))).active
    rows = [list(r) for r in sheet.iter_rows(values_only=True)]
    assert "2026-11" in rows[0][0]
    data = [r for r in rows[3:] if isinstance(r[0], int)]
    by_name = {r[1]: r for r in data}
    worker = by_name["Grid Worker"]
    assert worker[5:12] == [3, 3, 24, "100.00–120.00", 340, 0, 1]
    assert by_name[cadre.display_name][5:12] == [3, 3, 24, 150.25, 300.5, 1, 0]
    total = next(r for r in rows if r[0] is None and r[5] is not None)
    assert total[5:12] == [6, 6, 48, None, 640.5, 1, 1]
    text = " ".join(str(c) for r in rows for c in r if c is not None)
    assert "Community Secretary" in text  # the stamp names the exporter
    # Names in full for payroll, but no phone or ID number.
    assert rows[2] == ["No.", "Name", "Role", "Kind", "Community", "Days on duty", "Shifts",
                       "Hours", "Yuan per day", "Total (yuan)", "Days with no rule",
                       "Shifts absent (not paid)", "Note"]
    assert by_name[cadre.display_name][12] == "No allowance rule covers these days: 11-03"
    event = AuditEvent.objects.get(action=AuditAction.EXPORT)
    assert (event.object_type, event.area_path) == ("allowance_ledger", community.path)
    assert event.changes["month"] == ["", "2026-11"]
    assert event.changes["total"] == ["", "640.50"]


def test_ledger_downloads_as_csv(street_officer, worked_november):
    community, _cadre = worked_november
    response = make_client(street_officer).post(
        reverse("care:ledger", args=[street_officer.area_id]),
        {"month": "2026-11", "format": "csv"})
    assert response.status_code == 200
    body = b"".join(response.streaming_content)
    assert body.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))
    assert any("640.50" in row for row in rows)
    assert AuditEvent.objects.get(action=AuditAction.EXPORT).area_path == \
        street_officer.area.path


def test_a_bad_export_form_downloads_nothing(community_secretary, worked_november):
    community, _cadre = worked_november
    url = reverse("care:ledger", args=[community.pk])
    client = make_client(community_secretary)
    for form in ({}, {"month": "2026-11", "format": "pdf"}, {"month": "x", "format": "csv"}):
        assert client.post(url, form).status_code == 302
    assert not AuditEvent.objects.filter(action=AuditAction.EXPORT).exists()


def test_ledger_and_insurance_take_a_fixed_number_of_queries(street_officer, city,
                                                             django_assert_max_num_queries):
    community = city.areas(AreaKind.COMMUNITY)[0]
    rota = Rota(community)
    saved_rule(community, "80")
    url = reverse("care:ledger", args=[street_officer.area_id])
    insurance_url = reverse("care:insurance", args=[street_officer.area_id])
    client = make_client(street_officer)
    counts = []
    for batch in range(2):
        for i in range(3 if batch == 0 else 20):
            user = staff(f"w{batch}_{i}", community, Role.GRID_WORKER)
            rota.member(user, MemberKind.CADRE if i % 2 else MemberKind.WORKER)
            for day in (2, 3, 9):
                rota.work(user, nov(day))
            insurance_policy_record(by=street_officer, user=user, kind=InsuranceKind.ACCIDENT,
                                    insurer="人保", policy_number=f"N{batch}{i}",
                                    covers_from=date(2026, 1, 1), covers_to=date(2026, 12, 31))
        client.get(url)
        with django_assert_max_num_queries(12):
            response = client.get(url, {"month": "2026-11"})
        assert response.status_code == 200
        with CaptureQueriesContext(connection) as ledger_queries:
            client.get(url, {"month": "2026-11"})
        with django_assert_max_num_queries(12):
            assert client.get(insurance_url).status_code == 200
        with CaptureQueriesContext(connection) as insurance_queries:
            client.get(insurance_url)
        with CaptureQueriesContext(connection) as export_queries:
            client.post(url, {"month": "2026-11", "format": "xlsx"})
        counts.append((len(ledger_queries), len(insurance_queries), len(export_queries)))
    assert counts[0] == counts[1]
    assert response.context["ledger"].total.total == Decimal("5520.00")  # 23 * 3 * 80


# --- Insurance ------------------------------------------------------------------------------


def test_insurance_page_flags_staff_without_cover_and_records_a_policy(community_secretary,
                                                                       grid_worker, city):
    community = community_secretary.area
    url = reverse("care:insurance", args=[community.pk])
    client = english_client(community_secretary)
    response = client.get(url)
    assert response.status_code == 200
    board = {r.user.pk: r for r in response.context["board"]}
    assert board[grid_worker.pk].cover.status == "none"
    assert city.persona("other_grid_worker").pk not in board
    assert "Not covered: no policy on record" in response.content.decode()
    form = {"user": grid_worker.pk, "kind": InsuranceKind.ACCIDENT, "insurer": "中国人寿",
            "policy_number": "GW-1", "sum_insured": "", "covers_from": "2026-06-01",
            "covers_to": "2026-12-20"}
    assert client.post(url, form).status_code == 302
    response = client.get(url)
    cover = {r.user.pk: r.cover for r in response.context["board"]}[grid_worker.pk]
    assert (cover.status, cover.until) == ("expiring", date(2026, 12, 20))
    assert "Cover ends within 30 days" in response.content.decode()
    # The same policy again, and dates out of order, are refused next to their field.
    response = client.post(url, form)
    assert "already recorded" in " ".join(response.context["form"].errors["policy_number"])
    response = client.post(url, {**form, "policy_number": "GW-2",
                                 "covers_to": "2026-05-01"})
    assert "covers_to" in response.context["form"].errors
    assert InsurancePolicy.objects.filter(user=grid_worker).count() == 1
    assert AuditEvent.objects.filter(action=AuditAction.INSURANCE_CHANGE).count() == 1


def test_a_policy_cannot_be_recorded_for_staff_outside_the_area(community_secretary, city):
    other = city.persona("other_grid_worker")
    response = make_client(community_secretary).post(
        reverse("care:insurance", args=[community_secretary.area_id]), {
            "user": other.pk, "kind": InsuranceKind.ACCIDENT, "insurer": "人保",
            "policy_number": "X1", "covers_from": "2026-01-01", "covers_to": "2026-12-31"})
    assert response.status_code == 200
    assert "user" in response.context["form"].errors
    assert not InsurancePolicy.objects.exists()


def test_every_staff_member_reads_only_their_own_policies(personas, community_secretary,
                                                          grid_worker):
    insurance_policy_record(by=community_secretary, user=grid_worker,
                            kind=InsuranceKind.ILLNESS, insurer="平安", policy_number="MINE-7",
                            covers_from=date(2026, 1, 1), covers_to=date(2027, 1, 31))
    url = reverse("care:my_insurance")
    response = make_client(grid_worker).get(url)
    assert response.status_code == 200
    assert "MINE-7" in response.content.decode()
    assert response.context["cover"].status == "covered"
    for name, user in personas.items():
        response = make_client(user).get(url)
        assert response.status_code == 200, name
        if user != grid_worker:
            assert "MINE-7" not in response.content.decode(), name
    assert make_client(grid_worker).post(url).status_code == 405
    assert make_client().get(url).status_code == 302
