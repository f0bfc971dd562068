"""The resident's check-in form behind a one-time web link. No login: the link is the key."""

from __future__ import annotations

from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from fangkong.followup.answers import contacts_answer, spec_of
from fangkong.followup.channels.web.forms import AnswerForm
from fangkong.followup.channels.web.links import contact_id_from_token
from fangkong.followup.models import Contact, ContactState, RoundStatus
from fangkong.lib import clock


def _refused(request: HttpRequest, message: str, *, status: int) -> HttpResponse:
    return render(request, "followup/answer_refused.html", {"message": message}, status=status)


def _masked_name(name: str) -> str:
    return name[:1] + "*" * max(len(name) - 1, 1)


@never_cache
@require_http_methods(["GET", "POST"])
def answer(request: HttpRequest, token: str) -> HttpResponse:
    """The one-time form of a web link (large type, no JavaScript needed)."""
    contact_id = contact_id_from_token(token)
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
    form = AnswerForm(request.POST or None, spec=spec)
    if request.method == "POST" and form.is_valid():
        with transaction.atomic():
            locked = (Contact.objects.select_for_update().select_related("round",
                                                                         "round__campaign")
                      .get(pk=contact.pk))
            if locked.state == ContactState.ANSWERED:
                return _refused(request, _("Thank you: the answers for this check-in have been "
                                           "received already. A link can be used once."),
                                status=409)
            contacts_answer([(locked, form.answers, "web")])
        return render(request, "followup/answer_done.html", {"campaign": campaign})
    return render(request, "followup/answer.html", {
        "form": form, "campaign": campaign, "round": round_,
        "who": _masked_name(contact.resident.name),
    }, status=400 if request.method == "POST" else 200)
