"""The grid worker's pages: alerts (the short list on the phone), the door-visit list
and the doorstep form, and one resident's follow-up record."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods

from fangkong.accounts.roles import Can, can
from fangkong.accounts.scope import user_area
from fangkong.audit.models import AuditAction
from fangkong.audit.services import audit_record, client_ip
from fangkong.followup import selectors
from fangkong.followup.alerts import alert_resolve
from fangkong.followup.answers import contacts_answer, spec_of
from fangkong.followup.channels.web.forms import AnswerForm
from fangkong.followup.models import AlertStatus, Contact, ContactState
from fangkong.followup.staff_forms import (
    ResolveForm,
)
from fangkong.followup.views import require_capability
from fangkong.lib import clock
from fangkong.places.selectors import area_breadcrumbs
from fangkong.residents.forms import apply_errors


@login_required
@require_GET
def alert_list(request: HttpRequest) -> HttpResponse:
    """The short list on the grid worker's phone: open alerts, their own first."""
    require_capability(request.user, Can.VIEW_REGISTRY)
    status = AlertStatus.RESOLVED if request.GET.get("show") == "resolved" else AlertStatus.OPEN
    alerts = selectors.alert_list(request.user, status=status)
    return render(request, "followup/alerts.html", {
        "alerts": alerts, "status": status, "now": clock.now(),
        "my_area": user_area(request.user)})


@login_required
@require_http_methods(["GET", "POST"])
def alert_detail(request: HttpRequest, alert_id: int) -> HttpResponse:
    alert = selectors.alert_for_user(request.user, alert_id)
    form = ResolveForm(request.POST or None)
    if request.method == "POST":
        require_capability(request.user, Can.HANDLE_ALERTS)
        if form.is_valid():
            try:
                alert_resolve(alert=alert, by=request.user, outcome=form.cleaned_data["outcome"],
                              note=form.cleaned_data["note"])
            except ValidationError as exc:
                apply_errors(form, exc.message_dict)
            else:
                messages.success(request, _("Alert resolved."))
                return redirect("followup:alerts")
    history = alert.resident.alerts.exclude(pk=alert.pk).order_by("-created_at")[:20]
    return render(request, "followup/alert.html", {
        "alert": alert, "form": form, "history": history, "now": clock.now(),
        "can_resolve": can(request.user, Can.HANDLE_ALERTS)})


@login_required
@require_GET
def visit_list(request: HttpRequest) -> HttpResponse:
    """Residents nobody reached by message or call, in walking order."""
    require_capability(request.user, Can.HANDLE_ALERTS)
    return render(request, "followup/visits.html",
                  {"contacts": selectors.visit_list(request.user)})


@login_required
@require_http_methods(["GET", "POST"])
def visit_record(request: HttpRequest, contact_id: int) -> HttpResponse:
    """The doorstep form: the worker records the resident's answers (or that nobody was
    home, which leaves the resident on the list until the round closes)."""
    contact = selectors.visit_contact_for_user(request.user, contact_id)
    round_ = contact.round
    if contact.state != ContactState.PENDING or round_.closes_at <= clock.now():
        messages.info(request, _("This resident has been dealt with already."))
        return redirect("followup:visits")
    spec = spec_of(round_.campaign.version_id)
    form = AnswerForm(request.POST or None, spec=spec)
    if request.method == "POST" and form.is_valid():
        with transaction.atomic():
            locked = (Contact.objects.select_for_update().select_related("round",
                                                                         "round__campaign")
                      .get(pk=contact.pk))
            if locked.state == ContactState.PENDING:
                contacts_answer([(locked, form.answers, "visit")])
                audit_record(by=request.user, action=AuditAction.VISIT_RECORD,
                             object_type="contact", object_id=locked.pk,
                             object_label=contact.resident.name,
                             area_path=contact.resident.grid.path, ip=client_ip(request))
        messages.success(request, _("Answers recorded for %(name)s.") % {
            "name": contact.resident.name})
        return redirect("followup:visits")
    return render(request, "followup/visit.html", {"contact": contact, "form": form})


@login_required
@require_GET
def resident_record(request: HttpRequest, resident_id: int) -> HttpResponse:
    """One resident's follow-up history: rounds and answers, alerts and what was done,
    isolation periods. The history stays with the resident across campaigns."""
    from fangkong.isolation.selectors import periods_for_user
    from fangkong.residents.selectors import resident_for_user

    resident = resident_for_user(request.user, resident_id)
    # Health answers are more than the registry: who read them is recorded.
    audit_record(by=request.user, action=AuditAction.HEALTH_VIEW, object_type="resident",
                 object_id=resident.pk, object_label=resident.name,
                 area_path=resident.grid.path, ip=client_ip(request))
    contacts = list(resident.contacts.select_related("round", "round__campaign")
                    .order_by("-round__scheduled_for")[:30])
    for contact in contacts:
        spec = spec_of(contact.round.campaign.version_id)
        contact.shown = [(spec.question(k).label,
                          _display(spec.question(k), v[0] if isinstance(v, list) else v))
                         for k, v in contact.answers.items() if _known(spec, k)]
    alerts = list(resident.alerts.select_related("resolved_by", "assigned_area")
                  .order_by("-created_at")[:50])
    periods = list(periods_for_user(request.user).filter(resident=resident)
                   .order_by("-starts_on"))
    return render(request, "followup/resident.html", {
        "resident": resident, "contacts": contacts, "alerts": alerts, "periods": periods,
        "breadcrumbs": area_breadcrumbs(request.user, resident.grid)})


def _display(question, value):  # noqa: ANN001, ANN202
    """An answer as the form showed it: option labels rather than their codes."""
    labels = {o.value: o.label for o in question.options}
    if isinstance(value, list):
        return "、".join(labels.get(v, v) for v in value) or _("none")
    return labels.get(value, value) if isinstance(value, str) else value


def _known(spec, key: str) -> bool:  # noqa: ANN001
    try:
        spec.question(key)
    except KeyError:
        return False
    return True
