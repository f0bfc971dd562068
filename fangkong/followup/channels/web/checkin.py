"""The standing QR code of a building (楼栋二维码): check-in without a personal link.

A code printed on the building's door carries a signed building token (no expiry: the
sticker stays up for the whole campaign; rotating SECRET_KEY retires every sticker). A
resident who scans it types the last 4 digits of their phone, or of the phone of the proxy
who answers for them; the residents of THAT building whose digits match and who have a
pending contact in an open round of a web campaign are offered their one-time form.

Guessing is limited per building and client address (MISS_LIMIT wrong tries per
MISS_WINDOW seconds, counted in Django's cache) and every miss is logged, without the
digits. Nothing on the check-in page tells whether a number exists.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

import segno
from django.conf import settings
from django.core import signing
from django.db.models import Exists, OuterRef, Q
from django.urls import reverse

from fangkong.followup.channels.web.links import checkin_token
from fangkong.followup.models import Contact, ContactState, Round, RoundStatus
from fangkong.lib.counters import window_add, window_count
from fangkong.places.models import Building
from fangkong.residents.models import Proxy, ResidentStatus

log = logging.getLogger("fangkong.followup.checkin")

SALT = "fangkong.followup.web-checkin.building"
MISS_LIMIT = 5  # wrong tries per building and client address ...
MISS_WINDOW = 10 * 60  # ... within this many seconds
MISS_WARN_FROM = 3  # from this many misses on, the page says how many tries are left
# Error correction "Q" (25%): a door sticker gets scratched, wet and half covered.
QR_ERROR = "q"


def building_token(building_id: int) -> str:
    return signing.Signer(salt=SALT).sign(signing.b62_encode(building_id))


def building_id_from_token(token: str) -> int | None:
    """The building id of a genuine token, or None for a forged or mangled one."""
    try:
        return signing.b62_decode(signing.Signer(salt=SALT).unsign(token))
    except (signing.BadSignature, ValueError):
        return None


def checkin_url(building_id: int) -> str:
    """The absolute address the building's QR code holds (FANGKONG_PUBLIC_URL + path)."""
    path = reverse("followup:checkin", args=[building_token(building_id)])
    return settings.PUBLIC_URL.rstrip("/") + path


def checkin_qr(building_id: int) -> segno.QRCode:
    return segno.make(checkin_url(building_id), error=QR_ERROR, micro=False)


# Who may check in ------------------------------------------------------------------------


@dataclass(frozen=True)
class Match:
    contact: Contact
    by_proxy: bool  # matched through the proxy's phone, not the resident's own

    @property
    def link(self) -> str:
        """The path of this contact's form, by a check-in token (see links.checkin_token)."""
        return reverse("followup:answer",
                       args=[checkin_token(self.contact.pk, by_proxy=self.by_proxy)])


def uses_web(plan: list) -> bool:
    return any(isinstance(step, dict) and step.get("channel") == "web" for step in plan)


def checkin_matches(building: Building, last4: str, *, now: datetime) -> list[Match]:
    """The pending contacts, in open rounds of web campaigns, of the residents living in
    `building` whose own phone ends in `last4`, or whose proxy's does (when the campaign
    lets proxies answer). One query; ordered by resident, then round."""
    proxy_digits = Exists(Proxy.objects.filter(resident_id=OuterRef("resident_id"),
                                                phone_last4=last4))
    contacts = (Contact.objects
                .filter(resident__household__building=building,
                        resident__status=ResidentStatus.ACTIVE, state=ContactState.PENDING,
                        round__status=RoundStatus.OPEN, round__closes_at__gt=now)
                .filter(Q(resident__phone_last4=last4)
                        | (proxy_digits & Q(round__campaign__proxy_answering=True)))
                .select_related("resident", "round", "round__campaign")
                .order_by("resident_id", "round__scheduled_for", "pk"))
    return [Match(contact=c, by_proxy=c.resident.phone_last4 != last4)
            for c in contacts if uses_web(c.round.campaign.plan)]


def open_web_rounds(building: Building, *, now: datetime) -> list[Round]:
    """The open rounds of web campaigns whose area holds the building: what the check-in
    page explains (their purposes) before anyone types a digit."""
    grid = building.grid
    rounds = (Round.objects.filter(status=RoundStatus.OPEN, closes_at__gt=now,
                                   campaign__area__path__in=[*grid.ancestor_paths(), grid.path])
              .select_related("campaign").order_by("scheduled_for", "pk"))
    return [r for r in rounds if uses_web(r.campaign.plan)]


# Guessing --------------------------------------------------------------------------------


def _miss_key(building_id: int, client: str) -> str:
    return f"fangkong.checkin.miss.{building_id}.{client}"


def misses(building_id: int, client: str) -> int:
    """Wrong tries from `client` at this building in the current window."""
    return window_count(_miss_key(building_id, client))


def miss_record(building_id: int, client: str) -> int:
    """Count one wrong try and log it (never the digits); the count in this window. The
    window starts at the first miss and is not extended by later ones."""
    count = window_add(_miss_key(building_id, client), window=MISS_WINDOW)
    log.warning("building check-in: no match at building %s from %s (%d of %d in %d min)",
                building_id, client, count, MISS_LIMIT, MISS_WINDOW // 60)
    if count == MISS_LIMIT:
        log.warning("building check-in: building %s locked for %s for %d min",
                    building_id, client, MISS_WINDOW // 60)
    return count
