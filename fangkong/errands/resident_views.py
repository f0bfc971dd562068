"""The resident's errands page behind a signed link (no login; the link is the key): ask
for groceries, medicine, a garbage pickup or a repair, follow each request, tell the
helper the hand-over code at the door, cancel what is not on its way yet.

Large type, works without JavaScript, shows only the masked name and the room. POSTs are
limited per resident (`ERRANDS_RESIDENT_POSTS_PER_HOUR`, 10 unless set) to stop floods.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from fangkong.accounts.models import User
from fangkong.errands import services
from fangkong.errands.models import OPEN, Errand, ErrandStatus, Source
from fangkong.errands.resident_forms import ResidentErrandForm
from fangkong.errands.resident_links import (
    ResidentKey,
    link_revoked,
    resident_key,
    resident_link_of,
    resident_of,
)
from fangkong.errands.selectors import resident_errands
from fangkong.followup.channels.base import masked_name
from fangkong.lib.counters import window_add
from fangkong.residents.models import Resident, ResidentStatus

SHOWN_ERRANDS = 20
POST_WINDOW = 3600  # seconds
# What the resident may still cancel on their page: not once it is on its way.
CANCELLABLE = tuple(status for status, nxt in services.TRANSITIONS.items()
                    if ErrandStatus.CANCELLED in nxt)
_STRIP = (ErrandStatus.NEW, ErrandStatus.ASSIGNED, ErrandStatus.BUYING,
          ErrandStatus.DELIVERING, ErrandStatus.DELIVERED)


def posts_per_hour() -> int:
    return int(getattr(settings, "ERRANDS_RESIDENT_POSTS_PER_HOUR", 10))


def _refused(request: HttpRequest, message: str, *, status: int) -> HttpResponse:
    return render(request, "errands/resident_refused.html", {"message": message},
                  status=status)


def _post_counted(resident_id: int) -> bool:
    """Count one POST for this resident; False once over the hourly limit."""
    count = window_add(f"fangkong.errands.resident.posts.{resident_id}", window=POST_WINDOW)
    return count <= posts_per_hour()


def helper_first_name(user: User | None) -> str:
    """What the resident is told of their helper: the first name only (a Western
    "Anna Li" -> "Anna"); a Chinese name, which has no first name apart from the family
    name, masked as everywhere else (王小明 -> 王*明)."""
    if user is None:
        return ""
    if user.first_name.strip():
        return user.first_name.strip()
    name = user.display_name.strip()
    if " " in name:
        return name.split()[0]
    return masked_name(name) if name else ""


@dataclass(frozen=True)
class Step:
    label: str
    state: str  # "done" | "now" | "todo"


@dataclass(frozen=True)
class Row:
    errand: Errand
    steps: list[Step]
    helper: str
    cancellable: bool
    show_code: bool


def _steps(errand: Errand) -> list[Step]:
    if errand.status not in _STRIP:
        return []  # cancelled or failed: said in words
    strip = [s for s in _STRIP
             if not (s == ErrandStatus.BUYING and errand.kind in services.NOTHING_TO_BUY)]
    now = strip.index(errand.status)
    return [Step(label=ErrandStatus(s).label,
                 state="done" if i < now or errand.status == ErrandStatus.DELIVERED
                 else "now" if i == now else "todo")
            for i, s in enumerate(strip)]


def _row(errand: Errand) -> Row:
    assigned = errand.status in OPEN and errand.status != ErrandStatus.NEW
    return Row(errand=errand, steps=_steps(errand),
               helper=helper_first_name(errand.assigned_to) if assigned else "",
               cancellable=errand.status in CANCELLABLE, show_code=errand.status in OPEN)


def _page(request: HttpRequest, *, token: str, key: ResidentKey, resident: Resident,
          form: ResidentErrandForm, status: int = 200, limited: bool = False) -> HttpResponse:
    errands = list(resident_errands(resident)[:SHOWN_ERRANDS])
    return render(request, "errands/resident.html", {
        "name": masked_name(resident.name), "room": resident.household.label,
        "by_proxy": key.by_proxy, "form": form, "rows": [_row(e) for e in errands],
        "more": len(errands) == SHOWN_ERRANDS, "limited": limited,
        "link": resident_link_of(token), "expires_at": key.expires_at,
    }, status=status)


@never_cache
@require_http_methods(["GET", "POST"])
def resident_page(request: HttpRequest, token: str) -> HttpResponse:
    """The resident's errands page (see the module docstring). 404 for a forged link,
    410 for an expired one or a resident no longer registered, 429 over the POST limit
    (the form is shown again with what was typed)."""
    key = resident_key(token)
    if key is None:
        return _refused(request, _("This link is not valid. Please use the link you were "
                                   "given, or ask your grid worker."), status=404)
    if key.expired or link_revoked(key):
        return _refused(request, _("This link has expired. Please ask your grid worker for "
                                   "a new link."), status=410)
    resident = resident_of(key)
    if resident is None:
        return _refused(request, _("This link is no longer valid. Please ask your grid "
                                   "worker."), status=404)
    if resident.status != ResidentStatus.ACTIVE:
        return _refused(request, _("This page is closed: the person is no longer registered "
                                   "in this community. Please ask your grid worker if this "
                                   "is wrong."), status=410)
    page = {"token": token, "key": key, "resident": resident}
    if request.method != "POST":
        return _page(request, form=ResidentErrandForm(), **page)
    if not _post_counted(resident.pk):
        # Not read: shown again as typed, without judging it.
        form = ResidentErrandForm(initial={} if "cancel" in request.POST
                                  else request.POST.dict())
        return _page(request, form=form, status=429, limited=True, **page)
    if "cancel" in request.POST:
        _cancel(request, resident, request.POST["cancel"])
        return redirect(request.path)
    form = ResidentErrandForm(request.POST)
    if form.is_valid():
        source = Source.PROXY if key.by_proxy else Source.RESIDENT
        try:
            errand = services.errand_create(resident=resident, data=form.errand_input(),
                                            source=source, by=None)
        except ValidationError as exc:
            form.add_service_errors(exc)
        else:
            messages.success(request, _("Your request has been sent (number %(n)d). You can "
                                        "follow it below.") % {"n": errand.pk})
            return redirect(f"{request.path}#errand-{errand.pk}")
    return _page(request, form=form, status=400, **page)


def _cancel(request: HttpRequest, resident: Resident, errand_id: str) -> None:
    well_formed = errand_id.isascii() and errand_id.isdigit() and len(errand_id) <= 18
    errand = (resident_errands(resident).filter(pk=int(errand_id)).first()
              if well_formed else None)
    if errand is None:
        messages.error(request, _("This request was not found."))
        return
    if errand.status not in CANCELLABLE:
        messages.error(request, _("Request %(n)d can no longer be cancelled here: it is "
                                  "already “%(status)s”. Please call your grid worker.") % {
            "n": errand.pk, "status": errand.get_status_display()})
        return
    try:
        services.errand_cancel(errand=errand, by=None, by_resident=True,
                               reason=_("Cancelled on the resident's page."))
    except ValidationError:  # it moved on between the page and the click
        errand.refresh_from_db(fields=["status"])
        messages.error(request, _("Request %(n)d can no longer be cancelled here: it is "
                                  "already “%(status)s”. Please call your grid worker.") % {
            "n": errand.pk, "status": errand.get_status_display()})
        return
    messages.success(request, _("Request %(n)d is cancelled.") % {"n": errand.pk})
