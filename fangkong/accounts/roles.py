"""What each role may do, and at which kind of area each role works."""

from __future__ import annotations

from enum import StrEnum

from fangkong.accounts.models import Role
from fangkong.places.models import AreaKind


class Can(StrEnum):
    VIEW_REGISTRY = "view_registry"  # areas, buildings, households, residents (masked)
    EDIT_RESIDENTS = "edit_residents"
    REVEAL_PHONE = "reveal_phone"  # one click, audited
    REVEAL_ID_NUMBER = "reveal_id_number"  # higher permission, audited
    VIEW_AUDIT = "view_audit"
    MANAGE_STAFF = "manage_staff"
    IMPORT_ROSTER = "import_roster"  # upload spreadsheets into the registry of one's area
    EXPORT = "export"  # lists and tables to .xlsx/.csv, masked, audited
    EXPORT_UNMASKED = "export_unmasked"  # full ID numbers and phones in an export, audited
    MANAGE_CAMPAIGNS = "manage_campaigns"  # follow-up campaigns and questionnaires
    HANDLE_ALERTS = "handle_alerts"  # resolve alerts, record door visits, isolation periods
    # Workers' difficulties: filing one needs no capability (every staff member may); these
    # are the figures of an area (counts, overdue, themes; never confidential details) and
    # the designation of a street's care officers.
    VIEW_CARE_FIGURES = "view_care_figures"
    DESIGNATE_CARE_OFFICERS = "designate_care_officers"
    # The A/B shift rota of a community (posts, teams, leave; make, publish; approve swaps,
    # mark absences). Every staff member sees their own shifts and asks for swaps.
    MANAGE_ROTA = "manage_rota"
    # The allowance ledger of an area (read, export for payroll) and its insurance policies.
    MANAGE_PAY = "manage_pay"
    # The allowance rules (yuan per day on duty, per role) of a city or district.
    SET_ALLOWANCES = "set_allowances"
    # Errands of the residents of one's area: take requests for them, the community queue,
    # assign helpers, shopping lists, garbage rounds, figures.
    HANDLE_ERRANDS = "handle_errands"
    # Verify (or refuse, suspend) the volunteers who offer to help one's community.
    VERIFY_VOLUNTEERS = "verify_volunteers"
    # Scan passes and register visitors at the gates one is put on duty at (Gate.guards).
    SCAN_AT_GATES = "scan_at_gates"
    # A community's gates: their policy, who is on duty, devices, passes and visitors;
    # the passage log and gate figures of the area.
    MANAGE_GATES = "manage_gates"
    # Issue, re-issue and revoke residents' passes, print pass sheets, read the passage
    # log of one's own residents.
    ISSUE_PASSES = "issue_passes"
    # The robot calls' operations page: line machines, the SIP trunk, live calls (no
    # personal data) and the call figures of one's area.
    VIEW_VOICE_LINES = "view_voice_lines"


ROLE_AREA_KINDS: dict[str, frozenset[str]] = {
    Role.ADMIN: frozenset({AreaKind.CITY, AreaKind.DISTRICT}),
    Role.STREET_OFFICER: frozenset({AreaKind.STREET}),
    Role.COMMUNITY_SECRETARY: frozenset({AreaKind.COMMUNITY}),
    Role.COMMUNITY_WORKER: frozenset({AreaKind.COMMUNITY}),
    Role.GRID_WORKER: frozenset({AreaKind.GRID}),
    Role.GATE_GUARD: frozenset({AreaKind.COMMUNITY}),
    Role.VOLUNTEER: frozenset({AreaKind.COMMUNITY}),
}

_REGISTRY = {Can.VIEW_REGISTRY, Can.EXPORT}
_WORKER = _REGISTRY | {Can.EDIT_RESIDENTS, Can.REVEAL_PHONE, Can.IMPORT_ROSTER,
                       Can.HANDLE_ALERTS, Can.HANDLE_ERRANDS, Can.SCAN_AT_GATES,
                       Can.ISSUE_PASSES}
# A whole list in clear is far more than one number shown on screen: only the leads who
# may see full ID numbers may export them, and every such export is audited.
_LEAD = _WORKER | {Can.REVEAL_ID_NUMBER, Can.VIEW_AUDIT, Can.EXPORT_UNMASKED,
                   Can.MANAGE_CAMPAIGNS, Can.VIEW_CARE_FIGURES, Can.MANAGE_ROTA,
                   Can.MANAGE_PAY, Can.VERIFY_VOLUNTEERS, Can.MANAGE_GATES}

ROLE_CAPABILITIES: dict[str, frozenset[Can]] = {
    Role.ADMIN: frozenset(_REGISTRY | {Can.REVEAL_PHONE, Can.REVEAL_ID_NUMBER, Can.VIEW_AUDIT,
                                       Can.MANAGE_STAFF, Can.EXPORT_UNMASKED,
                                       Can.MANAGE_CAMPAIGNS, Can.VIEW_CARE_FIGURES,
                                       Can.DESIGNATE_CARE_OFFICERS, Can.MANAGE_ROTA,
                                       Can.MANAGE_PAY, Can.SET_ALLOWANCES,
                                       Can.MANAGE_GATES, Can.VIEW_VOICE_LINES}),
    Role.STREET_OFFICER: frozenset(_REGISTRY | {Can.REVEAL_PHONE, Can.VIEW_AUDIT,
                                                Can.MANAGE_CAMPAIGNS, Can.HANDLE_ALERTS,
                                                Can.VIEW_CARE_FIGURES,
                                                Can.DESIGNATE_CARE_OFFICERS, Can.MANAGE_ROTA,
                                                Can.MANAGE_PAY, Can.HANDLE_ERRANDS,
                                                Can.VERIFY_VOLUNTEERS, Can.MANAGE_GATES,
                                                Can.VIEW_VOICE_LINES}),
    Role.COMMUNITY_SECRETARY: frozenset(_LEAD | {Can.MANAGE_STAFF, Can.VIEW_VOICE_LINES}),
    Role.COMMUNITY_WORKER: frozenset(_WORKER),
    Role.GRID_WORKER: frozenset(_WORKER),
    # Guards and volunteers see residents only through their own features (gates, tasks).
    Role.GATE_GUARD: frozenset({Can.SCAN_AT_GATES}),
    Role.VOLUNTEER: frozenset({Can.SCAN_AT_GATES}),
}


def can(user, capability: Can) -> bool:  # noqa: ANN001 - any Django user
    """True when the user's role grants the capability. Superusers may do everything."""
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return False
    if user.is_superuser:
        return True
    return capability in ROLE_CAPABILITIES.get(user.role, frozenset())
