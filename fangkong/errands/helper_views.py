"""The helper's pages (a volunteer, or a worker given an errand): my tasks, and one task
showing only what it needs: what to get, where to bring it, the resident's masked name
and phone (the full phone once taken on, each look audited), and the buttons to move it
along. Never the resident's ID number, tags or health."""

from __future__ import annotations

from decimal import Decimal

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods

from fangkong.audit.services import client_ip
from fangkong.errands import selectors, services
from fangkong.errands.forms import show_errors
from fangkong.errands.models import OPEN, Errand, ErrandStatus
from fangkong.followup.channels.base import masked_name


class DeliverForm(forms.Form):
    code = forms.CharField(label=gettext_lazy("The resident's 4-digit code"), max_length=6,
                           required=False,
                           widget=forms.TextInput(attrs={"inputmode": "numeric",
                                                         "autocomplete": "off"}))
    photo = forms.FileField(label=gettext_lazy("Or a photo of the delivery at the door"),
                            required=False,
                            widget=forms.ClearableFileInput(attrs={"accept": "image/jpeg,image/png",
                                                                   "capture": "environment"}))
    hours = forms.DecimalField(label=gettext_lazy("Hours spent (optional)"), required=False,
                               min_value=Decimal("0.1"), max_value=24, decimal_places=1,
                               max_digits=3,
                               widget=forms.NumberInput(attrs={"step": "0.5",
                                                               "inputmode": "decimal"}))


class FailForm(forms.Form):
    reason = forms.CharField(label=gettext_lazy("Why it cannot be done"), max_length=200,
                             required=False,
                             help_text=gettext_lazy("The resident and the worker read it."))




@login_required
@require_GET
def tasks(request: HttpRequest) -> HttpResponse:
    """The errands given to me that are open, then those closed in the last week."""
    rows = selectors.my_tasks(request.user)
    return render(request, "errands/tasks.html", {
        "open": [e for e in rows if e.status in OPEN],
        "done": sorted((e for e in rows if e.status not in OPEN),
                       key=lambda e: e.closed_at or e.created_at, reverse=True)})


def _task_for(user, errand_id: int) -> Errand:  # noqa: ANN001
    """The errand, if it is given to `user` (a handler who is not its helper uses the
    worker's page): 404 otherwise."""
    errand = selectors.errand_for_user(user, errand_id)
    if errand.assigned_to_id != user.pk:
        raise Http404
    return errand


@never_cache
@login_required
@require_http_methods(["GET", "POST"])
def task(request: HttpRequest, errand_id: int) -> HttpResponse:
    user = request.user
    errand = _task_for(user, errand_id)
    do = request.POST.get("do") if request.method == "POST" else None
    deliver_form = DeliverForm(request.POST if do == "deliver" else None,
                               request.FILES if do == "deliver" else None)
    fail_form = FailForm(request.POST if do == "fail" else None)
    phone = None
    if request.method == "POST":
        form = {"deliver": deliver_form, "fail": fail_form}.get(do)
        try:
            if do == "phone":
                phone = services.errand_phone_reveal(errand=errand, by=user,
                                                     ip=client_ip(request))
            elif do == "accept":
                services.errand_accept(errand=errand, by=user)
                messages.success(request, _("Taken on: you can now see the full phone number."))
                return redirect("errands:task", errand.pk)
            elif do == "decline":
                services.errand_decline(errand=errand, by=user)
                messages.success(request, _("Turned down: it is back in the queue."))
                return redirect("errands:tasks")
            elif do in (ErrandStatus.BUYING, ErrandStatus.DELIVERING):
                services.errand_advance(errand=errand, to=do, by=user)
                return redirect("errands:task", errand.pk)
            elif form is None:
                messages.error(request, _("Choose what to do."))
            elif form.is_valid():
                data = form.cleaned_data
                if form is deliver_form:
                    photo = data["photo"]
                    hours = data["hours"]
                    services.errand_deliver(
                        errand=errand, by=user, code=data["code"],
                        photo=photo.read(services.MAX_PHOTO_BYTES + 1) if photo else None,
                        hours=float(hours) if hours is not None else None)
                    messages.success(request, _("Delivered. Thank you!"))
                else:
                    services.errand_fail(errand=errand, by=user, reason=data["reason"])
                    messages.success(request, _("Recorded: the worker will find another way."))
                return redirect("errands:tasks")
        except ValidationError as exc:
            show_errors(request, form, exc)
    open_ = errand.status in OPEN
    accepted = open_ and errand.accepted_at is not None
    return render(request, "errands/task.html", {
        "e": errand, "items": list(errand.items.all()),
        "resident_name": masked_name(errand.resident.name),
        "phone": phone, "open": open_, "accepted": accepted,
        "can_accept": errand.status == ErrandStatus.ASSIGNED and errand.accepted_at is None,
        "can_buy": accepted and errand.status == ErrandStatus.ASSIGNED
        and errand.kind not in services.NOTHING_TO_BUY,
        "can_go": accepted and errand.status in (ErrandStatus.ASSIGNED, ErrandStatus.BUYING),
        "can_deliver": errand.status == ErrandStatus.DELIVERING,
        "deliver_form": deliver_form, "fail_form": fail_form})
