"""Round tables (日报表): per round or per day, for each area below the one asked for:
targeted, reached by channel, not reached, abnormal by rule, alerts open and resolved.

Computed from the contacts with one grouped query (indexed on round and grid), so the
table is live while the round runs.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.db.models import Count, Q

from fangkong.followup.models import Alert, AlertKind, AlertStatus, Contact, ContactState, Round
from fangkong.places.models import Area, AreaKind

CHANNELS = ("web", "sms", "voice", "visit")


@dataclass
class Row:
    area_id: int
    name: str
    targeted: int = 0
    answered: int = 0
    by_channel: dict[str, int] = field(default_factory=dict)
    pending: int = 0
    unreached: int = 0
    opted_out: int = 0
    abnormal: int = 0
    high: int = 0
    alerts_open: int = 0
    alerts_resolved: int = 0
    by_rule: dict[str, int] = field(default_factory=dict)

    @property
    def reached_pct(self) -> int:
        return round(100 * self.answered / self.targeted) if self.targeted else 0

    @property
    def done_pct(self) -> int:
        """Share no longer waiting (answered, refused or given up)."""
        return round(100 * (self.targeted - self.pending) / self.targeted) if self.targeted else 0

    def add(self, other: Row) -> None:
        for name in ("targeted", "answered", "pending", "unreached", "opted_out", "abnormal",
                     "high", "alerts_open", "alerts_resolved"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        for key, n in other.by_channel.items():
            self.by_channel[key] = self.by_channel.get(key, 0) + n
        for key, n in other.by_rule.items():
            self.by_rule[key] = self.by_rule.get(key, 0) + n


def _group_kind(area: Area) -> str:
    return area.child_kind or AreaKind.GRID


def round_table(rounds: list[Round], area: Area) -> tuple[list[Row], Row]:
    """Rows per child area of `area` (per grid for a grid itself) and the total."""
    kind = _group_kind(area)
    column = f"{kind}_id"
    contacts = Contact.objects.filter(area.scoped_rows_q(), round__in=rounds)
    counts = {
        "targeted": Count("pk"),
        "answered": Count("pk", filter=Q(state=ContactState.ANSWERED)),
        "pending": Count("pk", filter=Q(state=ContactState.PENDING)),
        "unreached": Count("pk", filter=Q(state=ContactState.UNREACHED)),
        "opted_out": Count("pk", filter=Q(state=ContactState.OPTED_OUT)),
        "abnormal": Count("pk", filter=~Q(severity="")),
        "high": Count("pk", filter=Q(severity="high")),
    }
    counts.update({f"ch_{c}": Count("pk", filter=Q(state=ContactState.ANSWERED,
                                                   answered_via=c)) for c in CHANNELS})
    names = dict(Area.objects.filter(**({"parent": area} if area.kind != AreaKind.GRID
                                        else {"pk": area.pk})).values_list("pk", "name"))
    rows: dict[int, Row] = {pk: Row(pk, name) for pk, name in names.items()}
    for values in contacts.values(column).annotate(**counts).order_by():
        row = rows.setdefault(values[column], Row(values[column], "?"))
        for name in ("targeted", "answered", "pending", "unreached", "opted_out", "abnormal",
                     "high"):
            setattr(row, name, values[name])
        row.by_channel = {c: values[f"ch_{c}"] for c in CHANNELS}
    alerts = Alert.objects.filter(area.scoped_rows_q(), contact__round__in=rounds)
    for values in (alerts.values(column).annotate(
            open=Count("pk", filter=Q(status=AlertStatus.OPEN)),
            resolved=Count("pk", filter=Q(status=AlertStatus.RESOLVED))).order_by()):
        row = rows.setdefault(values[column], Row(values[column], "?"))
        row.alerts_open, row.alerts_resolved = values["open"], values["resolved"]
    for values in (alerts.filter(kind=AlertKind.RULE).values(column, "title")
                   .annotate(n=Count("pk")).order_by()):
        rows[values[column]].by_rule[values["title"]] = values["n"]
    ordered = sorted(rows.values(), key=lambda r: r.name)
    total = Row(area.pk, area.name)
    for row in ordered:
        total.add(row)
    return ordered, total
