"""Exports of the follow-up robot, in the government layout of
fangkong.lib.spreadsheets.write: the round table (随访日报表) of an area, and the residents of
one round behind its figures (the abnormal ones, those not reached, or all).

Every export needs the right to export, is audited and carries the exporter's name and time
in the file. The round table holds figures only; the resident lists hold only the residents
in the user's scope, with phones masked unless the user may see them in full and asks.
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal, InvalidOperation

from django.core.exceptions import PermissionDenied
from django.db.models import Prefetch, Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import pgettext

from fangkong.accounts.roles import Can, can
from fangkong.accounts.scope import area_scope_q, grid_scope_q
from fangkong.audit.models import AuditAction
from fangkong.audit.services import audit_record
from fangkong.followup.answers import spec_of
from fangkong.followup.models import (
    Alert,
    AlertOutcome,
    AlertStatus,
    ChannelName,
    Contact,
    ContactState,
    Round,
)
from fangkong.followup.questions import Kind
from fangkong.followup.tables import Row, round_table
from fangkong.lib import crypto
from fangkong.lib.spreadsheets.exports import (
    FORMATS,
    Export,
    area_line,
    content_type,
    spool,
    stamp,
)
from fangkong.lib.spreadsheets.write import Column, Layout
from fangkong.places.models import Area
from fangkong.places.selectors import area_breadcrumbs
from fangkong.residents.personal import PHONE

WHICH = ("abnormal", "unreached", "all")
"""The resident lists of a round: abnormal answers, not reached, everyone asked."""

CHUNK = 2000
"""Contacts read per query (and their alerts per prefetch) while a list is written."""


def _check_export(by, fmt: str, *, full: bool = False) -> None:  # noqa: ANN001
    if not can(by, Can.EXPORT):
        raise PermissionDenied(_("Your role cannot export."))
    if full and not can(by, Can.EXPORT_UNMASKED):
        raise PermissionDenied(_("Your role cannot export full phone numbers."))
    if fmt not in FORMATS:
        raise ValueError(fmt)


# --- the round table ----------------------------------------------------------------------


def _table_layout(by, area: Area, title: str, rows: int) -> Layout:  # noqa: ANN001
    footer, watermark = stamp(by, rows)
    reached, alerts = _("Followed up"), _("Alerts")
    return Layout(
        title=title,
        subtitle=area_line(a.name for a in area_breadcrumbs(by, area)),
        columns=(
            Column(_("No."), width=6, kind="number"),
            Column(_("Area"), width=16),
            Column(_("Residents to follow up"), width=10, kind="number"),
            Column(_("Web"), width=7, group=reached, kind="number"),
            Column(_("SMS"), width=7, group=reached, kind="number"),
            Column(_("Call"), width=7, group=reached, kind="number"),
            Column(_("Visit"), width=7, group=reached, kind="number"),
            Column(_("Total"), width=8, group=reached, kind="number"),
            Column(_("Follow-up rate (%)"), width=9, group=reached, kind="number"),
            Column(_("Not reached"), width=9, kind="number"),
            Column(_("To be contacted"), width=8, kind="number"),
            Column(_("Refused"), width=7, kind="number"),
            Column(_("Abnormal residents"), width=9, kind="number"),
            Column(_("Of which high risk"), width=9, kind="number"),
            Column(_("Not handled"), width=8, group=alerts, kind="number"),
            Column(_("Handled"), width=8, group=alerts, kind="number"),
        ),
        footer=footer, watermark=watermark, sheet_name=_("Daily report"))


def _table_cells(number: int | None, row: Row) -> list[object]:
    channels = [row.by_channel.get(c, 0) for c in (ChannelName.WEB, ChannelName.SMS,
                                                   ChannelName.VOICE, ChannelName.VISIT)]
    return [number, row.name, row.targeted, *channels, row.answered, row.reached_pct,
            row.unreached, row.pending, row.opted_out, row.abnormal, row.high,
            row.alerts_open, row.alerts_resolved]


def export_round_table(*, by, rounds: list[Round], area: Area, title_when: str,  # noqa: ANN001
                       fmt: str, ip: str | None = None) -> Export:
    """The round table of `rounds` (of one campaign: one round, or a day's) for `area`: a
    row per area below it (fangkong.followup.tables.round_table) and the total.

    `area` must lie in the user's area (PermissionDenied otherwise); the caller has passed
    the rounds' access gate (fangkong.followup.selectors.round_for_user). `title_when` is
    the date or round time the title names. Audited once written ("round_table").
    """
    _check_export(by, fmt)
    if not rounds:
        raise ValueError("no rounds")
    if not Area.objects.filter(area_scope_q(by), pk=area.pk).exists():
        raise PermissionDenied(_("This area is outside yours."))
    campaign = rounds[0].campaign
    rows, total = round_table(rounds, area)
    title = _("%(area)s %(campaign)s follow-up daily report %(when)s") % {
        "area": area.name, "campaign": campaign.name, "when": title_when}
    cells = [_table_cells(n, row) for n, row in enumerate(rows, start=1)]
    total_cells = _table_cells(None, total)
    total_cells[1] = _("Total")
    out, n = spool(fmt, _table_layout(by, area, title, len(rows)), [*cells, total_cells])
    audit_record(by=by, action=AuditAction.EXPORT, object_type="round_table",
                 object_id=rounds[0].pk if len(rounds) == 1 else "", object_label=title,
                 area_path=area.path, ip=ip,
                 changes={"rounds": ["", [r.pk for r in rounds]], "rows": ["", len(rows)],
                          "format": ["", fmt]})
    day = min(timezone.localtime(r.scheduled_for) for r in rounds)
    stem = pgettext("export file name", "follow-up daily report")
    return Export(out, f"{area.name}{stem}_{day:%Y%m%d}.{fmt}", content_type(fmt), n)


# --- the residents of a round -------------------------------------------------------------


def _list_titles() -> dict[str, str]:
    return {"abnormal": _("abnormal residents"), "unreached": _("residents not reached"),
            "all": _("residents followed up")}


def _file_stems() -> dict[str, str]:
    return {"abnormal": pgettext("export file name", "abnormal residents"),
            "unreached": pgettext("export file name", "residents not reached"),
            "all": pgettext("export file name", "residents followed up")}


def _which_q(which: str) -> Q:
    if which == "abnormal":
        return ~Q(severity="")
    if which == "unreached":
        return Q(state=ContactState.UNREACHED)
    return Q()


def _temperature_key(round_: Round) -> str | None:
    spec = spec_of(round_.campaign.version_id)
    return next((q.key for q in spec.questions if q.kind == Kind.TEMPERATURE), None)


def _residents_layout(by, area: Area, title: str, rows: int, *,  # noqa: ANN001
                      temperature: bool) -> Layout:
    footer, watermark = stamp(by, rows)
    address = _("Home address")
    columns = [
        Column(_("No."), width=6, kind="number"),
        Column(_("Name"), width=12),
        Column(_("Grid")),
        Column(_("Building"), group=address),
        Column(_("Unit"), width=7, group=address),
        Column(_("Room"), width=8, group=address),
        Column(_("Phone"), width=15),
        Column(_("Status"), width=10),
        Column(_("Answered via"), width=10),
        Column(_("Answered at"), width=17, kind="datetime"),
    ]
    if temperature:
        columns.append(Column(_("Temperature (°C)"), width=9, kind="number"))
    columns += [Column(_("Alerts"), width=24), Column(_("Outcome"), width=30)]
    return Layout(title=title,
                  subtitle=area_line(a.name for a in area_breadcrumbs(by, area)),
                  columns=tuple(columns), footer=footer, watermark=watermark,
                  sheet_name=_("Residents"))


def _round_contacts(by, round_: Round, area: Area, which: str) -> QuerySet[Contact]:  # noqa: ANN001
    return (Contact.objects.filter(grid_scope_q(by), area.scoped_rows_q(), _which_q(which),
                                   round=round_)
            .order_by("grid__path", "resident__household__building__estate",
                      "resident__household__building__number", "resident__household__unit",
                      "resident__household__room", "resident_id"))


def export_round_residents(*, by, round_: Round, area: Area, which: str, fmt: str,  # noqa: ANN001
                           full: bool = False, ip: str | None = None) -> Export:
    """The residents of `round_` under `area` that `which` names (see WHICH), one row each
    with their address, phone, answer state, channel, time, temperature (when the
    questionnaire asks it), alerts and what was done about them.

    Only residents in the user's scope are listed (a grid worker exporting their community
    gets their grid); phones are masked unless `full`, which needs EXPORT_UNMASKED.
    Streams: memory stays bounded whatever the number of rows. Audited once written
    ("round_residents", with the rows and whether full).
    """
    _check_export(by, fmt, full=full)
    if which not in WHICH:
        raise ValueError(which)
    qs = _round_contacts(by, round_, area, which)
    total = qs.count()
    when = timezone.localtime(round_.scheduled_for)
    title = _("%(area)s %(campaign)s %(list)s %(when)s") % {
        "area": area.name, "campaign": round_.campaign.name, "list": _list_titles()[which],
        "when": f"{when:%Y-%m-%d %H:%M}"}
    temperature = _temperature_key(round_)
    layout = _residents_layout(by, area, title, total, temperature=temperature is not None)
    out, n = spool(fmt, layout, _resident_rows(qs, full=full, temperature=temperature))
    audit_record(by=by, action=AuditAction.EXPORT, object_type="round_residents",
                 object_id=round_.pk, object_label=title, area_path=area.path, ip=ip,
                 changes={"which": ["", which], "rows": ["", n], "format": ["", fmt],
                          "full": ["", full]})
    stem = _file_stems()[which]
    return Export(out, f"{area.name}{stem}_{when:%Y%m%d_%H%M}.{fmt}", content_type(fmt), n)


def _resident_rows(qs: QuerySet[Contact], *, full: bool,
                   temperature: str | None) -> Iterator[list[object]]:
    fields = ["state", "answers", "answered_via", "answered_at", "answered_by_proxy",
              "grid__name", "resident__name", "resident__phone_masked",
              "resident__household__unit", "resident__household__room",
              "resident__household__building__name", "resident__household__building__estate"]
    if full:
        fields.append("resident__phone_sealed")
    alerts = Alert.objects.order_by("created_at", "pk").only(
        "contact", "title", "status", "outcome", "note")
    contacts = (qs.select_related("grid", "resident__household__building").only(*fields)
                .prefetch_related(Prefetch("alerts", queryset=alerts)))
    states, channels = dict(ContactState.choices), dict(ChannelName.choices)
    for number, contact in enumerate(contacts.iterator(chunk_size=CHUNK), start=1):
        resident = contact.resident
        household = resident.household
        phone = resident.phone_masked
        if full:
            sealed = resident.phone_sealed
            phone = crypto.unseal(bytes(sealed), purpose=PHONE) if sealed else ""
        via = str(channels.get(contact.answered_via, ""))
        if via and contact.answered_by_proxy:
            via = _("%(channel)s (by proxy)") % {"channel": via}
        row: list[object] = [
            number, resident.name, contact.grid.name, str(household.building),
            f"{household.unit}单元", household.room, phone, str(states[contact.state]), via,
            contact.answered_at]
        if temperature is not None:
            row.append(_reading(contact.answers.get(temperature)))
        found = list(contact.alerts.all())
        row += ["、".join(a.title for a in found), "；".join(_outcome(a) for a in found)]
        yield row


def _reading(stored: object) -> Decimal | None:
    """A stored answer ([value, channel]) as a number; None when absent or not a number."""
    value = stored[0] if isinstance(stored, list) and stored else stored
    if value is None or isinstance(value, bool):
        return None
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        return None
    return number if number.is_finite() else None


def _outcome(alert: Alert) -> str:
    if alert.status != AlertStatus.RESOLVED:
        return _("Not handled")
    text = str(AlertOutcome(alert.outcome).label) if alert.outcome else _("Handled")
    return f"{text}：{alert.note}" if alert.note else text
