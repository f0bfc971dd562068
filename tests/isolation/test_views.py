"""The isolation pages as a grid worker uses them on a phone."""

from __future__ import annotations

from datetime import date, timedelta

from django.urls import reverse

from fangkong.isolation.models import IsolationPeriod, PeriodStatus
from fangkong.lib import clock
from tests.followup.conftest import MONDAY, at
from tests.views.clients import make_client


def test_grid_worker_starts_extends_and_ends_a_period(city, grid_worker):  # noqa: ANN001
    resident = city.resident_in(grid_worker.area)
    client = make_client(grid_worker)
    with clock.pinned(at(10, 0)):
        form = client.get(reverse("isolation:start", args=[resident.pk]))
        assert form.status_code == 200
        assert form.context["form"].initial["planned_end"] == MONDAY + timedelta(days=13)
        refused = client.post(reverse("isolation:start", args=[resident.pk]),
                              {"kind": "isolation", "starts_on": "2026-11-30", "reason": ""})
        assert "reason" in refused.context["form"].errors
        started = client.post(reverse("isolation:start", args=[resident.pk]),
                              {"kind": "isolation", "starts_on": "2026-11-30",
                               "reason": "密切接触者", "place": "家中"})
        period = IsolationPeriod.objects.get(resident=resident)
        assert started.status_code == 302 and period.planned_end == date(2026, 12, 13)
        listed = client.get(reverse("isolation:list")).context["periods"]
        assert period in listed and listed[listed.index(period)].days_left == 13
        url = reverse("isolation:period", args=[period.pk])
        too_early = client.post(url, {"do": "extend", "until": "2026-12-01", "reason": "x"})
        assert "until" in too_early.context["extend_form"].errors
        client.post(url, {"do": "extend", "until": "2026-12-20", "reason": "复查未出"})
        period.refresh_from_db()
        assert period.planned_end == date(2026, 12, 20)
        client.post(url, {"do": "end", "ended_on": "2026-12-05", "end_reason": "hospital"})
        period.refresh_from_db()
        assert (period.status, period.end_reason) == (PeriodStatus.ENDED, "hospital")
        assert [e.what for e in period.events.all()] == ["started", "extended", "ended"]

