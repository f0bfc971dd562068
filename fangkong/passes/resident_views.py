"""The resident's own pass, without a staff login: behind the signed link of their
errands page (`r/<token>/`: the same token, so the link they already have opens their
pass too), or after a login by phone and a code sent by SMS (`me/`, `me/code/`,
`me/passes/`; fangkong.passes.phone_login).

The page shows, like a health code: the big QR code, its colour and one line why, the
masked name, the room and the community; the household's pass too when there is one.
"Save as image" downloads the code as a PNG (white border). Large type, works without
JavaScript, never cached, not indexed, no referrer sent (the token is in the address).

A forged link is refused (404), an expired or reset one says "ask your grid worker for a
new link" (410), as does the page of a resident no longer registered here (410).

**No pass yet:** the page offers a button "Get my pass" (a POST), which issues the
resident's first pass (`services.pass_issue_by_resident`, audited "via resident"). The
link (or the code sent to their phone) already proves who they are, and their colour is
looked up at every scan, so issuing is safe and spares the grid worker a visit; but not
on a GET, which a chat app's link preview would follow. A revoked pass is never issued
again from here: the page says to ask the grid worker.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods

from fangkong.audit.services import client_ip
from fangkong.errands.resident_links import (
    ResidentKey,
    link_revoked,
    resident_key,
    resident_of,
)
from fangkong.followup.channels.base import masked_name
from fangkong.lib import clock
from fangkong.lib.phone import PhoneError
from fangkong.passes import phone_login as codes
from fangkong.passes.images import qr_data_uri, qr_png, token_of
from fangkong.passes.models import Pass
from fangkong.passes.services import pass_issue_by_resident
from fangkong.passes.status import PassStatus, status_of_pass
from fangkong.residents.models import Resident, ResidentStatus

PHONE_KEY = "fangkong.passes.phone"  # the phone a code was asked for: index and masked
LOGIN_KEY = "fangkong.passes.residents"  # after a correct code: resident ids and until


def _private(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """No cache, no index, no referrer: the address holds the key to the page."""

    @functools.wraps(view)
    def wrapped(request: HttpRequest, *args: object, **kwargs: object) -> HttpResponse:
        response = view(request, *args, **kwargs)
        response["X-Robots-Tag"] = "noindex, nofollow, noarchive"
        response["Referrer-Policy"] = "no-referrer"
        return response

    return never_cache(wrapped)


# What the page shows ------------------------------------------------------------------


@dataclass(frozen=True)
class Shown:
    """One pass as the resident sees it."""

    pass_: Pass
    status: PassStatus
    qr: str  # data: URI of the PNG, "" when the code opens nothing (revoked, expired)
    png_url: str  # "save as image"

    @property
    def usable(self) -> bool:
        return bool(self.qr)


@dataclass(frozen=True)
class Person:
    resident: Resident
    name: str
    room: str
    community: str
    own: Shown | None
    household: Shown | None


PngUrl = Callable[[Resident, bool], str]  # (resident, of the household) -> address


def _usable(status: PassStatus) -> bool:
    return status.refusal not in ("revoked", "expired", "moved_out")


def _shown(pass_: Pass | None, png_url: str) -> Shown | None:
    if pass_ is None:
        return None
    status = status_of_pass(pass_)
    qr = qr_data_uri(token_of(pass_)) if _usable(status) else ""
    return Shown(pass_=pass_, status=status, qr=qr, png_url=png_url)


def _person(resident: Resident, png_url: PngUrl) -> Person:
    own = Pass.objects.filter(resident=resident).first()
    if own is not None:
        own.resident = resident
    household = Pass.objects.filter(household_id=resident.household_id,
                                    revoked_at__isnull=True).first()
    return Person(resident=resident, name=masked_name(resident.name),
                  room=resident.household.building.estate + resident.household.label,
                  community=resident.community.name,
                  own=_shown(own, png_url(resident, False)),
                  household=_shown(household, png_url(resident, True)))


def _residents(ids: list[int] | tuple[int, ...]) -> list[Resident]:
    return list(Resident.objects.filter(pk__in=ids, status=ResidentStatus.ACTIVE)
                .select_related("household", "household__building", "community")
                .order_by("pk"))


def _png(pass_: Pass | None, filename: str) -> HttpResponse:
    if pass_ is None or not _usable(status_of_pass(pass_)):
        return HttpResponse(_("No pass to save."), status=404,
                            content_type="text/plain; charset=utf-8")
    response = HttpResponse(qr_png(token_of(pass_)), content_type="image/png")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


def _which_pass(request: HttpRequest, resident: Resident) -> tuple[Pass | None, str]:
    if request.GET.get("of") == "household":
        return (Pass.objects.filter(household_id=resident.household_id,
                                    revoked_at__isnull=True).first(), "household-pass.png")
    return Pass.objects.filter(resident=resident).first(), "pass.png"


# Behind the errands link ----------------------------------------------------------------


def _refused(request: HttpRequest, message: str, *, status: int) -> HttpResponse:
    return render(request, "passes/resident_refused.html", {"message": message},
                  status=status)


def _link_resident(request: HttpRequest, token: str,
                   ) -> tuple[ResidentKey | None, Resident | None, HttpResponse | None]:
    """The resident a link opens, or the page that refuses it."""
    key = resident_key(token)
    if key is None:
        return None, None, _refused(request, _(
            "This link is not valid. Please use the link you were given, or ask your grid "
            "worker."), status=404)
    if key.expired or link_revoked(key):
        return key, None, _refused(request, _(
            "This link has expired. Please ask your grid worker for a new link."), status=410)
    resident = resident_of(key)
    if resident is None:
        return key, None, _refused(request, _(
            "This link is no longer valid. Please ask your grid worker."), status=404)
    if resident.status != ResidentStatus.ACTIVE:
        return key, None, _refused(request, _(
            "This page is closed: the person is no longer registered in this community. "
            "Please ask your grid worker if this is wrong."), status=410)
    resident = _residents([resident.pk])[0]
    return key, resident, None


@_private
@require_http_methods(["GET", "POST"])
def resident_pass_page(request: HttpRequest, token: str) -> HttpResponse:
    """See the module docstring. POST `do=get`: the first pass of a resident who has
    none."""
    key, resident, refused = _link_resident(request, token)
    if refused is not None:
        return refused
    assert key is not None and resident is not None
    if request.method == "POST":
        if request.POST.get("do") == "get":
            pass_issue_by_resident(resident=resident, ip=client_ip(request))
        return redirect(request.path)
    png = reverse("passes:mine_png", args=[token])
    return render(request, "passes/resident_pass.html", {
        "people": [_person(resident, lambda _r, of_household: png + (
            "?of=household" if of_household else ""))],
        "by_proxy": key.by_proxy, "token": token, "expires_at": key.expires_at,
    })


@_private
@require_GET
def resident_pass_png(request: HttpRequest, token: str) -> HttpResponse:
    """The code of the resident's pass (`?of=household`: the household's) as a PNG to
    save; 404 for a refused link or when there is no usable pass."""
    _key, resident, refused = _link_resident(request, token)
    if refused is not None:
        return refused
    assert resident is not None
    return _png(*_which_pass(request, resident))


# Login by phone and code ------------------------------------------------------------------


def _logged_in(request: HttpRequest) -> list[int] | None:
    """The resident ids of a login by code still in force, else None."""
    login = request.session.get(LOGIN_KEY)
    if not isinstance(login, dict) or login.get("until", 0) < clock.now().timestamp():
        return None
    return [int(pk) for pk in login.get("ids", [])]


@_private
@require_http_methods(["GET", "POST"])
def phone_login(request: HttpRequest) -> HttpResponse:
    """Type the mobile number: a code is texted to it when it is registered; the page
    answers alike either way."""
    context = {"logged_in": _logged_in(request) is not None, "typed": "", "error": ""}
    if request.method != "POST":
        return render(request, "passes/phone_login.html", context)
    typed = request.POST.get("phone", "")[:64]
    context["typed"] = typed
    try:
        phone = codes.mobile_of(typed)
    except PhoneError as exc:
        context["error"] = str(exc)
        return render(request, "passes/phone_login.html", context, status=400)
    asked = codes.code_request(phone=phone, ip=client_ip(request))
    if asked == codes.Asked.LIMITED:
        context["limited"] = True
        return render(request, "passes/phone_login.html", context, status=429)
    request.session[PHONE_KEY] = {"index": phone.index, "masked": phone.masked}
    return redirect("passes:phone_code")


@_private
@require_http_methods(["GET", "POST"])
def phone_code(request: HttpRequest) -> HttpResponse:
    """Type the code that was texted; a correct one opens the passes for a day."""
    asked = request.session.get(PHONE_KEY)
    if not isinstance(asked, dict) or "index" not in asked:
        return redirect("passes:phone_login")
    context = {"masked": asked.get("masked", ""), "minutes": codes.CODE_MINUTES,
               "error": "", "ask_again": False}
    if request.method != "POST":
        return render(request, "passes/phone_code.html", context)
    checked = codes.code_check(index=asked["index"], code=request.POST.get("code", ""),
                                     ip=client_ip(request))
    if checked.outcome == codes.Checked.OK:
        request.session.cycle_key()  # a new session id once it opens something
        request.session.pop(PHONE_KEY, None)
        until = clock.now() + timedelta(hours=codes.SESSION_HOURS)
        request.session[LOGIN_KEY] = {"ids": list(checked.resident_ids),
                                      "until": until.timestamp()}
        if not request.user.is_authenticated:
            # A staff member's own session keeps its shorter age.
            request.session.set_expiry(codes.SESSION_HOURS * 3600)
        return redirect("passes:phone_passes")
    status = 400
    if checked.outcome == codes.Checked.WRONG:
        context["error"] = _("This code is not right. %(n)d tries left.") % {
            "n": checked.tries_left}
    elif checked.outcome == codes.Checked.LOCKED:
        context["error"] = _("Too many wrong tries: this code no longer works. Ask for a "
                             "new code.")
        context["ask_again"] = True
    elif checked.outcome == codes.Checked.EXPIRED:
        context["error"] = _("This code has expired (it works for %(n)d minutes). Ask for "
                             "a new code.") % {"n": codes.CODE_MINUTES}
        context["ask_again"] = True
    else:
        context["error"] = _("Too many tries from here. Please wait an hour, or ask your "
                             "grid worker.")
        status = 429
    return render(request, "passes/phone_code.html", context, status=status)


@_private
@require_http_methods(["GET", "POST"])
def phone_passes(request: HttpRequest) -> HttpResponse:
    """The passes a correct code opened (each resident like the link's page). `?png=<id>`
    (and `&of=household`): a code as a PNG. POST `do=get` + `resident`: a first pass;
    `do=logout`: forget the login in this browser."""
    ids = _logged_in(request)
    if ids is None:
        request.session.pop(LOGIN_KEY, None)
        return redirect("passes:phone_login")
    residents = _residents(ids)
    if request.method == "POST":
        action = request.POST.get("do")
        if action == "logout":
            request.session.pop(LOGIN_KEY, None)
            messages.success(request, _("You have left the page of your passes."))
            return redirect("passes:phone_login")
        if action == "get":
            chosen = _chosen(residents, request.POST.get("resident", ""))
            if chosen is not None:
                pass_issue_by_resident(resident=chosen, ip=client_ip(request))
        return redirect(request.path)
    if "png" in request.GET:
        chosen = _chosen(residents, request.GET["png"])
        if chosen is None:
            return HttpResponse(_("No pass to save."), status=404,
                                content_type="text/plain; charset=utf-8")
        return _png(*_which_pass(request, chosen))
    here = reverse("passes:phone_passes")
    return render(request, "passes/phone_passes.html", {
        "people": [_person(r, lambda r, of_household: f"{here}?png={r.pk}" + (
            "&of=household" if of_household else "")) for r in residents],
    })


def _chosen(residents: list[Resident], raw: str) -> Resident | None:
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 18):
        return None
    return next((r for r in residents if r.pk == int(raw)), None)

