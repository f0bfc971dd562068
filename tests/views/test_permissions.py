"""No cross-area read or write, through any page or API route, for any role.

Every URL pattern of the site and every operation of the JSON API is enumerated (from
the URL resolver and from the API's OpenAPI schema) and called by each of the nine
personas and by an anonymous caller, with every id in it naming an object OUTSIDE the
caller's area. Pages answer 404 (302 to the login page when anonymous, 405 for a method
the view does not take), the API answers 404 (401 anonymous, 403 for roles without the
registry, or without roster imports for the import operations), and nothing is written.
Forms that name an area in their body (the roster upload) refuse an area outside the
caller's and store nothing.

A route this module does not know how to fill fails `test_every_page_route_is_known` or
`test_every_api_operation_is_known`: add it to PAGES or API_OPERATIONS below.
"""

from __future__ import annotations

import itertools
import json
import math
import re
import struct
import wave
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from io import BytesIO
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import transaction
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.utils import timezone

from fangkong.accounts.models import Role, User
from fangkong.accounts.roles import ROLE_CAPABILITIES, Can, can
from fangkong.accounts.services import api_token_create
from fangkong.api.router import api
from fangkong.audit.models import AuditAction, AuditEvent
from fangkong.audit.services import audit_record
from fangkong.care.models import (
    AllowanceRule,
    CareOfficer,
    DayOff,
    Difficulty,
    DifficultyEvent,
    InsurancePolicy,
    OverloadWarning,
    PlanStatus,
    Post,
    PostShift,
    RotaMember,
    RotaPlan,
    ShiftAssignment,
    ShiftSwap,
)
from fangkong.care.services import difficulty_file
from fangkong.errands.models import Errand, ErrandEvent, GarbagePickup, Volunteer
from fangkong.errands.services import ErrandInput, ItemInput, errand_create
from fangkong.errands.volunteers import volunteer_apply
from fangkong.followup.channels.base import Recording
from fangkong.followup.channels.voice.callcontrol import Prompt
from fangkong.followup.models import (
    Alert,
    AlertKind,
    CallRecording,
    Campaign,
    Contact,
    Questionnaire,
    QuestionnaireVersion,
    Round,
    VoicePrompt,
)
from fangkong.followup.recordings import recordings_store
from fangkong.followup.services import CampaignInput, campaign_create
from fangkong.followup.shipped import DAILY_HEALTH
from fangkong.followup.voice_prompts import campaign_sentences
from fangkong.isolation.models import IsolationPeriod
from fangkong.jobs.models import Job, JobState
from fangkong.lib.idcard import make_id_number
from fangkong.passes.models import Gate, GateDevice, GatePolicy, Pass, Passage, Visitor
from fangkong.passes.scan import passage_record
from fangkong.passes.tokens import pass_token
from fangkong.places.models import Area, AreaKind, Building, Household
from fangkong.places.services import area_create, building_create, household_create
from fangkong.residents.models import Proxy, Resident
from fangkong.residents.services import ResidentInput, resident_create
from fangkong.rosters.models import (
    ImportBlob,
    ImportProblem,
    ImportStatus,
    ImportTemplate,
    RosterImport,
)
from fangkong.rosters.staging import file_put
from tests.factories import PERSONAS, City
from tests.views.clients import make_client

pytestmark = pytest.mark.django_db

ANONYMOUS = "anonymous"
CALLERS = [*PERSONAS, ANONYMOUS]
NO_REGISTRY = ("gate_guard", "volunteer")
REGION = "650102"  # not used by the synthetic city
# The roster that the world's imports were made of, and that the upload forms send.
ROSTER_COLUMNS = ["姓名", "身份证号", "联系电话", "楼栋", "单元", "房号"]
ROSTER_MAPPING = ["name", "id_number", "phone", "building", "unit", "room"]
ROSTER_CSV = ("\ufeff" + ",".join(ROSTER_COLUMNS) + "\r\n"
              + f"越界导入,{make_id_number(REGION, date(1960, 1, 1), 31)},13900009994,1,1,909\r\n"
              ).encode()
# A sentence the robot says on the calls of every campaign of the shipped questionnaire
# (its first question): the world's communities have recorded it.
VOICE_KEY = Prompt.of(DAILY_HEALTH["questions"][0]["voice"]).key

# Routes that are not about the registry: the back office (tested in
# tests/accounts/test_services.py), the API (enumerated from its schema below), the
# language switch and the login/logout pages.
SKIPPED_PREFIXES = ("admin/", "static/", "api/")
# The resident's check-in form has no login: its signed one-time token is the key, and
# tests/followup/test_web.py checks forged, used and expired tokens.
SKIPPED_NAMES = {"set_language", "accounts:login", "accounts:logout", "followup:answer"}
# The SMS gateway's webhooks: no login, authenticated by the gateway's signature instead,
# and tested in tests/followup/test_sms_channel.py.
SKIPPED_NAMES |= {"followup:sms_inbound", "followup:sms_report"}
# The building check-in behind a building's standing QR code: no login, its signed
# building token plus the last 4 digits of a phone is the key (rate-limited); forged
# tokens, guessing and what the page reveals are tested in tests/followup/test_checkin.py.
SKIPPED_NAMES |= {"followup:checkin"}
# The errands pages of residents and the volunteers' sign-up have no login: a signed link
# is the key (tests/errands/test_resident_page.py, tests/errands/test_volunteers.py check
# forged, tampered and expired links).
SKIPPED_NAMES |= {"errands:resident", "errands:join"}
# The resident's own pass: behind the same signed link as their errands page, or a login
# by phone and a code sent by SMS (tests/passes/test_resident_pass.py and
# tests/passes/test_phone_login.py check forged and expired links, wrong and expired codes,
# rate limits, and that a known and an unknown phone are answered alike).
SKIPPED_NAMES |= {"passes:mine", "passes:mine_png", "passes:phone_login",
                  "passes:phone_code", "passes:phone_passes"}


@dataclass(frozen=True)
class Page:
    methods: frozenset[str]
    objects: dict[str, str] = field(default_factory=dict)  # int kwarg -> object kind
    choices: dict[str, tuple[str, ...]] = field(default_factory=dict)  # other kwargs
    needs: Can | None = None  # for pages without ids: the capability they need
    needs_any: tuple[Can, ...] = ()  # ... or any one of these capabilities
    form: str | None = None  # the POST body to send
    public: bool = False
    # For pages without ids: form fields that name an object (field -> kind); the form is
    # posted with every outside object and must refuse it with an error on that field.
    form_objects: dict[str, str] = field(default_factory=dict)


GET = frozenset({"GET"})
POST = frozenset({"POST"})
GET_POST = frozenset({"GET", "POST"})

PAGES: dict[str, Page] = {
    "places:home": Page(GET),
    "places:area": Page(GET, {"area_id": "area"}),
    "places:building": Page(GET_POST, {"building_id": "building"}, form="household"),
    "places:household": Page(GET, {"household_id": "household"}),
    "residents:list": Page(GET, needs=Can.VIEW_REGISTRY),
    "residents:detail": Page(GET, {"resident_id": "resident"}),
    "residents:edit": Page(GET_POST, {"resident_id": "resident"}, form="edit"),
    "residents:reveal": Page(POST, {"resident_id": "resident"},
                             {"what": ("phone", "id_number")}),
    "residents:new": Page(GET_POST, {"household_id": "household"}, form="new"),
    "residents:proxy_add": Page(POST, {"resident_id": "resident"}, form="proxy"),
    "audit:log": Page(GET, needs=Can.VIEW_AUDIT),
    "rosters:list": Page(GET_POST, needs=Can.IMPORT_ROSTER, form="upload",
                         form_objects={"area": "area"}),
    "rosters:blank": Page(GET, needs=Can.IMPORT_ROSTER),
    "rosters:detail": Page(GET, {"import_id": "import"}),
    "rosters:encoding": Page(POST, {"import_id": "import"}, form="encoding"),
    "rosters:mapping": Page(POST, {"import_id": "import"}, form="mapping"),
    "rosters:commit": Page(POST, {"import_id": "import"}),
    "rosters:discard": Page(POST, {"import_id": "import"}),
    "rosters:cancel": Page(POST, {"import_id": "import"}),
    "rosters:undo": Page(POST, {"import_id": "import"}),
    "rosters:errors": Page(GET, {"import_id": "import"}),
    "rosters:export": Page(POST, {"area_id": "area"}, form="export"),
    "followup:alerts": Page(GET, needs=Can.VIEW_REGISTRY),
    "followup:alert": Page(GET_POST, {"alert_id": "alert"}, form="resolve"),
    "followup:visits": Page(GET, needs=Can.HANDLE_ALERTS),
    "followup:visit": Page(GET_POST, {"contact_id": "contact"}, form="visit"),
    "followup:campaigns": Page(GET, needs=Can.VIEW_REGISTRY),
    "followup:campaign_new": Page(GET_POST, needs=Can.MANAGE_CAMPAIGNS),
    # The robot of the user's own community or street: no id to fill; an empty form is
    # answered 200 with its errors, the test button 200 with the page (no robot here).
    "followup:robot": Page(GET_POST, needs=Can.MANAGE_CAMPAIGNS),
    "followup:robot_test": Page(POST, needs=Can.MANAGE_CAMPAIGNS),
    "followup:campaign": Page(GET, {"campaign_id": "campaign"}),
    "followup:campaign_run": Page(POST, {"campaign_id": "campaign"},
                                  {"action": ("start", "pause")}),
    "followup:round": Page(GET, {"round_id": "round"}),
    "followup:resident": Page(GET, {"resident_id": "resident"}),
    "followup:questionnaires": Page(GET, needs=Can.VIEW_REGISTRY),
    "followup:questionnaire_new": Page(GET_POST, needs=Can.MANAGE_CAMPAIGNS),
    "followup:questionnaire": Page(GET, {"questionnaire_id": "questionnaire"}),
    "followup:questionnaire_edit": Page(GET_POST, {"questionnaire_id": "questionnaire"},
                                        form="questionnaire"),
    "isolation:list": Page(GET, needs=Can.VIEW_REGISTRY),
    "isolation:start": Page(GET_POST, {"resident_id": "resident"}, form="isolation_start"),
    "isolation:period": Page(GET_POST, {"period_id": "period"}, form="isolation_end"),
    "followup:round_export": Page(POST, {"round_id": "round"}, form="round_export"),
    "followup:day": Page(GET, {"campaign_id": "campaign"}),
    "followup:day_export": Page(POST, {"campaign_id": "campaign"}, form="day_export"),
    "followup:building_qr": Page(GET, {"building_id": "building"}),
    "followup:building_qr_sheet": Page(GET, {"building_id": "building"}),
    "followup:recordings": Page(GET, needs=Can.HANDLE_ALERTS),
    "followup:recording_audio": Page(GET, {"recording_id": "recording"}),
    "followup:recording_check": Page(POST, {"recording_id": "recording"},
                                     form="recording_check"),
    "followup:voice_ops": Page(GET, needs=Can.VIEW_VOICE_LINES),
    "followup:campaign_voice": Page(GET_POST, {"campaign_id": "campaign"}, form="voice_prompt"),
    "followup:campaign_voice_audio": Page(GET, {"campaign_id": "campaign"},
                                          {"key": (VOICE_KEY,)}),
    "care:mine": Page(GET_POST),
    "care:inbox": Page(GET),
    "care:difficulty": Page(GET_POST, {"difficulty_id": "difficulty"},
                            form="difficulty_resolve"),
    "care:area": Page(GET, {"area_id": "area"}),
    "care:officers": Page(GET, needs=Can.DESIGNATE_CARE_OFFICERS),
    "care:street_officers": Page(GET_POST, {"street_id": "area"}, form="care_officer"),
    "care:my_shifts": Page(GET),
    "care:swap_ask": Page(GET_POST, {"assignment_id": "assignment"}, form="swap_ask"),
    "care:swap": Page(GET_POST, {"swap_id": "swap"}, form="swap_decide"),
    "care:rota_communities": Page(GET_POST, needs=Can.MANAGE_ROTA),
    "care:rota": Page(GET_POST, {"area_id": "area"}, form="rota_make"),
    "care:rota_setup": Page(GET_POST, {"area_id": "area"}, form="rota_setup"),
    "care:plan": Page(GET_POST, {"plan_id": "plan"}, form="plan_publish"),
    "care:workload": Page(GET_POST, {"area_id": "area"}),
    "care:allowance_rules": Page(GET_POST, needs=Can.SET_ALLOWANCES, form="allowance_rule",
                                 form_objects={"area": "area"}),
    "care:ledger": Page(GET_POST, {"area_id": "area"}, form="ledger_export"),
    "care:my_insurance": Page(GET),
    "care:insurance": Page(GET_POST, {"area_id": "area"}, form="insurance"),
    "errands:queue": Page(GET, needs=Can.HANDLE_ERRANDS),
    "errands:errand": Page(GET_POST, {"errand_id": "errand"}, form="errand_assign"),
    "errands:photo": Page(GET, {"errand_id": "errand"}),
    "errands:new": Page(GET_POST, {"resident_id": "resident"}, form="errand_new"),
    "errands:tasks": Page(GET),
    "errands:task": Page(GET_POST, {"errand_id": "errand"}, form="task"),
    "errands:volunteers": Page(GET, needs=Can.VERIFY_VOLUNTEERS),
    "errands:volunteer": Page(GET_POST, {"volunteer_id": "volunteer"},
                              form="volunteer_verify"),
    "errands:lists": Page(GET_POST, needs=Can.HANDLE_ERRANDS),
    "errands:garbage": Page(GET, needs=Can.HANDLE_ERRANDS),
    "errands:garbage_round": Page(GET_POST, {"building_id": "building"},
                                  form="garbage_pickup"),
    "errands:figures": Page(GET_POST, {"area_id": "area"}, form="errands_export"),
    "passes:my_gates": Page(GET, needs=Can.SCAN_AT_GATES),
    "passes:scan": Page(GET, {"gate_id": "gate"}),
    "passes:check": Page(POST, {"gate_id": "gate"}, form="gate_check"),
    "passes:record": Page(POST, {"gate_id": "gate"}, form="gate_record"),
    "passes:find": Page(POST, {"gate_id": "gate"}, form="gate_find"),
    "passes:visitor_new": Page(GET_POST, {"gate_id": "gate"}, form="visitor_new"),
    "passes:visitors": Page(GET, needs_any=(Can.ISSUE_PASSES, Can.MANAGE_GATES)),
    "passes:visitor": Page(GET_POST, {"visitor_id": "visitor"}, form="visitor_isolate"),
    "passes:visitor_code_png": Page(GET, {"visitor_id": "visitor"}),
    "passes:gates": Page(GET_POST, {"community_id": "area"}, form="gate_add"),
    "passes:gate": Page(GET_POST, {"gate_id": "gate"}, form="gate_rename"),
    # POST is the export of the listed passages (an empty form: the page with its errors).
    "passes:log": Page(GET_POST, needs_any=(Can.ISSUE_PASSES, Can.MANAGE_GATES)),
    "passes:figures": Page(GET, {"area_id": "area"}),
    "passes:resident_pass": Page(GET_POST, {"resident_id": "resident"}, form="pass_issue"),
    "passes:household_pass": Page(GET_POST, {"household_id": "household"}, form="pass_issue"),
    "passes:building_sheet": Page(GET_POST, {"building_id": "building"}, form="pass_issue"),
    "healthz": Page(GET, public=True),
}


def _walk(patterns: list, prefix: str, namespace: str) -> Iterator[tuple[str, str | None,
                                                                          URLPattern]]:
    for p in patterns:
        if isinstance(p, URLResolver):
            ns = f"{namespace}{p.namespace}:" if p.namespace else namespace
            yield from _walk(p.url_patterns, prefix + str(p.pattern), ns)
        else:
            yield prefix + str(p.pattern), (f"{namespace}{p.name}" if p.name else None), p


def page_routes() -> list[tuple[str, str | None, URLPattern]]:
    """Every URL pattern of the site that this module must cover."""
    return [(route, name, pattern)
            for route, name, pattern in _walk(get_resolver().url_patterns, "", "")
            if not route.startswith(SKIPPED_PREFIXES) and name not in SKIPPED_NAMES]


ROUTES = page_routes()
OBJECT_ROUTES = [(route, name) for route, name, p in ROUTES if p.pattern.converters]
PLAIN_ROUTES = [(route, name) for route, name, p in ROUTES if not p.pattern.converters]


# The world outside ----------------------------------------------------------------------


@dataclass
class World:
    root: User  # a superuser, who made the extra district
    district_grid: Area  # a grid in a second district: outside even the admin's area
    residents: dict[int, Resident]  # grid id -> a resident with phone and ID number there
    imports: dict[int, list[RosterImport]]  # grid id -> roster imports into it, one per step
    # grid id -> the follow-up objects of its resident: an open alert and a contact waiting
    # for a door visit, in a running round of a campaign of the grid's community.
    followup: dict[int, tuple[Alert, Contact]]
    # grid id -> difficulties filed by a grid worker there: a plain and a confidential one.
    care: dict[int, list[Difficulty]]
    # grid id -> the rota of its community: a draft plan, a published shift of a worker
    # there and a swap of it that the colleague agreed to.
    rota: dict[int, tuple[RotaPlan, ShiftAssignment, ShiftSwap]]
    # grid id -> an open errand of its resident, given to nobody.
    errands: dict[int, Errand]
    # grid id -> a volunteer who applied to help its community.
    volunteers: dict[int, Volunteer]
    # grid id -> a gate of its community (a guard of that community on duty, a device, a
    # passage of the grid's resident) and a visitor registered there.
    gates: dict[int, tuple[Gate, Visitor]]
    # grid id -> a recording of its resident's robot call that a worker must check.
    recordings: dict[int, CallRecording]

    def outside(self, caller: str) -> dict[str, list[Any]]:
        """Objects outside the caller's area: residents, households, buildings and roster
        imports of the nearest and the farthest grid outside it (a sibling and another
        district), and every area outside it."""
        if caller == ANONYMOUS:
            top = ""
        else:
            top = User.objects.select_related("area").get(username=caller).area.path

        def inside(path: str) -> bool:
            return bool(top) and (path == top or path.startswith(top + "."))

        areas = [a for a in Area.objects.order_by("path") if not inside(a.path)]
        grids = [a for a in areas if a.kind == AreaKind.GRID]

        def shared(grid: Area) -> int:
            return len(_common_prefix(grid.path, top))

        grids.sort(key=lambda g: (shared(g), g.path))
        picked = list(dict.fromkeys([grids[-1], grids[0], self.district_grid]))
        residents = [self.residents[g.pk] for g in picked]
        if caller == ANONYMOUS:
            areas = [picked[0], picked[0].parent, self.district_grid, areas[0]]
        followup = [self.followup[g.pk] for g in picked]
        # A campaign of an area above the caller's reaches into it and may be read; the
        # ones of areas wholly outside may not.
        campaigns = list({c.pk: c for c in (contact.round.campaign for _a, contact in followup)
                          if not inside(c.area.path) and not (top + ".").startswith(
                              c.area.path + ".")}.values())
        return {
            "area": areas,
            "resident": residents,
            "household": [r.household for r in residents],
            "building": [r.household.building for r in residents],
            "import": [i for g in picked for i in self.imports[g.pk]],
            "alert": [alert for alert, _c in followup],
            "contact": [contact for _a, contact in followup],
            "campaign": campaigns,
            "round": [Round.objects.filter(campaign=c).get() for c in campaigns],
            "questionnaire": [c.version.questionnaire for c in campaigns],
            "period": [IsolationPeriod.objects.get(resident=r) for r in residents],
            "difficulty": [d for g in picked for d in self.care[g.pk]],
            "plan": list({self.rota[g.pk][0] for g in picked}),
            "assignment": list({self.rota[g.pk][1] for g in picked}),
            "swap": list({self.rota[g.pk][2] for g in picked}),
            "errand": [self.errands[g.pk] for g in picked],
            "volunteer": list({self.volunteers[g.pk] for g in picked}),
            "gate": list({self.gates[g.pk][0] for g in picked}),
            "visitor": list({self.gates[g.pk][1] for g in picked}),
            "recording": [self.recordings[g.pk] for g in picked],
        }


def _common_prefix(a: str, b: str) -> list[str]:
    common = []
    for x, y in zip(a.split("."), b.split("."), strict=False):
        if x != y:
            break
        common.append(x)
    return common


def _build_world() -> World:
    root = User.objects.create_superuser(username="perm_root", password=None)
    city_root = Area.objects.get(kind=AreaKind.CITY)
    district = area_create(kind=AreaKind.DISTRICT, name="测试外区", parent=city_root,
                           code="420199")
    street = area_create(kind=AreaKind.STREET, name="外街道", parent=district)
    community = area_create(kind=AreaKind.COMMUNITY, name="外社区", parent=street)
    grid = area_create(kind=AreaKind.GRID, name="外网格", parent=community)
    building = building_create(grid=grid, number=1)
    household = household_create(building=building, unit=1, room="101")
    stranger = resident_create(by=root, data=ResidentInput(
        household=household, name="区外居民", relation="self", phone="13900000011",
        id_number=make_id_number(REGION, date(1970, 1, 1), 11)))
    residents = {grid.pk: stranger}
    city = City.get()
    for g in Area.objects.filter(kind=AreaKind.GRID).exclude(pk=grid.pk):
        residents[g.pk] = city.resident_in(g)
    # One audit event per grid that links to a resident there: the audit page of a
    # reader outside that grid must not show it.
    for resident in residents.values():
        audit_record(by=root, action=AuditAction.REVEAL_PHONE, object_type="resident",
                     object_id=resident.pk, object_label=resident.name,
                     area_path=resident.grid.path)
    imports = {pk: _make_imports(root, resident.grid) for pk, resident in residents.items()}
    followup = _make_followup(root, residents)
    care = {pk: _make_difficulties(resident.grid) for pk, resident in residents.items()}
    rota = _make_rota(root, residents)
    errands = {pk: _make_errand(resident) for pk, resident in residents.items()}
    volunteers: dict[int, Volunteer] = {}
    by_community: dict[int, Volunteer] = {}
    for pk, resident in residents.items():
        community = resident.community
        if community.pk not in by_community:
            by_community[community.pk] = volunteer_apply(
                community=community, name="越界志愿者", phone=f"1390000{community.pk:04d}",
                skills=["driver"], availability="周末", note="")
        volunteers[pk] = by_community[community.pk]
    gates = _make_gates(residents)
    recordings = _make_recordings(followup)
    _make_voice_prompts(root, followup)
    return World(root=root, district_grid=grid, residents=residents, imports=imports,
                 followup=followup, care=care, rota=rota, errands=errands,
                 volunteers=volunteers, gates=gates, recordings=recordings)


def _make_recordings(followup: dict[int, tuple[Alert, Contact]]) -> dict[int, CallRecording]:
    """Per grid: what its resident said on a robot call, which the robot could not make
    out (a worker there must listen and record the answer)."""
    now = timezone.now()
    made = {}
    for grid_id, (_alert, contact) in followup.items():
        recordings_store(items=[(contact, f"perm.{contact.pk}", Recording(
            contact_id=contact.pk, question_key="fever", wav=b"RIFF-perm", unclear=True))],
            now=now)
        made[grid_id] = CallRecording.objects.get(contact=contact)
    return made


def _make_voice_prompts(root: User, followup: dict[int, tuple[Alert, Contact]]) -> None:
    """Per community: its own recording of the first question, which its campaign's page
    plays and lists (the questionnaire is the shipped one's copy)."""
    campaigns = {contact.round.campaign for _alert, contact in followup.values()}
    # Uploading it again for a campaign outside would store it, were the gate to let it.
    assert all(VOICE_KEY in {s.key for s in campaign_sentences(c)} for c in campaigns)
    areas = {c.area for c in campaigns}
    VoicePrompt.objects.bulk_create(
        VoicePrompt(area=area, key=VOICE_KEY, text="越界录音", audio=_voice_wav(),
                    seconds=1.0, uploaded_by=root, uploaded_at=timezone.now())
        for area in areas)


def _voice_wav() -> bytes:
    """One second of a tone, as the robot would play it (8 kHz mono 16-bit)."""
    out = BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(b"".join(struct.pack("<h", round(8000 * math.sin(i / 3)))
                               for i in range(8000)))
    return out.getvalue()


def _make_gates(residents: dict[int, Resident]) -> dict[int, tuple[Gate, Visitor]]:
    """Per community: a gate with a guard of its own on duty and a device, a policy, a
    visitor registered there; per grid: its resident's pass scanned at that gate."""
    now = timezone.now()
    by_community: dict[int, tuple[Gate, Visitor]] = {}
    made: dict[int, tuple[Gate, Visitor]] = {}
    for grid_id, resident in residents.items():
        community = resident.community
        if community.pk not in by_community:
            gate = Gate.objects.create(community=community, name="越界门", created_at=now)
            gate.guards.add(User.objects.create(username=f"perm_guard_{community.pk}",
                                                role=Role.GATE_GUARD, area=community))
            GateDevice.objects.create(gate=gate, name="越界设备", prefix="x",
                                      digest=f"{community.pk:064d}", created_at=now)
            GatePolicy.objects.create(community=community)
            visitor = Visitor.objects.create(
                community=community, gate=gate, name="越界访客", came_from="外地",
                purpose="探亲", host_household=resident.household, temperature="36.5",
                arrived_at=now)
            by_community[community.pk] = (gate, visitor)
        gate = by_community[community.pk][0]
        pass_ = Pass.objects.create(resident=resident, issued_at=now)
        passage_record(gate=gate, direction="in", code=pass_token(pass_.pk, pass_.version),
                       temperature="36.5")
        made[grid_id] = by_community[community.pk]
    return made


def _make_errand(resident: Resident) -> Errand:
    """An open medicine errand of `resident`, asked by the resident on their page."""
    return errand_create(resident=resident, source="resident", by=None, data=ErrandInput(
        kind="medicine", items=[ItemInput(name="越界药", quantity=1)], supplier="越界药房"))


def _make_rota(root: User, residents: dict[int, Resident]) -> dict[
        int, tuple[RotaPlan, ShiftAssignment, ShiftSwap]]:
    """Per community: a post with a shift, two workers on its rota, a published plan with
    a shift of each tomorrow, a swap of the first agreed to, and a draft plan."""
    now = timezone.now()
    tomorrow = timezone.localdate() + timedelta(days=1)
    made: dict[int, tuple[RotaPlan, ShiftAssignment, ShiftSwap]] = {}
    by_community: dict[int, tuple[RotaPlan, ShiftAssignment, ShiftSwap]] = {}
    for grid_id, resident in residents.items():
        community = resident.community
        if community.pk not in by_community:
            post = Post.objects.create(community=community, name="越界岗", kind="gate")
            shift = PostShift.objects.create(post=post, name="白班", start_hour=8, end_hour=16)
            workers = [User.objects.create(username=f"perm_rota_{community.pk}_{n}",
                                           role=Role.COMMUNITY_WORKER, area=community)
                       for n in range(2)]
            for n, worker in enumerate(workers):
                member = RotaMember.objects.create(user=worker, community=community,
                                                   team="AB"[n])
                DayOff.objects.create(member=member, first_day=tomorrow + timedelta(days=9),
                                      last_day=tomorrow + timedelta(days=9))
            published = RotaPlan.objects.create(
                community=community, first_day=tomorrow, days=7, method="greedy", seconds=0,
                status=PlanStatus.PUBLISHED, created_at=now, published_at=now)
            starts = now + timedelta(days=1)
            assignments = [ShiftAssignment.objects.create(
                plan=published, community=community, user=worker, shift=shift,
                day=tomorrow + timedelta(days=n), starts_at=starts + timedelta(days=n),
                ends_at=starts + timedelta(days=n, hours=8), hours=8)
                for n, worker in enumerate(workers)]
            swap = ShiftSwap.objects.create(community=community, shift=assignments[0],
                                            asked_by=workers[0], colleague=workers[1],
                                            status="agreed", asked_at=now)
            draft = RotaPlan.objects.create(community=community, first_day=tomorrow, days=7,
                                            method="greedy", seconds=0, created_at=now)
            by_community[community.pk] = (draft, assignments[0], swap)
        made[grid_id] = by_community[community.pk]
    return made


def _make_difficulties(grid: Area) -> list[Difficulty]:
    """A plain and a confidential difficulty filed by a grid worker of `grid`."""
    filer = User.objects.create(username=f"perm_care_{grid.pk}", role=Role.GRID_WORKER,
                                area=grid)
    return [difficulty_file(by=filer, kind="ppe", details="越界困难", confidential=secret)
            for secret in (False, True)]


def _make_followup(root: User, residents: dict[int, Resident]) -> dict[int, tuple[Alert,
                                                                                 Contact]]:
    """A running campaign per community with an open round; in it each grid's resident
    waits for a door visit and has an open alert."""
    version = Questionnaire.objects.get(slug="daily_health").versions.latest("number")
    now = timezone.now()
    rounds: dict[int, Round] = {}
    made = {}
    for grid_id, resident in residents.items():
        community = resident.community
        if community.pk not in rounds:
            # The community's own questionnaire: its pages are as private as the campaign.
            own = Questionnaire.objects.create(name="越界问卷", area=community)
            own_version = own.versions.create(number=1, spec=version.spec)
            campaign = campaign_create(by=root, data=CampaignInput(
                name="越界随访", purpose="测试", area=community, version=own_version,
                times=["09:00"], starts_on=now.date(), round_minutes=1440,
                plan=[{"channel": "web", "at": 0}, {"channel": "visit", "at": 60}]))
            Campaign.objects.filter(pk=campaign.pk).update(status="running")
            rounds[community.pk] = Round.objects.create(
                campaign=campaign, scheduled_for=now - timedelta(hours=2),
                closes_at=now + timedelta(days=1), opened_at=now)
        contact = Contact(round=rounds[community.pk], resident=resident, step=1)
        contact.copy_scope_from(resident)
        contact.save()
        alert = Alert(resident=resident, kind=AlertKind.RULE, contact=contact, rule_key="fever",
                      severity="high", title="越界发热", assigned_area_id=resident.grid_id,
                      deadline_minutes=120, due_at=now + timedelta(hours=2), created_at=now)
        alert.copy_scope_from(resident)
        alert.save()
        made[grid_id] = (alert, contact)
        IsolationPeriod.objects.create(resident=resident, kind="isolation",
                                       starts_on=now.date(),
                                       planned_end=now.date() + timedelta(days=13),
                                       reason="越界隔离", created_by=root)
    return made


def _make_imports(root: User, grid: Area) -> list[RosterImport]:
    """Imports into `grid` made by `root`, one at each step a person can act on, so that
    each roster route would change one of them if its gate let the caller through: a
    checked file (map again, commit, discard, error report), a committed one (undo), one
    being checked (cancel) and one waiting for its encoding."""

    def make(status: str, **fields: Any) -> RosterImport:
        fields = {"format": "csv", "encoding": "utf-8", "columns": ROSTER_COLUMNS,
                  "mapping": ROSTER_MAPPING, "data_rows": 1, **fields}
        return RosterImport.objects.create(area=grid, created_by=root, filename="x.csv",
                                           sha256="0" * 64, status=status, **fields)

    ready = make(ImportStatus.READY, size=len(ROSTER_CSV), counts={"new": 1})
    file_put(ready, ROSTER_CSV)
    ImportProblem.objects.create(roster_import=ready, row=2, column="联系电话", kind="invalid",
                                 message="越界问题")
    done = make(ImportStatus.DONE, counts={"new": 1}, committed_at=timezone.now())
    job = Job.objects.create(kind="rosters.analyse", state=JobState.RUNNING, created_by=root,
                             lease_owner="elsewhere", max_attempts=1,
                             lease_until=timezone.now() + timedelta(days=1))
    analysing = make(ImportStatus.ANALYSING, job=job)
    job.payload = {"import": analysing.pk}
    job.save(update_fields=["payload"])
    encoding = make(ImportStatus.NEEDS_ENCODING, encoding="")
    return [ready, done, analysing, encoding]


@pytest.fixture(scope="module")
def module_world(django_db_setup, django_db_blocker) -> Iterator[World]:  # noqa: ANN001
    """The world is built once for this module inside a transaction that is rolled back
    at its end; each test runs in a savepoint inside it (pytest-django's `db`)."""
    block = transaction.atomic()

    def roll_back() -> None:
        with django_db_blocker.unblock():
            transaction.set_rollback(True)
            block.__exit__(None, None, None)

    with django_db_blocker.unblock():
        block.__enter__()
        try:
            world = _build_world()
        except BaseException:
            roll_back()
            raise
    yield world
    roll_back()


@pytest.fixture
def world(module_world: World, db) -> World:  # noqa: ANN001
    return module_world


def _state(residents: list[Resident]) -> tuple:
    """What a refused write must leave as it was: the residents given, and every roster
    import (its step, mapping, encoding and job; no new import, job, template, blob or
    cancel request)."""
    rows = {r.pk: (r.version, r.name, r.household_id, bytes(r.phone_sealed or b""))
            for r in Resident.objects.filter(pk__in=[r.pk for r in residents])}
    imports = list(RosterImport.objects.order_by("pk").values_list(
        "pk", "status", "mapping", "encoding", "job_id", "message", "undone_at"))
    jobs = (Job.objects.count(), Job.objects.filter(cancel_requested=True).count())
    followup = (list(Alert.objects.order_by("pk").values_list("pk", "status", "outcome")),
                list(IsolationPeriod.objects.order_by("pk").values_list(
                    "pk", "status", "planned_end")),
                list(Contact.objects.order_by("pk").values_list("pk", "state", "answers")),
                list(Campaign.objects.order_by("pk").values_list("pk", "status")),
                QuestionnaireVersion.objects.count(),
                list(CallRecording.objects.order_by("pk").values_list(
                    "pk", "needs_check", "checked_by_id")),
                list(VoicePrompt.objects.order_by("pk").values_list(
                    "pk", "area_id", "key", "seconds", "uploaded_at")))
    care = (list(Difficulty.objects.order_by("pk").values_list(
                "pk", "status", "level", "assigned_to_id", "rating", "resolution")),
            DifficultyEvent.objects.count(),
            list(CareOfficer.objects.order_by("pk").values_list("pk", "user_id", "street_id")))
    rota = (list(RotaPlan.objects.order_by("pk").values_list("pk", "status")),
            list(ShiftAssignment.objects.order_by("pk").values_list(
                "pk", "user_id", "attendance")),
            list(ShiftSwap.objects.order_by("pk").values_list("pk", "status")),
            list(Post.objects.order_by("pk").values_list("pk", "active")),
            PostShift.objects.count(),
            list(RotaMember.objects.order_by("pk").values_list("pk", "team", "kind", "active")),
            DayOff.objects.count(), OverloadWarning.objects.filter(noted_at=None).count(),
            list(AllowanceRule.objects.order_by("pk").values_list("pk", "valid_to")),
            InsurancePolicy.objects.count())
    errands = (list(Errand.objects.order_by("pk").values_list(
                   "pk", "status", "assigned_to_id", "supplier", "accepted_at")),
               ErrandEvent.objects.count(), GarbagePickup.objects.count(),
               list(Volunteer.objects.order_by("pk").values_list("pk", "status", "user_id")))
    gates = (list(Gate.objects.order_by("pk").values_list("pk", "name", "active")),
             sorted(Gate.guards.through.objects.values_list("gate_id", "user_id")),
             list(GatePolicy.objects.order_by("pk").values_list(
                 "pk", "opens_at", "outings_per_household", "fever_threshold")),
             list(GateDevice.objects.order_by("pk").values_list("pk", "revoked_at")),
             list(Pass.objects.order_by("pk").values_list("pk", "version", "revoked_at")),
             Passage.objects.count(),
             list(Visitor.objects.order_by("pk").values_list("pk", "left_at",
                                                             "isolation_resident_id")))
    return (AuditEvent.objects.count(), Resident.objects.count(), Proxy.objects.count(),
            Household.objects.count(), rows, imports, jobs, ImportTemplate.objects.count(),
            ImportBlob.objects.count(), followup, care, rota, errands, gates)


def _client(caller: str) -> Client:
    return make_client(User.objects.get(username=caller) if caller != ANONYMOUS else None)


def _form(kind: str | None, objects: dict[str, Any]) -> dict[str, Any]:
    if kind == "edit":
        resident = objects["resident"]
        return {"name": "越界改名", "relation": "self", "version": resident.version,
                "phone": "13900009999", "remarks": "越界"}
    if kind == "new":
        return {"name": "越界新人", "relation": "self", "phone": "13900009998",
                "id_number": make_id_number(REGION, date(1990, 1, 1), 21)}
    if kind == "proxy":
        return {"proxy_name": "越界代理", "proxy_relation": "女儿", "proxy_phone": "13900009995"}
    if kind == "household":
        return {"unit": 1, "room": "909"}
    if kind == "upload":
        return {"file": SimpleUploadedFile("roster.csv", ROSTER_CSV, "text/csv"),
                "area": objects["area"].pk, "encoding": "utf-8"}
    if kind == "encoding":
        return {"encoding": "gb18030"}
    if kind == "mapping":
        # A valid mapping that also saves a template.
        return {"template_name": "越界模板",
                **{f"col_{i}": key for i, key in enumerate(ROSTER_MAPPING)}}
    if kind == "export":
        return {"what": "residents", "format": "csv", "full": "on"}
    if kind == "resolve":
        return {"outcome": "false_alarm", "note": "越界"}
    if kind == "visit":
        return {"fever": "no", "cough": "no"}
    if kind == "recording_check":
        return {"value": "yes"}
    if kind == "voice_prompt":  # a good recording of a sentence of the campaign's calls
        return {"do": "upload", "key": VOICE_KEY,
                "audio": SimpleUploadedFile("voice.wav", _voice_wav(), "audio/wav")}
    if kind == "questionnaire":
        return {"name": "越界问卷", "spec": '{"questions": [{"key": "x", "kind": "text", '
                '"label": "越界"}]}'}
    if kind == "isolation_start":
        return {"kind": "isolation", "starts_on": "2026-11-30", "reason": "越界"}
    if kind == "isolation_end":
        return {"do": "end", "ended_on": "2026-11-30", "end_reason": "early"}
    if kind == "round_export":
        return {"what": "all", "format": "csv", "full": "on"}
    if kind == "day_export":
        return {"format": "csv"}
    if kind == "difficulty_resolve":
        return {"do": "resolve", "resolution": "越界"}
    if kind == "care_officer":
        return {"do": "add", "user": User.objects.get(username="perm_root").pk}
    if kind == "swap_ask":
        return {"colleague": User.objects.get(username="perm_root").pk, "note": "越界"}
    if kind == "swap_decide":
        return {"do": "approve"}
    if kind == "rota_make":
        return {"do": "make", "first_day": (timezone.localdate() + timedelta(days=1))
                .isoformat(), "weeks": 1, "ab_mode": "off", "ab_block_days": 1}
    if kind == "rota_setup":
        return {"do": "post_add", "post-name": "越界岗2", "post-kind": "gate"}
    if kind == "plan_publish":
        return {"do": "publish"}
    if kind == "errand_assign":
        return {"do": "assign", "to": User.objects.get(username="perm_root").pk}
    if kind == "task":
        return {"do": "accept"}
    if kind == "volunteer_verify":
        return {"do": "verify"}
    if kind == "garbage_pickup":
        return {"do": "done", "service": 0}
    if kind == "errands_export":
        return {"first": "2026-11-01", "last": "2026-11-30", "format": "csv"}
    if kind == "gate_check":
        return {"direction": "out", "resident_id": objects.get("resident", 0) or 0}
    if kind == "gate_record":
        return {"direction": "in", "temperature": "36.5", "client_id": "perm"}
    if kind == "gate_find":
        return {"digits": "0011"}
    if kind == "visitor_new":
        return {"name": "越界访客", "phone": "13900009993", "came_from": "外地",
                "purpose": "探亲", "host_room": "1栋1单元101", "temperature": "36.5",
                "id_number": make_id_number(REGION, date(1980, 1, 1), 41)}
    if kind == "visitor_isolate":
        return {"do": "isolate"}
    if kind == "gate_add":
        return {"do": "add", "name": "越界新门"}
    if kind == "gate_rename":
        return {"do": "rename", "name": "越界改名"}
    if kind == "pass_issue":
        return {"do": "issue"}
    if kind == "errand_new":
        return {"source": "phone", "kind": "other", "urgency": "normal",
                "payment": "resident", "details": "越界代办"}
    if kind == "allowance_rule":
        return {"area": objects["area"].pk, "amount": "100", "valid_from": "2026-12-01"}
    if kind == "ledger_export":
        return {"month": "2026-11", "format": "csv"}
    if kind == "insurance":
        return {"user": User.objects.get(username="perm_root").pk, "kind": "accident",
                "insurer": "越界", "policy_number": "X1", "covers_from": "2026-01-01",
                "covers_to": "2026-12-31"}
    return {}


def _hrefs_to(objects: dict[str, list[Any]]) -> list[str]:
    names = {"area": "places:area", "building": "places:building",
             "household": "places:household", "resident": "residents:detail",
             "import": "rosters:detail", "alert": "followup:alert",
             "contact": "followup:visit", "campaign": "followup:campaign",
             "round": "followup:round", "period": "isolation:period",
             "questionnaire": "followup:questionnaire", "difficulty": "care:difficulty",
             "plan": "care:plan", "assignment": "care:swap_ask", "swap": "care:swap",
             "errand": "errands:errand", "volunteer": "errands:volunteer",
             "gate": "passes:gate", "visitor": "passes:visitor"}
    # A recording is played (src) and answered (a form's action), not linked to.
    played = {"recording": ("src", "followup:recording_audio")}
    answered = {"recording": ("action", "followup:recording_check")}
    return [f'{attr}="{reverse(name, args=[obj.pk])}"'
            for kind, objs in objects.items() for obj in objs
            for attr, name in ([("href", names[kind])] if kind in names
                               else [played[kind], answered[kind]])]


# Pages ----------------------------------------------------------------------------------


def test_every_page_route_is_known():
    """A new URL pattern must be added to PAGES, with what fills each of its ids."""
    unknown = [route for route, name, _p in ROUTES if name not in PAGES]
    assert not unknown, f"add these routes to PAGES in {__name__}: {unknown}"
    for route, name, pattern in ROUTES:
        page = PAGES[name]  # type: ignore[index]
        assert set(pattern.pattern.converters) == set(page.objects) | set(page.choices), (
            f"{route}: the ids of the pattern changed; update PAGES[{name!r}]")
    stale = set(PAGES) - {name for _r, name, _p in ROUTES}
    assert not stale, f"PAGES lists routes that no longer exist: {stale}"


@pytest.mark.parametrize("caller", CALLERS)
@pytest.mark.parametrize(("route", "name"), OBJECT_ROUTES, ids=[r for r, _ in OBJECT_ROUTES])
def test_page_with_an_id_outside_the_area_is_not_found(world, caller, route, name):
    assert name in PAGES, f"{route} is not in PAGES: add it"
    page = PAGES[name]
    outside = world.outside(caller)
    client = _client(caller)
    before = _state(outside["resident"])
    login = reverse("accounts:login")
    calls = 0
    kwargs_values = [[(kwarg, obj) for obj in outside[kind]]
                     for kwarg, kind in page.objects.items()]
    kwargs_values += [[(kwarg, value) for value in values]
                      for kwarg, values in page.choices.items()]
    for n, combination in enumerate(itertools.product(*kwargs_values)):
        kwargs = {k: (v.pk if hasattr(v, "pk") else v) for k, v in combination}
        objects = {page.objects[k]: v for k, v in combination if k in page.objects}
        url = reverse(name, kwargs=kwargs)
        # A method the view does not take is refused before any object is looked up:
        # once per route is enough.
        for method in [m for m in ("GET", "POST") if n == 0 or m in page.methods]:
            if method == "GET":
                response = client.get(url)
            else:
                response = client.post(url, _form(page.form, objects))
            calls += 1
            if caller == ANONYMOUS:
                assert response.status_code == 302, (method, url)
                assert response["Location"].startswith(login), (method, url)
            elif method in page.methods:
                assert response.status_code == 404, (caller, method, url,
                                                      response.status_code)
                resident = objects.get("resident")
                if resident is not None:
                    assert resident.name not in response.content.decode()
            else:
                assert response.status_code == 405, (caller, method, url)
    assert calls > 0
    assert _state(outside["resident"]) == before


def _plain_status(caller: str, page: Page, method: str) -> int:
    if page.public:
        return 200 if method in page.methods else 405
    if caller == ANONYMOUS:
        return 302
    if method not in page.methods:
        return 405
    user = User.objects.get(username=caller)
    if page.needs_any:
        return 200 if any(can(user, c) for c in page.needs_any) else 403
    return 200 if page.needs is None or can(user, page.needs) else 403


@pytest.mark.parametrize("caller", CALLERS)
@pytest.mark.parametrize(("route", "name"), PLAIN_ROUTES, ids=[r for r, _ in PLAIN_ROUTES])
def test_page_without_an_id_shows_nothing_outside_the_area(world, caller, route, name):
    """Lists and the home page answer by role (403 without the capability) and never link
    to an object outside the caller's area, even when searched for it."""
    assert name in PAGES, f"{route} is not in PAGES: add it"
    page = PAGES[name]
    outside = world.outside(caller)
    client = _client(caller)
    before = _state(outside["resident"])
    url = reverse(name)
    stranger = outside["resident"][0]
    searches: list[dict[str, str]] = [{}]
    if name == "residents:list":
        # Search for an outside resident by name, last four digits and full phone.
        searches += [{"q": stranger.name}, {"q": stranger.phone_last4},
                     {"q": "13900000011"}]
    for params in searches:
        for method in ("GET", "POST"):
            send = client.get if method == "GET" else client.post
            response = send(url, params)
            assert response.status_code == _plain_status(caller, page, method), (
                caller, method, url, params)
            body = _body(response)
            for href in _hrefs_to(outside):
                assert href not in body, (caller, url, params, href)
    # A form that names an object (the area of an upload) is posted with each outside
    # one: the form refuses it on that field alone, and nothing is stored.
    choices = [[(name, obj) for obj in outside[kind]]
               for name, kind in page.form_objects.items()]
    expected = _plain_status(caller, page, "POST")
    for combination in itertools.product(*choices) if choices else ():
        objects = {page.form_objects[name]: obj for name, obj in combination}
        response = client.post(url, _form(page.form, objects))
        assert response.status_code == expected, (caller, url, objects,
                                                  response.status_code)
        if expected == 200:
            errors = response.context["form"].errors
            assert set(errors) == set(page.form_objects), (caller, url, objects, errors)
            body = _body(response)
            for href in _hrefs_to(outside):
                assert href not in body, (caller, url, objects, href)
    assert _state(outside["resident"]) == before


def _body(response: Any) -> str:
    """The response as text; a download (the blank roster template) is streamed."""
    if response.streaming:
        return b"".join(response.streaming_content).decode(errors="replace")
    return response.content.decode()


REGISTRY_PERSONAS = [p for p in PERSONAS if p not in NO_REGISTRY]


@pytest.mark.parametrize("persona", REGISTRY_PERSONAS)
def test_registry_role_opens_its_own_area(city, persona):
    user = city.persona(persona)
    client = _client(persona)
    own = city.resident_in(user.area)
    household = own.household
    pages = [reverse("places:home"), reverse("places:area", args=[user.area_id]),
             reverse("places:area", args=[own.grid_id]),
             reverse("places:building", args=[household.building_id]),
             reverse("places:household", args=[household.pk]),
             reverse("residents:list"), reverse("residents:detail", args=[own.pk])]
    for url in pages:
        response = client.get(url)
        assert response.status_code == 200, url
    assert own.name in client.get(reverse("residents:detail", args=[own.pk])).content.decode()
    editing = 200 if can(user, Can.EDIT_RESIDENTS) else 403
    assert client.get(reverse("residents:edit", args=[own.pk])).status_code == editing
    assert client.get(reverse("residents:new", args=[household.pk])).status_code == editing


@pytest.mark.parametrize("persona", NO_REGISTRY)
def test_role_without_registry_sees_no_resident_even_in_its_own_area(city, persona):
    user = city.persona(persona)
    client = _client(persona)
    own = city.resident_in(user.area)
    home = client.get(reverse("places:home"))
    assert home.status_code == 200
    assert "places/home_limited.html" in [t.name for t in home.templates]
    assert client.get(reverse("residents:list")).status_code == 403
    for url in (reverse("residents:detail", args=[own.pk]),
                reverse("places:area", args=[user.area_id]),
                reverse("places:household", args=[own.household_id]),
                reverse("places:building", args=[own.household.building_id])):
        assert client.get(url).status_code == 404, url


# The JSON API ---------------------------------------------------------------------------

Body = Callable[[dict[str, Any], Resident], list[dict[str, Any]]]


@dataclass(frozen=True)
class ApiOp:
    objects: dict[str, str] = field(default_factory=dict)  # path or body param -> kind
    bodies: Body | None = None  # the bodies to send (one request each)
    listing: bool = False  # no id: answers by role and lists only the own area
    items: str = "resident"  # a listing's items: the kind of object their ids name
    # Roles without this capability are refused (403) before any id is looked up.
    needs: Can = Can.VIEW_REGISTRY
    multipart: bool = False  # the body is a form with a file (bytes values are files)
    # Only a gate device's own token opens it: every user's token and session is 401
    # (tests/api/test_gate_api.py tests the devices).
    device_only: bool = False


def _new_bodies(objects: dict[str, Any], own: Resident) -> list[dict[str, Any]]:
    return [{"household_id": objects["household"].pk, "name": "越界新人",
             "id_number": make_id_number(REGION, date(1990, 1, 1), 23),
             "phone": "13900009997"}]


def _patch_bodies(objects: dict[str, Any], own: Resident) -> list[dict[str, Any]]:
    return [{"version": objects["resident"].version, "name": "越界改名",
             "phone": "13900009996"}]


def _reveal_bodies(objects: dict[str, Any], own: Resident) -> list[dict[str, Any]]:
    return [{"what": "phone"}, {"what": "id_number"}]


def _upload_bodies(objects: dict[str, Any], own: Resident) -> list[dict[str, Any]]:
    return [{"file": ROSTER_CSV, "area_id": objects["area"].pk},
            {"file": ROSTER_CSV, "area_id": objects["area"].pk, "encoding": "gb18030"}]


def _mapping_bodies(objects: dict[str, Any], own: Resident) -> list[dict[str, Any]]:
    return [{"mapping": ROSTER_MAPPING}, {"mapping": ROSTER_MAPPING, "template_name": "越界模板"}]


def _encoding_bodies(objects: dict[str, Any], own: Resident) -> list[dict[str, Any]]:
    return [{"encoding": "gb18030"}]


def _no_bodies(objects: dict[str, Any], own: Resident) -> list[dict[str, Any]]:
    return [{}]


def _resolve_bodies(objects: dict[str, Any], own: Resident) -> list[dict[str, Any]]:
    return [{"outcome": "false_alarm", "note": "越界"}, {"outcome": "other", "note": "越界"}]


def _isolation_bodies(objects: dict[str, Any], own: Resident) -> list[dict[str, Any]]:
    return [{"resident_id": objects["resident"].pk, "kind": "monitoring",
             "starts_on": "2026-11-30", "reason": "越界", "place": "越界"}]


def _scan_bodies(objects: dict[str, Any], own: Resident) -> list[dict[str, Any]]:
    pass_ = objects["resident"].gate_pass
    return [{"code": pass_token(pass_.pk, pass_.version), "direction": "out",
             "temperature": "36.5", "client_id": "perm-api"}]


IMPORT = {"import_id": "import"}


API_OPERATIONS: dict[tuple[str, str], ApiOp] = {
    ("GET", "/api/me"): ApiOp(listing=True),
    ("GET", "/api/residents"): ApiOp(listing=True),
    ("GET", "/api/areas/{area_id}"): ApiOp({"area_id": "area"}),
    ("GET", "/api/areas/{area_id}/children"): ApiOp({"area_id": "area"}),
    ("GET", "/api/areas/{area_id}/buildings"): ApiOp({"area_id": "area"}),
    ("POST", "/api/residents"): ApiOp({"household_id": "household"}, _new_bodies),
    ("GET", "/api/residents/{resident_id}"): ApiOp({"resident_id": "resident"}),
    ("PATCH", "/api/residents/{resident_id}"): ApiOp({"resident_id": "resident"},
                                                     _patch_bodies),
    ("POST", "/api/residents/{resident_id}/reveal"): ApiOp({"resident_id": "resident"},
                                                           _reveal_bodies),
    ("GET", "/api/households/{household_id}"): ApiOp({"household_id": "household"}),
    ("GET", "/api/buildings/{building_id}/households"): ApiOp({"building_id": "building"}),
    ("POST", "/api/imports"): ApiOp({"area_id": "area"}, _upload_bodies,
                                    needs=Can.IMPORT_ROSTER, multipart=True),
    ("GET", "/api/imports/{import_id}"): ApiOp(IMPORT, needs=Can.IMPORT_ROSTER),
    ("GET", "/api/imports/{import_id}/problems"): ApiOp(IMPORT, needs=Can.IMPORT_ROSTER),
    ("POST", "/api/imports/{import_id}/mapping"): ApiOp(IMPORT, _mapping_bodies,
                                                        needs=Can.IMPORT_ROSTER),
    ("POST", "/api/imports/{import_id}/commit"): ApiOp(IMPORT, _no_bodies,
                                                       needs=Can.IMPORT_ROSTER),
    ("POST", "/api/imports/{import_id}/encoding"): ApiOp(IMPORT, _encoding_bodies,
                                                         needs=Can.IMPORT_ROSTER),
    ("POST", "/api/imports/{import_id}/cancel"): ApiOp(IMPORT, _no_bodies,
                                                       needs=Can.IMPORT_ROSTER),
    ("POST", "/api/imports/{import_id}/discard"): ApiOp(IMPORT, _no_bodies,
                                                        needs=Can.IMPORT_ROSTER),
    ("POST", "/api/imports/{import_id}/undo"): ApiOp(IMPORT, _no_bodies,
                                                     needs=Can.IMPORT_ROSTER),
    ("GET", "/api/followup/campaigns"): ApiOp(listing=True, items="campaign"),
    ("GET", "/api/followup/campaigns/{campaign_id}"): ApiOp({"campaign_id": "campaign"}),
    ("GET", "/api/followup/rounds/{round_id}/table"): ApiOp({"round_id": "round"}),
    ("GET", "/api/followup/alerts"): ApiOp(listing=True, items="alert"),
    ("POST", "/api/followup/alerts/{alert_id}/resolve"): ApiOp(
        {"alert_id": "alert"}, _resolve_bodies, needs=Can.HANDLE_ALERTS),
    ("GET", "/api/followup/isolation"): ApiOp(listing=True, items="period"),
    ("POST", "/api/followup/isolation"): ApiOp({"resident_id": "resident"}, _isolation_bodies,
                                               needs=Can.HANDLE_ALERTS),
    ("POST", "/api/gate/scan"): ApiOp({"code": "resident"}, _scan_bodies, device_only=True),
}
DOC_ROUTES = {"api:openapi-json", "api:openapi-view", "api:api-root"}


def api_operations() -> list[tuple[str, str]]:
    schema = api.get_openapi_schema()
    return [(method.upper(), path) for path, operations in schema["paths"].items()
            for method in operations]


OPERATIONS = api_operations()
OBJECT_OPERATIONS = [op for op in OPERATIONS
                     if not API_OPERATIONS.get(op, ApiOp(objects={"?": "?"})).listing]
LISTING_OPERATIONS = [op for op in OPERATIONS if op not in OBJECT_OPERATIONS]


def test_every_api_operation_is_known():
    """A new API operation must be added to API_OPERATIONS, with what fills its ids and
    its body; and every route under /api/ other than the docs is in the schema."""
    unknown = [op for op in OPERATIONS if op not in API_OPERATIONS]
    assert not unknown, f"add these operations to API_OPERATIONS in {__name__}: {unknown}"
    stale = set(API_OPERATIONS) - set(OPERATIONS)
    assert not stale, f"API_OPERATIONS lists operations that no longer exist: {stale}"
    for (method, path), op in API_OPERATIONS.items():
        params = set(re.findall(r"{(\w+)}", path))
        assert params <= set(op.objects), f"{method} {path}: fill {params - set(op.objects)}"
        if method in ("POST", "PATCH", "PUT"):
            assert op.bodies is not None or op.listing, f"{method} {path}: give a body"
    schema_paths = {path for _m, path in OPERATIONS}
    for route, name, _p in _walk(get_resolver().url_patterns, "", ""):
        if not route.startswith("api/") or name in DOC_ROUTES:
            continue
        as_schema = "/" + re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", route)
        assert as_schema in schema_paths, f"{route} is routed but not in the API schema"


def _api_callers(caller: str) -> list[tuple[str, Client, dict[str, str]]]:
    """(how, client, headers): a bearer token and the browser session of the persona."""
    if caller == ANONYMOUS:
        return [("anonymous", make_client(), {})]
    user = User.objects.get(username=caller)
    _token, clear = api_token_create(user=user, name="permission test")
    return [("token", make_client(), {"HTTP_AUTHORIZATION": f"Bearer {clear}"}),
            ("session", _client(caller), {})]


def _api_call(client: Client, method: str, url: str, body: dict | None,
              headers: dict[str, str], *, multipart: bool = False) -> Any:
    if method == "GET":
        return client.get(url, **headers)
    if multipart:
        # A fresh file per request: the client reads it to the end.
        form = {k: SimpleUploadedFile("roster.csv", v, "text/csv") if isinstance(v, bytes)
                else v for k, v in (body or {}).items()}
        return client.post(url, form, **headers)
    send = {"POST": client.post, "PATCH": client.patch, "PUT": client.put,
            "DELETE": client.delete}[method]
    return send(url, json.dumps(body or {}), content_type="application/json", **headers)


def _api_expected(caller: str, needs: Can = Can.VIEW_REGISTRY) -> int:
    """401 anonymous; 403 for a role without the capability the operation needs (the
    registry, or roster imports), whatever the id; 404 for an object outside the area."""
    if caller == ANONYMOUS:
        return 401
    return 404 if can(User.objects.get(username=caller), needs) else 403


@pytest.mark.parametrize("caller", CALLERS)
@pytest.mark.parametrize(("method", "path"), OBJECT_OPERATIONS,
                         ids=[f"{m} {p}" for m, p in OBJECT_OPERATIONS])
def test_api_operation_with_an_id_outside_the_area_is_refused(world, city, caller, method,
                                                              path):
    assert (method, path) in API_OPERATIONS, f"{method} {path} is not in API_OPERATIONS"
    op = API_OPERATIONS[(method, path)]
    outside = world.outside(caller)
    # Areas: the nearest and farthest outside ones and the city (the whole list for
    # pages is above; the API shares the same gate).
    outside["area"] = list(dict.fromkeys([outside["area"][0], outside["area"][-1],
                                          city.root]))
    callers = _api_callers(caller)
    own = (city.resident_in(User.objects.get(username=caller).area)
           if caller != ANONYMOUS else outside["resident"][0])
    before = _state(outside["resident"])
    expected = 401 if op.device_only else _api_expected(caller, op.needs)
    calls = 0
    choices = [[(param, obj) for obj in outside[kind]] for param, kind in op.objects.items()]
    for n, combination in enumerate(itertools.product(*choices)):
        objects = {op.objects[param]: obj for param, obj in combination}
        url = path.format(**{param: obj.pk for param, obj in combination})
        bodies = op.bodies(objects, own) if op.bodies else [None]
        # Both ways of authenticating reach the same gate: the session is tried on the
        # first object, the token on all of them.
        for body, (how, client, headers) in itertools.product(
                bodies, callers if n == 0 else callers[:1]):
            response = _api_call(client, method, url, body, headers, multipart=op.multipart)
            calls += 1
            assert response.status_code == expected, (caller, how, method, url, body,
                                                      response.status_code, response.content)
            if expected == 404:
                assert response.json() == {"detail": "Not found."}
    assert calls > 0
    assert _state(outside["resident"]) == before


@pytest.mark.parametrize("caller", CALLERS)
def test_api_cannot_move_own_resident_into_a_household_outside_the_area(world, city, caller):
    outside = world.outside(caller)
    if caller == ANONYMOUS:
        own = outside["resident"][0]
    else:
        own = city.resident_in(User.objects.get(username=caller).area)
    callers = _api_callers(caller)
    before = _state([own, *outside["resident"]])
    for household in outside["household"]:
        for how, client, headers in callers:
            response = _api_call(client, "PATCH", f"/api/residents/{own.pk}",
                                 {"version": own.version, "household_id": household.pk},
                                 headers)
            assert response.status_code == _api_expected(caller), (caller, how)
    assert _state([own, *outside["resident"]]) == before


@pytest.mark.parametrize("caller", CALLERS)
@pytest.mark.parametrize(("method", "path"), LISTING_OPERATIONS,
                         ids=[f"{m} {p}" for m, p in LISTING_OPERATIONS])
def test_api_listing_holds_nothing_outside_the_area(world, caller, method, path):
    outside = world.outside(caller)
    stranger = outside["resident"][0]
    outside_residents = {r.pk for r in outside["resident"]}
    outside_ids = {o.pk for o in outside[API_OPERATIONS[(method, path)].items]}
    for how, client, headers in _api_callers(caller):
        for params in ({}, {"q": stranger.name}, {"q": "13900000011"},
                       {"q": stranger.phone_last4}):
            response = client.get(path, params, **headers)
            if caller == ANONYMOUS:
                assert response.status_code == 401
                continue
            if path == "/api/me":
                assert response.status_code == 200
                user = User.objects.get(username=caller)
                assert response.json()["area"]["id"] == user.area_id
                continue
            if caller in NO_REGISTRY:
                assert response.status_code == 403, (caller, how)
                continue
            assert response.status_code == 200, (caller, how, params)
            items = response.json()["items"]
            ids = {item["id"] for item in items}
            assert not ids & outside_ids, (caller, how, params)
            # Items about a resident (alerts, isolation periods) name them.
            residents = {item["resident"]["id"] for item in items if "resident" in item}
            assert not residents & outside_residents, (caller, how, params)


@pytest.mark.parametrize("persona", REGISTRY_PERSONAS)
def test_api_reads_own_resident(city, persona):
    user = city.persona(persona)
    own = city.resident_in(user.area)
    for how, client, headers in _api_callers(persona):
        response = client.get(f"/api/residents/{own.pk}", **headers)
        assert response.status_code == 200, how
        assert response.json()["id"] == own.pk
        assert client.get(f"/api/households/{own.household_id}", **headers).status_code == 200


def test_world_objects_lie_outside_every_persona(world):
    """Guards the fixture itself: the extra district lies outside every persona."""
    for persona in PERSONAS:
        outside = world.outside(persona)
        assert world.district_grid in outside["area"]
        assert isinstance(outside["building"][0], Building)
        path = User.objects.get(username=persona).area.path
        for resident in outside["resident"]:
            assert not resident.grid.path.startswith(path + "."), persona
            assert resident.grid.path != path
        assert {i.status for i in outside["import"]} == {
            ImportStatus.READY, ImportStatus.DONE, ImportStatus.ANALYSING,
            ImportStatus.NEEDS_ENCODING}
        for roster_import in outside["import"]:
            area_path = roster_import.area.path
            assert not area_path.startswith(path + ".") and area_path != path, persona


IMPORTERS = [p for p, (role, _kind, _nth) in PERSONAS.items()
             if Can.IMPORT_ROSTER in ROLE_CAPABILITIES[role]]


@pytest.mark.parametrize("persona", list(PERSONAS))
def test_importers_open_the_imports_of_their_own_area(world, persona):
    """The other side of the refusals above: the same routes, with an import and an area
    of the caller's own, work for the roles that import (so a 404 above is the area gate,
    not a route that never answers), and are refused to the others."""
    user = User.objects.select_related("area").get(username=persona)
    own = next(i for imports in world.imports.values() for i in imports
               if i.status == ImportStatus.READY
               and (i.area.path + ".").startswith(user.area.path + "."))
    importer = persona in IMPORTERS
    client = _client(persona)
    detail = reverse("rosters:detail", args=[own.pk])
    assert client.get(detail).status_code == (200 if importer else 404)
    listing = client.get(reverse("rosters:list"))
    assert listing.status_code == (200 if importer else 403)
    if importer:
        assert f'href="{detail}"' in listing.content.decode()
    (_how, api_client, headers), *_session = _api_callers(persona)
    for url in (f"/api/imports/{own.pk}", f"/api/imports/{own.pk}/problems"):
        response = api_client.get(url, **headers)
        assert response.status_code == (200 if importer else 403), url
    # The upload form and the API take the caller's own area.
    before = RosterImport.objects.count()
    response = client.post(reverse("rosters:list"), _form("upload", {"area": user.area}))
    assert response.status_code == (302 if importer else 403)
    response = _api_call(api_client, "POST", "/api/imports",
                         {"file": ROSTER_CSV, "area_id": user.area_id}, headers,
                         multipart=True)
    assert response.status_code == (202 if importer else 403), response.content
    assert RosterImport.objects.count() == before + (2 if importer else 0)
