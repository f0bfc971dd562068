"""Managing a community's gates (community secretary; street officers and administrators
for the communities under them): the gates, the rules, who is on duty, the devices.

Each page takes several forms; a hidden `action` says which one was sent. The access gates
answer 404 outside the user's area before 403 for a role that cannot manage gates.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Count, Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.cache import patch_cache_control
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from fangkong.accounts.roles import Can, can
from fangkong.accounts.scope import area_in_scope
from fangkong.passes import gate_services
from fangkong.passes.log import passage_row
from fangkong.passes.manage_forms import (
    DeviceAddForm,
    GateAddForm,
    GateEditForm,
    GuardsForm,
    PolicyForm,
    add_service_errors,
)
from fangkong.passes.models import Gate, Passage
from fangkong.passes.scan import gate_policy
from fangkong.passes.selectors import gate_for_manager
from fangkong.places.models import AreaKind
from fangkong.places.selectors import area_breadcrumbs

LAST_PASSAGES = 20


def _policy_initial(community_id: int) -> dict:
    policy = gate_policy(community_id)
    return {"opens_at": policy.opens_at, "closes_at": policy.closes_at,
            "outings_per_household": policy.outings_per_household,
            "outing_days": policy.outing_days, "visitors_allowed": policy.visitors_allowed,
            "fever_threshold": policy.fever_threshold,
            "temperature_for_all": policy.temperature_for_all}


@login_required
@require_http_methods(["GET", "POST"])
def gates(request: HttpRequest, community_id: int) -> HttpResponse:
    """The community's gates and its rules at the gates; POST adds a gate
    (action=add_gate) or saves the rules (action=policy)."""
    community = area_in_scope(request.user, community_id, kind=AreaKind.COMMUNITY)
    if not can(request.user, Can.MANAGE_GATES):
        raise PermissionDenied
    add_form = GateAddForm()
    policy_form = PolicyForm(initial=_policy_initial(community.pk), auto_id="policy_%s")
    action = request.POST.get("action") if request.method == "POST" else None
    if action == "add_gate":
        add_form = GateAddForm(request.POST)
        if add_form.is_valid():
            try:
                gate = gate_services.gate_create(community=community, by=request.user,
                                                 name=add_form.cleaned_data["name"])
            except ValidationError as exc:
                add_service_errors(add_form, exc)
            else:
                messages.success(request, _("Gate %(name)s added. Now put staff on duty "
                                            "there.") % {"name": gate.name})
                return redirect("passes:gate", gate.pk)
    elif action == "policy":
        policy_form = PolicyForm(request.POST, auto_id="policy_%s")
        if policy_form.is_valid():
            try:
                gate_services.gate_policy_update(community=community, by=request.user,
                                                 **policy_form.cleaned_data)
            except ValidationError as exc:
                add_service_errors(policy_form, exc)
            else:
                messages.success(request, _("The rules at the gates are saved."))
                return redirect("passes:gates", community.pk)
    elif action is not None:
        messages.error(request, _("Nothing was changed: send the form again."))
        return redirect("passes:gates", community.pk)
    rows = (Gate.objects.filter(community=community)
            .annotate(n_guards=Count("guards", distinct=True),
                      n_devices=Count("devices", filter=Q(devices__revoked_at__isnull=True),
                                      distinct=True))
            .order_by("-active", "name"))
    policy = gate_policy(community.pk)
    return render(request, "passes/manage_gates.html", {
        "community": community, "gates": rows, "add_form": add_form,
        "policy_form": policy_form, "policy": policy,
        "breadcrumbs": area_breadcrumbs(request.user, community)})


@login_required
@require_http_methods(["GET", "POST"])
def gate(request: HttpRequest, gate_id: int) -> HttpResponse:
    """One gate: its name and use, the staff on duty, its devices, the last passages.
    POST: action=edit (name, in use), guards, device_add (the token is shown once, on
    this response only), device_revoke (device=<id>)."""
    gate = gate_for_manager(request.user, gate_id)
    community = gate.community
    staff = gate_services.eligible_guards(community)
    edit_form = GateEditForm(initial={"name": gate.name, "active": gate.active},
                             auto_id="gate_%s")
    guards_form = GuardsForm(staff=staff, initial={"guards": list(gate.guards.all())})
    device_form = DeviceAddForm(auto_id="device_%s")
    new_token = None
    action = request.POST.get("action") if request.method == "POST" else None
    if action == "edit":
        edit_form = GateEditForm(request.POST, auto_id="gate_%s")
        if edit_form.is_valid():
            try:
                gate_services.gate_update(gate=gate, by=request.user,
                                          name=edit_form.cleaned_data["name"],
                                          active=edit_form.cleaned_data["active"])
            except ValidationError as exc:
                add_service_errors(edit_form, exc)
            else:
                messages.success(request, _("The gate is saved."))
                return redirect("passes:gate", gate.pk)
    elif action == "guards":
        guards_form = GuardsForm(request.POST, staff=staff)
        if guards_form.is_valid():
            try:
                gate_services.gate_guards_set(gate=gate, by=request.user,
                                              guards=guards_form.cleaned_data["guards"])
            except ValidationError as exc:
                add_service_errors(guards_form, exc)
            else:
                messages.success(request, _("Who is on duty at this gate is saved."))
                return redirect("passes:gate", gate.pk)
    elif action == "device_add":
        device_form = DeviceAddForm(request.POST, auto_id="device_%s")
        if device_form.is_valid():
            try:
                device, new_token = gate_services.gate_device_create(
                    gate=gate, by=request.user, name=device_form.cleaned_data["name"])
            except ValidationError as exc:
                add_service_errors(device_form, exc)
            else:
                device_form = DeviceAddForm(auto_id="device_%s")
    elif action == "device_revoke":
        device = get_object_or_404(gate.devices, pk=_int(request.POST.get("device")))
        gate_services.gate_device_revoke(device=device, by=request.user)
        messages.success(request, _("Device %(name)s can no longer record passages.") % {
            "name": device.name})
        return redirect("passes:gate", gate.pk)
    elif action is not None:
        messages.error(request, _("Nothing was changed: send the form again."))
        return redirect("passes:gate", gate.pk)
    last = (Passage.objects.filter(gate=gate)
            .select_related("gate", "community", "resident", "household", "visitor",
                            "visitor__host_household", "guard", "device")
            .order_by("-at", "-pk")[:LAST_PASSAGES])
    response = render(request, "passes/manage_gate.html", {
        "gate": gate, "community": community, "edit_form": edit_form,
        "guards_form": guards_form, "device_form": device_form, "new_token": new_token,
        "guards": list(gate.guards.select_related("area").order_by("full_name", "username")),
        "devices": list(gate.devices.order_by("revoked_at", "-created_at")),
        "passages": [passage_row(p) for p in last],
        "breadcrumbs": area_breadcrumbs(request.user, community)})
    if new_token:
        patch_cache_control(response, no_store=True)
    return response


def _int(value: str | None) -> int:
    try:
        return int(value or "")
    except ValueError:
        return 0
