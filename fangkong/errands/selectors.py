"""Reads of errands: the access gate, the community queue and a helper's tasks.

Who reads an errand:
- workers with the errands capability whose area holds its resident (the whole errand);
- the helper it is given to, while it is open and for a week after it closed (the task
  page, `helper_views.task`, shows only what the task needs);
- the resident, on their own page (its status and progress, `resident_errands`).
Nobody else: the gate answers 404.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.core.paginator import Page, Paginator
from django.db.models import Count, Q, QuerySet
from django.http import Http404
from django.utils.translation import gettext as _

from fangkong.accounts.models import Role, User
from fangkong.accounts.roles import ROLE_CAPABILITIES, Can, can
from fangkong.accounts.scope import NOTHING, grid_scope_q
from fangkong.errands.models import OPEN, Errand, ErrandKind, Skill, VolunteerStatus
from fangkong.lib import clock
from fangkong.residents.models import Resident

QUEUE_PAGE = 50
_QUEUE_RELATED = ("resident", "household", "household__building", "grid", "assigned_to")


def handled_q(user) -> Q:  # noqa: ANN001
    """The errands a worker handles: those of the residents of their area."""
    if not can(user, Can.HANDLE_ERRANDS):
        return NOTHING
    return grid_scope_q(user)


def errand_for_user(user, errand_id: int) -> Errand:  # noqa: ANN001
    """The access gate of an errand: its handlers and its helper; 404 for anyone else."""
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        raise Http404
    # A helper reads an errand given to them while it is open and for a week after it
    # closed (their list of the last week), no longer.
    helper = Q(assigned_to_id=user.pk) & (Q(status__in=OPEN) | Q(
        closed_at__gte=clock.now() - timedelta(days=7)))
    errand = (Errand.objects.filter(handled_q(user) | helper, pk=errand_id)
              .select_related(*_QUEUE_RELATED, "created_by").first())
    if errand is None:
        raise Http404
    return errand


def resident_for_errand(user, resident_id: int) -> Resident:  # noqa: ANN001
    """A resident a worker may ask an errand for: 404 outside their area."""
    resident = (Resident.objects.filter(handled_q(user), pk=resident_id)
                .select_related("household", "household__building", "grid").first())
    if resident is None:
        raise Http404
    return resident


@dataclass
class Queue:
    page: Page
    counts: dict[str, int]  # status -> open errands of the area
    overdue: int
    flagged: int
    kind: str
    status: str


def queue(user, *, kind: str = "", status: str = "", page: int = 1,  # noqa: ANN001
          now: datetime | None = None) -> Queue:
    """The open errands of the user's area, most urgent first (urgency, then the longest
    waiting; the vulnerable and isolated are marked on each row), one page of 50, with
    the counts per status. A fixed number of queries, whatever the size of the queue."""
    now = now or clock.now()
    rows = Errand.objects.filter(handled_q(user), status__in=OPEN)
    totals = rows.aggregate(
        overdue=Count("pk", filter=Q(due_at__lt=now)), flagged=Count("pk", filter=Q(
            flagged=True)),
        **{f"n_{s}": Count("pk", filter=Q(status=s)) for s in OPEN})
    counts = {s: totals[f"n_{s}"] for s in OPEN}
    overdue, flagged = totals["overdue"], totals["flagged"]
    shown = rows
    if kind in ErrandKind.values:
        shown = shown.filter(kind=kind)
    if status in OPEN:
        shown = shown.filter(status=status)
    shown = (shown.select_related(*_QUEUE_RELATED)
             .order_by("urgency_rank", "created_at", "pk"))
    paginator = Paginator(shown, QUEUE_PAGE, allow_empty_first_page=True)
    return Queue(page=paginator.get_page(page), counts=counts, overdue=overdue,
                 flagged=flagged, kind=kind, status=status)


def helpers_q_for(errand: Errand) -> Q:
    """Who may be given an errand (a filter over users): the verified volunteers of its
    community, and the workers with the errands capability posted at its grid or
    community."""
    staff_roles = [role for role, capabilities in ROLE_CAPABILITIES.items()
                   if Can.HANDLE_ERRANDS in capabilities]
    return (Q(is_active=True) & (
        Q(role=Role.VOLUNTEER, volunteer__status=VolunteerStatus.VERIFIED,
          volunteer__community_id=errand.community_id)
        | Q(role__in=staff_roles, area_id__in=[errand.grid_id, errand.community_id])))


SKILL_FOR_KIND = {ErrandKind.MEDICINE: Skill.MEDICAL, ErrandKind.REPAIR: Skill.REPAIR,
                  ErrandKind.GROCERIES: Skill.DRIVER}


@dataclass
class Candidate:
    user: User
    open_tasks: int
    same_grid: bool
    skill_match: bool

    @property
    def label(self) -> str:
        role = (_("volunteer") if self.user.role == Role.VOLUNTEER
                else self.user.get_role_display())
        words = [self.user.display_name, role,
                 _("%(n)d open") % {"n": self.open_tasks}]
        if self.same_grid:
            words.append(_("this grid"))
        if self.skill_match:
            words.append(_("has the skill"))
        return " · ".join(str(w) for w in words)


def helper_suggestions(errand: Errand) -> list[Candidate]:
    """Who may be given the errand, best first: workers of its own grid, then those with
    the skill it needs (medical, repairs, a driver for groceries), then the fewest open
    errands. One query."""
    users = (User.objects.filter(helpers_q_for(errand)).select_related("volunteer")
             .annotate(open_tasks=Count("errands", filter=Q(errands__status__in=OPEN)))
             .order_by("pk"))
    wanted = SKILL_FOR_KIND.get(errand.kind)
    candidates = []
    for user in users:
        volunteer = getattr(user, "volunteer", None)
        skills = volunteer.skills if volunteer is not None else []
        candidates.append(Candidate(user=user, open_tasks=user.open_tasks,
                                    same_grid=user.area_id == errand.grid_id,
                                    skill_match=bool(wanted) and wanted in skills))
    candidates.sort(key=lambda c: (not c.same_grid, not c.skill_match, c.open_tasks,
                                   c.user.display_name))
    return candidates


def my_tasks(user) -> list[Errand]:  # noqa: ANN001
    """The open errands given to the user, and those they closed in the last week."""
    if not getattr(user, "is_authenticated", False):
        return []
    week_ago = clock.now() - timedelta(days=7)
    return list(Errand.objects.filter(assigned_to_id=user.pk)
                .filter(Q(status__in=OPEN) | Q(closed_at__gte=week_ago))
                .select_related("household", "household__building", "grid")
                .order_by("urgency_rank", "created_at", "pk")[:200])


def resident_errands(resident: Resident) -> QuerySet[Errand]:
    """A resident's errands, newest first, with their lines and history."""
    return (Errand.objects.filter(resident=resident).prefetch_related("items")
            .select_related("assigned_to").order_by("-created_at", "-pk"))


def is_overdue(errand: Errand, now: datetime | None = None) -> bool:
    return errand.status in OPEN and errand.due_at < (now or clock.now())

