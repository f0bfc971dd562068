"""The resident's web pages (no login): the form behind a one-time link, where the link is
the key, and the building check-in behind a building's standing QR code, where the key is
the code plus the last 4 digits of a phone. And, for staff, that QR code and its sheet."""

from __future__ import annotations

import io

from django.contrib.auth.decorators import login_required
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.http import content_disposition_header
from django.utils.safestring import mark_safe
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods

from fangkong.audit.services import client_ip
from fangkong.errands.resident_links import resident_link
from fangkong.followup.answers import contacts_answer, spec_of
from fangkong.followup.channels.web.checkin import (
    MISS_LIMIT,
    MISS_WARN_FROM,
    MISS_WINDOW,
    Match,
    building_id_from_token,
    checkin_matches,
    checkin_qr,
    checkin_url,
    miss_record,
    misses,
    open_web_rounds,
)
from fangkong.followup.channels.web.forms import AnswerForm, CheckinForm
from fangkong.followup.channels.web.links import checkin_from_token, contact_id_from_token
from fangkong.followup.models import Contact, ContactState, RoundStatus
from fangkong.lib import clock
from fangkong.places.models import Building
from fangkong.places.selectors import building_for_user


def _refused(request: HttpRequest, message: str, *, status: int) -> HttpResponse:
    return render(request, "followup/answer_refused.html", {"message": message}, status=status)


def _masked_name(name: str) -> str:
    return name[:1] + "*" * max(len(name) - 1, 1)


@never_cache
@require_http_methods(["GET", "POST"])
def answer(request: HttpRequest, token: str) -> HttpResponse:
    """The one-time form of a web link (large type, no JavaScript needed)."""
    # The link sent by SMS opens the session of whoever received it (a proxy: everyone
    # they look after); a building check-in's token opens the one contact it matched.
    contact_id = contact_id_from_token(token)
    from_checkin = None if contact_id is not None else checkin_from_token(token)
    if from_checkin is not None:
        contact_id = from_checkin[0]
    if contact_id is None:
        return _refused(request, _("This link is not valid. Please use the link in the message "
                                   "you received, or wait for your grid worker."), status=404)
    contact = (Contact.objects.select_related("round", "round__campaign",
                                              "round__campaign__area", "resident")
               .filter(pk=contact_id).first())
    if contact is None:
        return _refused(request, _("This link is no longer valid."), status=404)
    round_ = contact.round
    if round_.status == RoundStatus.CLOSED or round_.closes_at <= clock.now():
        return _refused(request, _("This check-in has closed. Your grid worker will contact "
                                   "you if anything is needed."), status=410)
    if contact.state == ContactState.ANSWERED:
        return _refused(request, _("Thank you: the answers for this check-in have been received "
                                   "already. A link can be used once."), status=409)
    if contact.state == ContactState.OPTED_OUT:
        return _refused(request, _("You asked not to receive these messages."), status=410)
    campaign = round_.campaign
    spec = spec_of(campaign.version_id)
    # A proxy's link answers for everyone they look after who has not answered yet, in one
    # session: one block of questions per resident, named by masked name.
    session = [contact]
    typed_by_proxy = from_checkin is not None and from_checkin[1]
    if contact.proxy_index and (from_checkin is None or typed_by_proxy):
        session += list(Contact.objects.filter(
            round=round_, proxy_index=contact.proxy_index, state=ContactState.PENDING)
            .exclude(pk=contact.pk).select_related("resident").order_by("pk"))
    data = request.POST if request.method == "POST" else None
    forms = [(c, AnswerForm(data, spec=spec, prefix=f"c{c.pk}" if len(session) > 1 else None))
             for c in session]
    if request.method == "POST" and all(form.is_valid() for _c, form in forms):
        with transaction.atomic():
            locked = {c.pk: c for c in Contact.objects.select_for_update().select_related(
                "round", "round__campaign").filter(pk__in=[c.pk for c in session])}
            if locked[contact.pk].state == ContactState.ANSWERED:
                return _refused(request, _("Thank you: the answers for this check-in have been "
                                           "received already. A link can be used once."),
                                status=409)
            items = [(locked[c.pk], form.answers, "web") for c, form in forms
                     if locked[c.pk].state == ContactState.PENDING]
            # Answered by a proxy: in a proxy's session, or through a building check-in
            # with the proxy's digits.
            proxied = {c.pk for c, _f, _ch in items if len(session) > 1 or typed_by_proxy}
            contacts_answer(items, proxied=proxied)
        # Each resident answered for gets the link to their errands page (asked for by
        # the proxy when the proxy's session answered them).
        answered = {c.pk for c, _f, _ch in items}
        by_proxy = bool(contact.proxy_index) and (from_checkin is None or typed_by_proxy)
        errand_links = [{"name": _masked_name(c.resident.name),
                         "link": resident_link(c.resident_id, by_proxy=by_proxy)}
                        for c in session if c.pk in answered]
        return render(request, "followup/answer_done.html", {
            "campaign": campaign, "errand_links": errand_links,
            "several": len(errand_links) > 1})
    return render(request, "followup/answer.html", {
        "forms": [(_masked_name(c.resident.name), form) for c, form in forms],
        "form": forms[0][1], "campaign": campaign, "round": round_,
        "who": "、".join(_masked_name(c.resident.name) for c in session),
        "several": len(session) > 1,
    }, status=400 if request.method == "POST" else 200)


# The building check-in (楼栋二维码) -------------------------------------------------------


def _too_many_tries() -> str:
    return _("Too many wrong tries. Please wait %(minutes)d minutes and try again, or ask "
             "your grid worker.") % {"minutes": MISS_WINDOW // 60}


def _choices(matches: list[Match]) -> list[dict[str, str]]:
    """What the picker shows: masked names only. The relation to the householder is added
    only where two masked names look the same, the campaign only where there are several."""
    masked = [_masked_name(m.contact.resident.name) for m in matches]
    several_campaigns = len({m.contact.round.campaign_id for m in matches}) > 1
    choices = []
    for match, name in zip(matches, masked, strict=True):
        resident = match.contact.resident
        detail = [resident.get_relation_display()] if masked.count(name) > 1 else []
        if several_campaigns:
            detail.append(match.contact.round.campaign.name)
        choices.append({"name": name, "detail": " · ".join(detail), "link": match.link})
    return choices


@never_cache
@require_http_methods(["GET", "POST"])
def checkin(request: HttpRequest, token: str) -> HttpResponse:
    """The page behind a building's QR code: the last 4 digits of a phone lead to the
    one-time form of the one resident they match, or to a choice of masked names. At most
    MISS_LIMIT wrong tries per building and client address per window (429 after)."""
    building_id = building_id_from_token(token)
    building = (Building.objects.select_related("grid").filter(pk=building_id).first()
                if building_id is not None else None)
    if building is None:
        return _refused(request, _("This code is not valid. Please scan the code on your "
                                   "building's door, or ask your grid worker."), status=404)
    client = client_ip(request) or "?"
    now = clock.now()
    rounds = open_web_rounds(building, now=now)
    context: dict = {"building": building, "open": bool(rounds),
                     "purposes": list(dict.fromkeys(r.campaign.purpose for r in rounds)),
                     "limit": MISS_LIMIT, "minutes": MISS_WINDOW // 60}
    missed = misses(building.pk, client)
    if missed >= MISS_LIMIT:
        return render(request, "followup/checkin.html",
                      {**context, "locked": _too_many_tries()}, status=429)
    form = CheckinForm(request.POST or None)
    if request.method != "POST":
        return render(request, "followup/checkin.html", {**context, "form": form})
    if not form.is_valid():
        return render(request, "followup/checkin.html", {**context, "form": form}, status=400)
    matches = checkin_matches(building, form.cleaned_data["last4"], now=now)
    if len(matches) == 1:
        return redirect(matches[0].link)
    if matches:
        return render(request, "followup/checkin_pick.html",
                      {**context, "choices": _choices(matches)})
    missed = miss_record(building.pk, client)
    if missed >= MISS_LIMIT:
        return render(request, "followup/checkin.html",
                      {**context, "locked": _too_many_tries()}, status=429)
    return render(request, "followup/checkin.html", {
        **context, "form": CheckinForm(), "nothing_due": True,
        "tries_left": MISS_LIMIT - missed if missed >= MISS_WARN_FROM else None,
    })


@login_required
@require_GET
def building_qr(request: HttpRequest, building_id: int) -> HttpResponse:
    """The building's check-in QR code as an SVG image (for print shops and notices)."""
    building = building_for_user(request.user, building_id)
    image = io.BytesIO()
    checkin_qr(building.pk).save(image, kind="svg", scale=10, border=4, light="#fff",
                                 title=str(building))
    response = HttpResponse(image.getvalue(), content_type="image/svg+xml; charset=utf-8")
    response["Content-Disposition"] = content_disposition_header(
        as_attachment=False, filename=f"{building}-二维码.svg")
    response["Cache-Control"] = "private, max-age=0"
    return response


@login_required
@require_GET
def building_qr_sheet(request: HttpRequest, building_id: int) -> HttpResponse:
    """An A4 page to print and put up at the building's door: its name, the big code and
    what to do, in Chinese whatever the printer's language."""
    building = building_for_user(request.user, building_id)
    # segno writes the SVG from the URL alone: nothing in it comes from user input.
    svg = mark_safe(checkin_qr(building.pk).svg_inline(  # noqa: S308
        scale=1, border=4, light="#fff", omitsize=True, svgclass="qr"))
    return render(request, "followup/building_qr_sheet.html", {
        "building": building, "qr_svg": svg, "url": checkin_url(building.pk),
    })
