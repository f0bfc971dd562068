"""Reads of the guard's page: the residents a guard may name at their gate, and only
those. The caller has passed the gate's access gate (`selectors.gate_for_guard`)."""

from __future__ import annotations

import re

from django.db.models import Q, QuerySet

from fangkong.passes.models import Gate
from fangkong.residents.models import Resident, ResidentStatus

MAX_CANDIDATES = 6
# The last four characters of a phone (digits) or of an ID number (the checksum may be X).
LAST4 = re.compile(r"\d{4}|\d{3}[Xx]")


def gate_residents(gate: Gate) -> QuerySet[Resident]:
    """The residents living in the gate's community, with their household (the room)."""
    return (Resident.objects.filter(community_id=gate.community_id,
                                    status=ResidentStatus.ACTIVE)
            .select_related("household"))


def resident_at_gate(gate: Gate, resident_id: int | None) -> Resident | None:
    """A resident the guard picked from the candidates, checked again against the gate's
    community (an id sent by the page is never trusted); None when not one of them."""
    if resident_id is None:
        return None
    return gate_residents(gate).filter(pk=resident_id).first()


def residents_by_last4(gate: Gate, digits: str) -> tuple[list[Resident], bool]:
    """The residents of the gate's community whose phone or ID number ends with `digits`
    (4 characters, see LAST4), at most MAX_CANDIDATES of them by room; and whether more
    matched (the guard then asks for the room). ValueError for anything but 4 digits."""
    digits = (digits or "").strip().upper()
    if not LAST4.fullmatch(digits):
        raise ValueError(digits)
    match = Q(id_number_masked__endswith=digits)
    if digits.isdigit():
        match |= Q(phone_last4=digits)
    rows = list(gate_residents(gate).filter(match)
                .order_by("household__label", "pk")[:MAX_CANDIDATES + 1])
    return rows[:MAX_CANDIDATES], len(rows) > MAX_CANDIDATES
