"""Batching pages: the shopping lists of an area (one per pharmacy or supplier, printable,
and where to buy set for many requests at once), the garbage rounds of an area, and one
building's round (the helper's buttons: collected / not put out)."""

from __future__ import annotations

from collections.abc import Callable

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBadRequest
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.http import urlencode
from django.utils.safestring import SafeString
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext
from django.views.decorators.http import require_GET, require_http_methods

from fangkong.accounts.models import User
from fangkong.accounts.roles import Can, can
from fangkong.errands import batching
from fangkong.errands.models import ErrandKind, ErrandStatus, GarbageService, Urgency
from fangkong.lib.http import posted_id
from fangkong.lib.text import to_halfwidth
from fangkong.places.models import AreaKind
from fangkong.residents.forms import apply_errors


class HelperChoice(forms.ModelChoiceField):
    def label_from_instance(self, obj: User) -> str:
        return f"{obj.display_name} · {obj.get_role_display()}"


class TypedTimeField(forms.TimeField):
    """A time as typed: "08：30" from a Chinese input method is 08:30."""

    def to_python(self, value):  # noqa: ANN001, ANN201
        return super().to_python(to_halfwidth(value).strip() if isinstance(value, str)
                                 else value)


class RoundForm(forms.Form):
    at = TypedTimeField(label=gettext_lazy("Pickup time"), input_formats=["%H:%M"],
                         help_text=gettext_lazy("Hours and minutes, e.g. 08:30."),
                         error_messages={"invalid": gettext_lazy(
                             "Write the time as hours and minutes, e.g. 08:30.")},
                         widget=forms.TimeInput(format="%H:%M", attrs={"type": "time"}))
    helper = HelperChoice(label=gettext_lazy("Collected by"), queryset=User.objects.none(),
                          required=False, empty_label=gettext_lazy("Not chosen yet"),
                          error_messages={"invalid_choice": gettext_lazy(
                              "Choose someone from the list: a verified volunteer of the "
                              "community or a worker of the building's grid or community.")})

    def __init__(self, *args, helpers: QuerySet[User], **kwargs) -> None:  # noqa: ANN002, ANN003
        super().__init__(*args, **kwargs)
        self.fields["helper"].queryset = helpers


def _query(**params: str | tuple[str, ...]) -> str:
    """A query string of the list's filters (statuses comma-separated)."""
    return urlencode({k: ",".join(v) if isinstance(v, tuple) else v
                      for k, v in params.items()})


def _tabs(lists: batching.ShoppingLists) -> dict[str, list[tuple[str, str, bool]]]:
    """(label, query string, current) of the kind, status and supplier tabs."""
    kind, statuses = lists.kind, lists.statuses
    shown = lists.shown.supplier if lists.shown else None
    unchosen = _("Where to buy not chosen yet")
    return {
        "kinds": [(f"{ErrandKind(k).label} ({lists.per_kind[k]})", _query(kind=k), k == kind)
                  for k in batching.BATCH_KINDS],
        "statuses": [(_("Still to buy"), _query(kind=kind), statuses == batching.TO_BUY)] + [
            (ErrandStatus(s).label, _query(kind=kind, status=(s,)), statuses == (s,))
            for s in batching.LIST_STATUSES],
        "suppliers": [(f"{s.supplier or unchosen} ({s.errands})",
                       _query(kind=kind, status=statuses, supplier=s.supplier),
                       s.supplier == shown) for s in lists.suppliers],
    }


# The rows of a shopping list are built here rather than in the template: a list of 500
# households and a few hundred lines costs about 100 ms through template tags, 10 ms so.


def _errand_url() -> Callable[[int], str]:
    """`reverse("errands:errand")` for many ids at the cost of one."""
    head, tail = reverse("errands:errand", args=[987654321]).split("987654321")
    return lambda pk: f"{head}{pk}{tail}"


def _line_rows(shown: batching.SupplierList, url: Callable[[int], str]) -> SafeString:
    prescription = _("Prescription (%(n)d)")
    rows = []
    for line in shown.lines:
        rx = (format_html(' <span class="rx">{}</span>', prescription % {"n": line.prescriptions})
              if line.prescriptions else "")
        flags = format_html_join(
            "", '<div class="flag late"><a href="{}">#{}</a> · {}{} · {}</div>',
            ((url(f.errand_id), f.errand_id, f.quantity, line.unit, f.flag)
             for f in line.flagged))
        rows.append(format_html(
            '<tr><td><strong>{}</strong>{}{}</td><td>{}</td><td class="n"><strong>{}</strong> {}'
            '</td><td class="n">{}</td></tr>', line.name, rx, flags, line.strength or "–",
            line.quantity, line.unit, line.errands))
    return format_html_join("\n", "{}", ((row,) for row in rows))


def _stop_rows(shown: batching.SupplierList, url: Callable[[int], str],
               ticked: set[int]) -> SafeString:
    # The marks of the queue (errands/_marks.html), in the same words.
    vulnerable = format_html(' <span class="tag warn">{}</span>',
                             _("elderly alone / needs care"))
    isolated = format_html(' <span class="tag warn">{}</span>', _("in isolation"))
    overdue = format_html('<br><strong class="late">{}</strong>', _("Overdue"))
    rows = []
    for stop in shown.stops:
        urgency = (format_html('<strong class="late">{}</strong>', stop.urgency_label)
                   if stop.urgency == Urgency.URGENT else stop.urgency_label)
        rows.append(format_html(
            '<li><label class="row"><input type="checkbox" name="errand" value="{}"{}>'
            '<span class="where"><strong>{}{}</strong><br><span class="sub">{} · '
            '<a href="{}">#{}</a> · {}</span>{}{}</span><span class="when sub">{}{}</span>'
            '</label></li>',
            stop.errand_id, " checked" if stop.errand_id in ticked else "",
            f"{stop.estate} " if stop.estate else "", stop.label, stop.name, url(stop.errand_id),
            stop.errand_id, stop.status_label, vulnerable if stop.vulnerable else "",
            isolated if stop.isolated else "", urgency, overdue if stop.overdue else ""))
    return format_html_join("\n", "{}", ((row,) for row in rows))


@login_required
@require_http_methods(["GET", "POST"])
def shopping_lists(request: HttpRequest) -> HttpResponse:
    """The open medicine (or grocery) requests of the user's area, one shopping list per
    pharmacy or supplier (one shown at a time, `?supplier=`), with the households to
    deliver to in walking order. POST: where to buy, for the ticked requests."""
    if not can(request.user, Can.HANDLE_ERRANDS):
        raise PermissionDenied
    kind = request.GET.get("kind", ErrandKind.MEDICINE)
    statuses = batching.parse_statuses(request.GET.getlist("status"))
    errors: list[str] = []
    ticked: set[int] = set()
    supplier = ""
    if request.method == "POST":
        posted = [posted_id(v) for v in request.POST.getlist("errand")]
        if None in posted:
            raise Http404
        ticked = set(posted)
        supplier = request.POST.get("supplier", "")
        try:
            changed = batching.errands_set_supplier(errands=ticked, supplier=supplier,
                                                    by=request.user)
        except PermissionDenied:
            raise Http404 from None
        except ValidationError as exc:
            errors = exc.messages
        else:
            cleaned = batching.clean_supplier(supplier)
            if cleaned:
                messages.success(request, ngettext(
                    "%(n)d request changed: bought at %(supplier)s.",
                    "%(n)d requests changed: bought at %(supplier)s.", changed) % {
                    "n": changed, "supplier": cleaned})
            else:
                messages.success(request, ngettext(
                    "%(n)d request changed: where to buy is not chosen yet.",
                    "%(n)d requests changed: where to buy is not chosen yet.", changed) % {
                    "n": changed})
            return redirect(request.get_full_path())
    lists = batching.shopping_lists(request.user, kind=kind, statuses=statuses,
                                    supplier=request.GET.get("supplier"))
    url = _errand_url()
    return render(request, "errands/lists.html", {
        "lists": lists, "s": lists.shown, "tabs": _tabs(lists), "errors": errors,
        "supplier": supplier, "cap": batching.DELIVERY_CAP, "flag_cap": batching.FLAG_CAP,
        "line_rows": _line_rows(lists.shown, url) if lists.shown else "",
        "stop_rows": _stop_rows(lists.shown, url, ticked) if lists.shown else ""})


@login_required
@require_GET
def garbage(request: HttpRequest) -> HttpResponse:
    """The buildings of the user's area with households whose garbage is collected, their
    round (time, helper) and today's progress; for a helper, the rounds they collect."""
    if not batching.may_see_garbage(request.user):
        raise PermissionDenied
    area = request.user.area
    return render(request, "errands/garbage.html", {
        "rows": batching.garbage_buildings(request.user),
        "worker": can(request.user, Can.HANDLE_ERRANDS),
        "many_communities": area is None or area.kind not in (AreaKind.COMMUNITY,
                                                              AreaKind.GRID)})


def _posted_service(request: HttpRequest, access: batching.RoundAccess) -> GarbageService:
    service_id = posted_id(request.POST.get("service"))
    service = (GarbageService.objects.filter(pk=service_id, building=access.building)
               .first() if service_id is not None else None)
    if service is None:
        raise Http404
    return service


def _pickup(request: HttpRequest, access: batching.RoundAccess, do: str) -> HttpResponse:
    service = _posted_service(request, access)
    try:
        if do == "stop":
            if not access.as_worker:
                raise Http404
            batching.garbage_service_stop(service=service, by=request.user)
            messages.success(request, _("Stopped: today is the last pickup."))
        else:
            batching.garbage_pickup_record(service=service, by=request.user,
                                           missed=do == "missed")
    except PermissionDenied:
        raise Http404 from None
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    url = reverse("errands:garbage_round", args=[access.building.pk])
    return redirect(f"{url}#s{service.pk}")


@login_required
@require_http_methods(["GET", "POST"])
def garbage_round(request: HttpRequest, building_id: int) -> HttpResponse:
    """Today's garbage round of a building, in walking order: collected / not put out per
    household. The workers of the area also set the round's time and helper, and stop a
    household's service; the helper sees room numbers only."""
    access = batching.round_for_user(request.user, building_id)
    do = request.POST.get("do", "") if request.method == "POST" else ""
    if do in ("done", "missed", "stop"):
        return _pickup(request, access, do)
    form = None
    if access.as_worker:
        helpers = (User.objects.filter(batching.garbage_helpers_q(access.building))
                   .order_by("full_name", "username"))
        initial = ({"at": access.round.at, "helper": access.round.helper_id}
                   if access.round else None)
        form = RoundForm(request.POST if do == "round" else None, helpers=helpers,
                         initial=initial)
        if do == "round" and form.is_valid():
            try:
                batching.garbage_round_set(building=access.building,
                                           at=form.cleaned_data["at"],
                                           helper=form.cleaned_data["helper"], by=request.user)
            except PermissionDenied:
                raise Http404 from None
            except ValidationError as exc:
                apply_errors(form, exc.message_dict)
            else:
                messages.success(request, _("The round is saved."))
                return redirect("errands:garbage_round", access.building.pk)
    elif request.method == "POST":
        raise Http404
    if request.method == "POST" and do != "round":
        return HttpResponseBadRequest(_("Unknown action."))
    stops = batching.round_stops(access.building, with_names=access.as_worker)
    return render(request, "errands/garbage_round.html", {
        "access": access, "building": access.building, "round": access.round,
        "stops": stops, "form": form,
        "done": sum(s.done for s in stops), "missed": sum(s.missed for s in stops),
        "waiting": sum(not s.done and not s.missed for s in stops)})
