"""Alert summaries for a community's (or a street's) WeCom / DingTalk chat group.

A secretary pastes the webhook address of the group's robot; once a minute the worker
sends each enabled robot ONE markdown message about the alerts raised since the last one:
how many, how urgent, what kind, in which grid, and a link to the alert list. Never a
name, an address or a phone number: a chat group is where the lists leaked in 2020.

Each alert goes to one group: its community's robot, or, when the community has none
(or it is switched off), its street's. `Alert.pushed_at` records that it was reported.
The webhook address (it holds the robot's key) and the DingTalk signing secret are stored
sealed (fangkong.lib.crypto). Configuring a robot is not audited: no AuditAction fits,
and adding one needs a migration.
"""

from __future__ import annotations

import time
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from urllib.parse import parse_qs, urlsplit

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Q
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from fangkong.accounts.roles import Can, can
from fangkong.accounts.scope import area_scope_q
from fangkong.audit.models import AuditAction
from fangkong.audit.services import audit_record
from fangkong.followup.models import Alert, AlertEvent, AlertStatus, GroupRobot, RobotKind
from fangkong.followup.push import (
    MAX_CONTENT_BYTES,
    RATE_LIMITED,
    WEBHOOKS,
    PushResult,
    RobotTarget,
    push_markdown,
    validate_robot_url,
)
from fangkong.lib import clock, crypto
from fangkong.places.models import Area, AreaKind

ROBOT_AREA_KINDS = (AreaKind.COMMUNITY, AreaKind.STREET)
URL_PURPOSE = "group_robot"
SIGNING_PURPOSE = "group_robot.secret"
# A chat group wants news: an alert not reported within a day (the robot was unreachable
# all along, or was set up later) is left to the alert list.
FRESH_FOR = timedelta(days=1)
PUSH_TIMEOUT = 5.0  # seconds per robot; an unreachable one is tried again next minute
PUSH_THREADS = 8
# A run stops starting pushes after this long, well inside the one-minute period; the
# robots it did not reach keep their alerts for the next run.
RUN_BUDGET = 40.0
SEVERITY_ORDER = ("high", "medium", "low")
SEVERITY_LABELS = {"high": gettext_lazy("high"), "medium": gettext_lazy("medium"),
                   "low": gettext_lazy("low")}
_MARKDOWN = str.maketrans({c: " " for c in "*_[]()#>`|~\\\r\n"})


# Configuring ----------------------------------------------------------------------------


def robot_of(area: Area | None) -> GroupRobot | None:
    if area is None:
        return None
    return GroupRobot.objects.filter(area=area).first()


def _check_access(by, area: Area) -> None:  # noqa: ANN001
    if not can(by, Can.MANAGE_CAMPAIGNS):
        raise PermissionDenied(_("Your role cannot set up the group robot."))
    if not Area.objects.filter(area_scope_q(by), pk=area.pk).exists():
        raise PermissionDenied(_("This area is not yours."))


def url_problem(kind: str, url: str) -> str | None:
    """Why `url` is not the webhook of a `kind` robot, in words a secretary understands."""
    reason = validate_robot_url(kind, url)
    if reason is None:
        return None
    if "spaces" in reason:
        return _("The address contains spaces or Chinese characters. Copy it again from "
                 "the robot's settings, exactly as it is shown.")
    if reason.startswith("the URL has no"):
        return _("The address is cut short: the robot's key at its end is missing. Copy "
                 "the whole address.")
    host, path, credential = WEBHOOKS[kind]
    return _("This is not the address of a %(robot)s. In the group chat, open the robot's "
             "settings and copy its webhook address: it starts with %(start)s") % {
        "robot": RobotKind(kind).label, "start": f"https://{host}{path}?{credential}="}


def secret_problem(kind: str, secret: str) -> str | None:
    if not secret:
        return None
    if kind != RobotKind.DINGTALK:
        return _("A WeCom robot has no signing secret: leave this empty.")
    if (not secret.isascii() or not secret.startswith("SEC") or len(secret) > 128
            or any(ch.isspace() or not ch.isprintable() for ch in secret)):
        return _("A DingTalk signing secret starts with SEC and has no spaces. Copy it "
                 "again from the robot's security settings (加签).")
    return None


@transaction.atomic
def robot_configure(*, by, area: Area, kind: str, url: str, secret: str = "",  # noqa: ANN001
                    enabled: bool = True) -> GroupRobot:
    """Set up or change the group robot of `area` (a community or a street inside the
    user's scope; needs MANAGE_CAMPAIGNS). The page never shows the address back, so an
    empty `url` keeps the stored one (same kind only), and with it an empty `secret`
    keeps the stored secret; a new address takes the secret given (empty: unsigned).
    Clears `last_error`. Raises PermissionDenied, or ValidationError by field."""
    _check_access(by, area)
    if area.kind not in ROBOT_AREA_KINDS:
        raise ValidationError({"area": [_("A group robot is set up by a community or a "
                                          "street, for its own chat group.")]})
    url, secret = (url or "").strip(), (secret or "").strip()
    robot = GroupRobot.objects.select_for_update().filter(area=area).first()
    errors: dict[str, list[str]] = {}
    if kind not in RobotKind.values:
        errors["kind"] = [_("Choose WeCom or DingTalk.")]
    else:
        keep_url = not url and robot is not None and robot.kind == kind
        if not url and not keep_url:
            errors["url"] = [_("Paste the webhook address of the group's robot.")]
        elif url and (problem := url_problem(kind, url)):
            errors["url"] = [problem]
        if problem := secret_problem(kind, secret):
            errors["secret"] = [problem]
    if errors:
        raise ValidationError(errors)
    if robot is None:
        robot = GroupRobot(area=area)
    if url:
        robot.url_sealed = crypto.seal(url, purpose=URL_PURPOSE)
        robot.secret_sealed = crypto.seal(secret, purpose=SIGNING_PURPOSE) if secret else None
    elif secret:
        robot.secret_sealed = crypto.seal(secret, purpose=SIGNING_PURPOSE)
    if kind == RobotKind.WECOM:
        robot.secret_sealed = None
    robot.kind = kind
    robot.enabled = enabled
    robot.last_error = ""
    robot.save()
    # The address itself holds the robot's key: only the kind and the host are recorded.
    audit_record(by=by, action=AuditAction.ROBOT_CHANGE, object_type="group_robot",
                 object_id=robot.pk, object_label=area.name, area_path=area.path,
                 changes={"kind": ["", robot.kind], "enabled": ["", robot.enabled]})
    return robot


def robot_target(robot: GroupRobot) -> RobotTarget:
    secret = (crypto.unseal(robot.secret_sealed, purpose=SIGNING_PURPOSE)
              if robot.secret_sealed else "")
    return RobotTarget(robot.kind, crypto.unseal(robot.url_sealed, purpose=URL_PURPOSE), secret)


def robot_masked_url(robot: GroupRobot) -> str:
    """The webhook as the page shows it: its host and the last 4 characters of its key."""
    url = crypto.unseal(robot.url_sealed, purpose=URL_PURPOSE)
    parts = urlsplit(url)
    key = parse_qs(parts.query).get(WEBHOOKS[robot.kind][2], [""])[0]
    return f"{parts.hostname} …{key[-4:]}"


def robot_error_help(error: str) -> str:
    """What a stored push error means for the secretary, and what to do."""
    if not error:
        return ""
    code = error.removeprefix("errcode ").split(":")[0]
    status = error.removeprefix("HTTP ") if error.startswith("HTTP ") else ""
    if code in {"93000", "300001", "400101", "400102", "400106"} or (
            status.startswith("4") and status != "429"):
        return _("The robot refused the address: it was removed from the group or its key "
                 "changed. Copy its webhook address again.")
    if code == "310000":
        return _("The robot's security settings refused the message. Choose signing (加签) "
                 "in the robot's security settings and enter its secret here.")
    if (code.isdigit() and int(code) in RATE_LIMITED) or status == "429":
        return _("Too many messages at once: it is tried again in a minute.")
    if error.startswith(("network", "HTTP", "unreadable")):
        return _("The robot's server could not be reached: it is tried again in a minute.")
    return _("The robot refused the message.")


def robot_test(*, by, robot: GroupRobot) -> PushResult:  # noqa: ANN001
    """Send a short test message now (also when the robot is switched off) and keep its
    error, if any, as `last_error` (cleared when it arrives)."""
    _check_access(by, robot.area)
    with translation.override(settings.LANGUAGE_CODE):
        title = _("Test message from fangkong")
        text = _("This group will get a short summary when new alerts are raised in "
                 "%(area)s: how many, how urgent, in which grid. Names, addresses and phone "
                 "numbers are never sent.") % {"area": _plain(robot.area.name)}
        text += "\n\n" + _alerts_link_markdown()
    result = push_markdown(robot_target(robot), title, text, timeout=PUSH_TIMEOUT)
    _keep_error(robot, result)
    return result


def _keep_error(robot: GroupRobot, result: PushResult) -> None:
    error = "" if result.ok else result.error[:200]
    if robot.last_error != error:
        robot.last_error = error
        GroupRobot.objects.filter(pk=robot.pk).update(last_error=error)


# Pushing --------------------------------------------------------------------------------


@dataclass
class _Batch:
    robot: GroupRobot
    target: RobotTarget
    rows: list[tuple[int, int, int, str, str]] = field(default_factory=list)
    # (alert pk, community id, grid id, severity, title)


def alerts_push(*, now: datetime | None = None) -> int:
    """Send each enabled robot one summary of the open alerts of its area not reported
    yet (raised within FRESH_FOR). Returns how many alerts were reported.

    An alert is marked pushed (`pushed_at`, and an AlertEvent "pushed") when its robot
    took the message, or refused it for good (wrong key, wrong secret: the error is kept
    as `last_error` and the same alerts are not sent again). After a rate limit or an
    outage they stay for the next run. Idempotent, but two runs must not overlap: the
    job handler ensures one at a time. Pushes go out in parallel, no database work in
    the threads."""
    now = now or clock.now()
    batches = _collect(now)
    if not batches:
        return 0
    names = dict(Area.objects.filter(pk__in={a for b in batches for r in b.rows
                                             for a in r[1:3]}).values_list("pk", "name"))
    with translation.override(settings.LANGUAGE_CODE):
        messages = [summary(b.robot.area, b.rows, _grid_labels(b, names)) for b in batches]
    deadline = time.monotonic() + RUN_BUDGET

    def send(item: tuple[_Batch, tuple[str, str]]) -> PushResult | None:
        batch, (title, text) = item
        if time.monotonic() > deadline:
            return None  # next run
        return push_markdown(batch.target, title, text, timeout=PUSH_TIMEOUT)

    with ThreadPoolExecutor(max_workers=min(PUSH_THREADS, len(batches))) as pool:
        results = list(pool.map(send, zip(batches, messages, strict=True)))
    reported: list[tuple[int, GroupRobot]] = []
    for batch, result in zip(batches, results, strict=True):
        if result is None:
            continue
        _keep_error(batch.robot, result)
        if result.ok or not result.retry:
            reported += [(row[0], batch.robot) for row in batch.rows]
    return _mark_pushed(reported, now)


def _collect(now: datetime) -> list[_Batch]:
    """The enabled robots with something to report, each with its alerts: one query for
    the robots, one for the alerts (their area columns, as Area.scoped_rows_q)."""
    robots = list(GroupRobot.objects.filter(enabled=True, area__kind__in=ROBOT_AREA_KINDS)
                  .select_related("area"))
    by_community = {r.area_id: r for r in robots if r.area.kind == AreaKind.COMMUNITY}
    by_street = {r.area_id: r for r in robots if r.area.kind == AreaKind.STREET}
    if not robots:
        return []
    rows = (Alert.objects.filter(Q(community_id__in=by_community) | Q(street_id__in=by_street),
                                 status=AlertStatus.OPEN, pushed_at__isnull=True,
                                 created_at__gt=now - FRESH_FOR)
            .order_by("pk").values_list("pk", "street_id", "community_id", "grid_id",
                                        "severity", "title"))
    batches: dict[int, _Batch] = {}
    for pk, street_id, community_id, grid_id, severity, title in rows:
        robot = by_community.get(community_id) or by_street.get(street_id)
        if robot is None:
            continue
        if robot.pk not in batches:
            batches[robot.pk] = _Batch(robot, robot_target(robot))
        batches[robot.pk].rows.append((pk, community_id, grid_id, severity, title))
    return list(batches.values())


def _grid_labels(batch: _Batch, names: dict[int, str]) -> dict[int, str]:
    """Grid names; in a street's message with their community (grids repeat names)."""
    street = batch.robot.area.kind == AreaKind.STREET
    return {grid: f"{names.get(community, '')} {names.get(grid, '')}".strip() if street
            else names.get(grid, "") for _pk, community, grid, _s, _t in batch.rows}


def _mark_pushed(reported: list[tuple[int, GroupRobot]], now: datetime) -> int:
    marked = 0
    with transaction.atomic():
        for start in range(0, len(reported), 500):
            chunk = reported[start:start + 500]
            ids = [pk for pk, _robot in chunk]
            fresh = set(Alert.objects.filter(pk__in=ids, pushed_at__isnull=True)
                        .values_list("pk", flat=True))
            Alert.objects.filter(pk__in=fresh).update(pushed_at=now)
            AlertEvent.objects.bulk_create([
                AlertEvent(alert_id=pk, what="pushed", at=now,
                           detail=f"{robot.get_kind_display()} · {robot.area.name}"[:200])
                for pk, robot in chunk if pk in fresh])
            marked += len(fresh)
    return marked


def summary(area: Area, rows: list[tuple[int, int, int, str, str]],
            grid_labels: dict[int, str]) -> tuple[str, str]:
    """(title, markdown) of one robot's message: counts by severity and by title, then per
    grid, then the link to the alert list. Only counts, alert titles and area names."""
    title = _("%(area)s: %(count)s new alerts") % {"area": _plain(area.name),
                                                   "count": len(rows)}
    head = [_("**Urgency:** %(counts)s") % {"counts": _severity_line(Counter(r[3]
                                                                             for r in rows))},
            _("**Kind:** %(counts)s") % {"counts": _title_line(rows)},
            _("**By grid:**")]
    per_grid: dict[int, list[tuple[int, int, int, str, str]]] = defaultdict(list)
    for row in rows:
        per_grid[row[2]].append(row)
    grids = sorted(per_grid, key=lambda g: (-len(per_grid[g]), grid_labels.get(g, "")))
    # Blank lines between paragraphs: DingTalk's markdown joins single line breaks.
    head = [line for part in head for line in (part, "")]
    tail = ["", _alerts_link_markdown()]
    # Leave room for the "more grids" line: the link at the end must never be cut off.
    budget = MAX_CONTENT_BYTES - len(f"### {title}\n\n".encode()) - 120
    used = sum(len(line.encode()) + 1 for line in head + tail)
    lines = list(head)
    for shown, grid in enumerate(grids):
        grid_rows = per_grid[grid]
        line = "- " + _("**%(grid)s** %(count)s (%(urgency)s; %(kinds)s)") % {
            "grid": _plain(grid_labels.get(grid, "")) or "?", "count": len(grid_rows),
            "urgency": _severity_line(Counter(r[3] for r in grid_rows)),
            "kinds": _title_line(grid_rows)}
        if used + len(line.encode()) + 1 > budget:
            lines.append(_("… and %(n)s more grids") % {"n": len(grids) - shown})
            break
        lines.append(line)
        used += len(line.encode()) + 1
    return title, "\n".join(lines + tail)


def _title_line(rows: list[tuple[int, int, int, str, str]]) -> str:
    return " · ".join(f"{_plain(t)} {n}" for t, n in Counter(r[4] for r in rows).most_common())


def _severity_line(counts: Counter) -> str:
    known = [f"{SEVERITY_LABELS[s]} {counts[s]}" for s in SEVERITY_ORDER if counts[s]]
    other = sum(n for s, n in counts.items() if s not in SEVERITY_LABELS)
    return " · ".join(known + ([_("other %(n)s") % {"n": other}] if other else []))


def _plain(text: str) -> str:
    """Text without markdown: titles and area names are typed by staff."""
    return " ".join(str(text).translate(_MARKDOWN).split())


def _alerts_link_markdown() -> str:
    link = settings.PUBLIC_URL.rstrip("/") + reverse("followup:alerts")
    return "[" + _("Open the alert list") + f"]({link})"
