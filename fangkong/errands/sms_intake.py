"""Errands asked for by SMS: a message to the service number that starts with a keyword
(代购 or 买菜, 买药 or 药, 垃圾, 维修 or 修, 帮忙) followed by what is needed.

The sender is matched by the blind index of their phone: a resident's own phone (or one
of their further phones), or the phone of a proxy. Exactly one active resident matched:
the errand is created for them (source SMS, the kind by keyword, the rest of the message
as the details) and the reply confirms it with the hand-over code and the link to their
page. Several residents matched (a proxy looking after two people, a daughter who is a
resident and her mother's proxy): nothing is created and the reply asks to use each
one's page. An unknown number gets no reply and nothing is stored.

Called by the SMS inbound handler (fangkong.followup.channels.sms.inbound) inside the
transaction that records the message id, which is what makes it idempotent: a webhook
delivered again finds the message recorded and creates nothing.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

from fangkong.errands import services
from fangkong.errands.models import Errand, ErrandKind, Source
from fangkong.errands.resident_links import resident_link
from fangkong.followup.channels.base import masked_name
from fangkong.residents.models import ContactPhone, Resident, ResidentStatus

log = logging.getLogger("fangkong.errands.sms")

# The keywords are what residents type (Chinese data, not interface text). Longest first,
# so that 买药 is not read as 买 + 药.
KEYWORDS: tuple[tuple[str, str], ...] = (
    ("代购", ErrandKind.GROCERIES),
    ("买菜", ErrandKind.GROCERIES),
    ("买药", ErrandKind.MEDICINE),
    ("垃圾", ErrandKind.GARBAGE),
    ("维修", ErrandKind.REPAIR),
    ("帮忙", ErrandKind.OTHER),
)
# What may stand between the keyword and the request: spaces, a colon, a comma.
_SEPARATORS = " \t\n\u3000:：,，、.。;；-—"
# Replies stay one long SMS (as the follow-up replies, fangkong...sms.texts).
MAX_REPLY = 300
# More errands than this from one resident by SMS within the hour are not taken: a
# misfiring phone or a flood must not fill the community's queue.
SMS_ERRANDS_PER_HOUR = 5


@dataclass(frozen=True)
class ErrandAsk:
    kind: str
    details: str


@dataclass(frozen=True)
class Intake:
    """What came of a keyword message: the reply to send, whether the number is known
    (an unknown one is not recorded), and the errand when one was created."""

    reply: str
    known: bool
    errand: Errand | None = None


def errand_ask_read(text: str) -> ErrandAsk | None:
    """The errand a message asks for when it starts with a keyword, else None (the
    message is for the follow-up: an answer, TD, ?)."""
    stripped = text.lstrip(_SEPARATORS)
    for keyword, kind in KEYWORDS:
        if stripped.startswith(keyword):
            rest = stripped[len(keyword):].strip(_SEPARATORS)
            # One kind of line break, and no stray control characters from the phone.
            rest = re.sub(r"\r\n?", "\n", rest)
            return ErrandAsk(kind=kind, details=rest)
    return None


def _candidates(index: str) -> tuple[list[Resident], set[int]]:
    """The active residents this phone may ask for, and which of them through a proxy."""
    active = Resident.objects.filter(status=ResidentStatus.ACTIVE).select_related(
        "household")
    own = {r.pk: r for r in active.filter(phone_index=index)}
    further = ContactPhone.objects.filter(index=index).values_list("resident_id", flat=True)
    own.update({r.pk: r for r in active.filter(pk__in=list(further))})
    proxied = {r.pk: r for r in active.filter(proxies__phone_index=index)
               if r.pk not in own}
    residents = sorted([*own.values(), *proxied.values()], key=lambda r: r.pk)
    return residents, set(proxied)


def _usage() -> str:
    return _("Write what you need after the word, for example: “代购 大米一袋、鸡蛋10个”, "
             "“买药 降压药”, “垃圾”, “维修 厨房水管漏水”, “帮忙 ...”.")


def _several(residents: list[Resident], proxied: set[int]) -> str:
    text = _("This number asks for several people: please ask on each one's own page.")
    for resident in residents:
        line = f" {masked_name(resident.name)} {resident_link(resident.pk, by_proxy=resident.pk in proxied)}"
        if len(text) + len(line) > MAX_REPLY:
            return _("This number asks for several people. Please ask on each person's own "
                     "page (your grid worker can give you the links), or call your grid "
                     "worker.")
        text += line
    return text


def _confirmed(errand: Errand, resident: Resident, *, by_proxy: bool) -> str:
    text = _("Received: %(kind)s for %(name)s, number %(n)d. At the door, tell the helper "
             "the code %(code)s. Follow it here: %(link)s") % {
        "kind": errand.get_kind_display(), "name": masked_name(resident.name),
        "n": errand.pk, "code": errand.handover_code,
        "link": resident_link(resident.pk, by_proxy=by_proxy)}
    return text[:MAX_REPLY]


def sms_errand_intake(ask: ErrandAsk, *, index: str, now: datetime) -> Intake:
    """Create the errand a keyword message asks for, from the phone with blind index
    `index` (see the module docstring), and say what to reply. Raises nothing for a
    request that cannot be taken: the reply says why."""
    residents, proxied = _candidates(index)
    if not residents:
        return Intake(reply=_("Sorry, this number is not registered with your community, "
                              "so we cannot take the request. Please call your grid "
                              "worker."), known=False)
    if len(residents) > 1:
        return Intake(reply=_several(residents, proxied)[:MAX_REPLY], known=True)
    resident = residents[0]
    if not ask.details and ask.kind != ErrandKind.GARBAGE:
        return Intake(reply=_usage(), known=True)
    recent = Errand.objects.filter(resident=resident, source=Source.SMS,
                                   created_at__gte=now - timedelta(hours=1)).count()
    if recent >= SMS_ERRANDS_PER_HOUR:
        log.info("errand SMS for resident %s over %d an hour: not taken", resident.pk,
                 SMS_ERRANDS_PER_HOUR)
        return Intake(reply=_("Many requests came from this number in the last hour, so "
                              "this one was not taken. Please call your grid worker."),
                      known=True)
    try:
        errand = _create(resident, ask)
    except ValidationError as exc:
        return Intake(reply=(_("The request could not be taken: %(why)s") % {
            "why": " ".join(exc.messages)})[:MAX_REPLY], known=True)
    return Intake(reply=_confirmed(errand, resident, by_proxy=resident.pk in proxied),
                  known=True, errand=errand)


def _create(resident: Resident, ask: ErrandAsk) -> Errand:
    # An SMS has only free text: a medicine request gets its lines from the worker who
    # calls back.
    data = services.ErrandInput(kind=ask.kind, details=ask.details)
    return services.errand_create(resident=resident, data=data, source=Source.SMS)
