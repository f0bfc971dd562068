"""Resident list and search, resident page, add and edit, reveal (audited)."""

from __future__ import annotations

import re

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from fangkong.accounts.roles import Can, can
from fangkong.audit.services import client_ip
from fangkong.places.selectors import area_breadcrumbs, household_for_user
from fangkong.residents.forms import ProxyForm, ResidentForm, apply_errors
from fangkong.residents.personal import ID_NUMBER, PHONE
from fangkong.residents.selectors import resident_for_user, resident_search
from fangkong.residents.services import (
    proxy_add,
    resident_create,
    resident_reveal,
    resident_update,
)


@login_required
@require_GET
def resident_list(request: HttpRequest) -> HttpResponse:
    if not can(request.user, Can.VIEW_REGISTRY):
        raise PermissionDenied
    text = request.GET.get("q", "")[:64]
    after = request.GET.get("after", "")
    query, rows, next_after = resident_search(
        request.user, text, after=int(after) if re.fullmatch(r"[0-9]{1,18}", after) else None)
    context = {"q": text, "query": query, "rows": rows, "next_after": next_after,
               "after": after}
    if request.headers.get("HX-Request"):
        return render(request, "residents/_results.html", context)
    return render(request, "residents/list.html", context)


@login_required
@require_GET
def resident_detail(request: HttpRequest, resident_id: int) -> HttpResponse:
    resident = resident_for_user(request.user, resident_id)
    return _detail(request, resident, revealed={})


def _detail(request: HttpRequest, resident, revealed: dict[str, str],  # noqa: ANN001
            proxy_form: ProxyForm | None = None) -> HttpResponse:
    user = request.user
    return render(request, "residents/detail.html", {
        "resident": resident,
        "revealed": revealed,
        "proxy_form": proxy_form or ProxyForm(),
        "breadcrumbs": area_breadcrumbs(user, resident.grid),
        "can_edit": can(user, Can.EDIT_RESIDENTS),
        "can_reveal_phone": can(user, Can.REVEAL_PHONE),
        "can_reveal_id": can(user, Can.REVEAL_ID_NUMBER),
    })


@login_required
@require_POST
def resident_reveal_view(request: HttpRequest, resident_id: int, what: str) -> HttpResponse:
    resident = resident_for_user(request.user, resident_id)
    if what not in (PHONE, ID_NUMBER):
        raise PermissionDenied
    value = resident_reveal(by=request.user, resident=resident, what=what, ip=client_ip(request))
    if request.headers.get("HX-Request"):
        return render(request, "residents/_revealed.html", {"value": value})
    return _detail(request, resident, revealed={what: value})


@login_required
@require_http_methods(["GET", "POST"])
def resident_new(request: HttpRequest, household_id: int) -> HttpResponse:
    household = household_for_user(request.user, household_id)
    if not can(request.user, Can.EDIT_RESIDENTS):
        raise PermissionDenied
    form = ResidentForm(request.POST or None, initial={"relation": "self"})
    if request.method == "POST" and form.is_valid():
        data = form.to_input(creating=True)
        data.household = household
        try:
            resident = resident_create(by=request.user, data=data, ip=client_ip(request))
        except ValidationError as exc:
            apply_errors(form, exc.message_dict)
        else:
            messages.success(request, _("Added %(name)s.") % {"name": resident.name})
            return redirect("residents:detail", resident_id=resident.pk)
    return render(request, "residents/form.html", {
        "form": form, "household": household, "resident": None,
        "breadcrumbs": area_breadcrumbs(request.user, household.grid)})


@login_required
@require_http_methods(["GET", "POST"])
def resident_edit(request: HttpRequest, resident_id: int) -> HttpResponse:
    resident = resident_for_user(request.user, resident_id)
    if not can(request.user, Can.EDIT_RESIDENTS):
        raise PermissionDenied
    initial = {
        "name": resident.name, "gender": resident.gender, "birth_date": resident.birth_date,
        "relation": resident.relation, "tags": list(resident.tags.all()),
        "preferred_channel": resident.preferred_channel,
        "language_note": resident.language_note, "remarks": resident.remarks,
        "status": resident.status, "version": resident.version,
    }
    form = ResidentForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            resident_update(by=request.user, resident=resident,
                            data=form.to_input(creating=False),
                            version=form.cleaned_data.get("version"), ip=client_ip(request))
        except ValidationError as exc:
            apply_errors(form, exc.message_dict)
        else:
            messages.success(request, _("Saved."))
            return redirect("residents:detail", resident_id=resident.pk)
    return render(request, "residents/form.html", {
        "form": form, "household": resident.household, "resident": resident,
        "breadcrumbs": area_breadcrumbs(request.user, resident.grid)})


@login_required
@require_POST
def resident_proxy_add(request: HttpRequest, resident_id: int) -> HttpResponse:
    resident = resident_for_user(request.user, resident_id)
    if not can(request.user, Can.EDIT_RESIDENTS):
        raise PermissionDenied
    form = ProxyForm(request.POST)
    if form.is_valid():
        try:
            proxy_add(by=request.user, resident=resident, name=form.cleaned_data["proxy_name"],
                      relation=form.cleaned_data["proxy_relation"],
                      phone=form.cleaned_data["proxy_phone"], ip=client_ip(request))
        except ValidationError as exc:
            apply_errors(form, exc.message_dict)
        else:
            messages.success(request, _("Proxy added."))
            return redirect("residents:detail", resident_id=resident.pk)
    return _detail(request, resident_for_user(request.user, resident_id), revealed={},
                   proxy_form=form)
