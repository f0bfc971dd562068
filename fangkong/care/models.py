"""Care for the workers: the difficulties (困难诉求) staff file, and the care officers
(关爱专员) of each street who hear them.

A difficulty belongs to the staff member who filed it and carries the areas of their
post (district, street, community when they work in one), so handlers and dashboards
find it with one indexed equality. A confidential difficulty is read only by its filer
and the care officers of its street; everyone else sees it only as a count. Every step
(filed, acknowledged, assigned, escalated, resolved, rated, reopened) is kept in
`DifficultyEvent`.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from fangkong.places.models import Area


class DifficultyKind(models.TextChoices):
    WORK = "work", _("Work")
    HEALTH = "health", _("Health")
    FAMILY = "family", _("Family")
    CHILDCARE = "childcare", _("Childcare")
    TRANSPORT = "transport", _("Transport")
    PROTECTIVE_EQUIPMENT = "ppe", _("Protective equipment")
    PAY = "pay", _("Pay")
    OTHER = "other", _("Other")


class Urgency(models.TextChoices):
    NORMAL = "normal", _("Normal")
    URGENT = "urgent", _("Urgent")


class DifficultyStatus(models.TextChoices):
    OPEN = "open", _("Waiting")
    ACKNOWLEDGED = "acknowledged", _("Being handled")
    RESOLVED = "resolved", _("Resolved, waiting for your rating")
    CLOSED = "closed", _("Closed")


# Statuses in which a handler still owes the filer something.
PENDING = (DifficultyStatus.OPEN, DifficultyStatus.ACKNOWLEDGED)


class Level(models.TextChoices):
    """Who holds a difficulty: the community secretary, the street's care officer, or the
    district administrator (after escalation)."""

    COMMUNITY = "community", _("Community secretary")
    STREET = "street", _("Street care officer")
    DISTRICT = "district", _("District administrator")


LEVEL_ORDER = [Level.COMMUNITY, Level.STREET, Level.DISTRICT]


class CareOfficer(models.Model):
    """A staff member designated to hear the difficulties of a street, confidential ones
    included. A street may have several."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE,
                             related_name="care_posts", verbose_name=_("staff member"))
    street = models.ForeignKey(Area, on_delete=models.CASCADE, related_name="care_officers",
                               verbose_name=_("street"))
    designated_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL,
                                      null=True, related_name="+")
    designated_at = models.DateTimeField()

    class Meta:
        verbose_name = _("care officer")
        verbose_name_plural = _("care officers")
        constraints = [
            models.UniqueConstraint(fields=["user", "street"], name="care_officer_once"),
        ]

    def __str__(self) -> str:
        return f"{self.user} @ {self.street}"


class Difficulty(models.Model):
    filed_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE,
                                 related_name="difficulties")
    # The filer's post when filing: its path (for "everything under this area") and the
    # district, street and community above it (community is empty for street staff).
    area_path = models.CharField(max_length=255, db_index=True)
    district = models.ForeignKey(Area, on_delete=models.PROTECT, related_name="+")
    street = models.ForeignKey(Area, on_delete=models.PROTECT, related_name="+")
    community = models.ForeignKey(Area, on_delete=models.PROTECT, null=True, blank=True,
                                  related_name="+")
    kind = models.CharField(_("kind"), max_length=12, choices=DifficultyKind.choices)
    details = models.TextField(_("details"), max_length=1000)
    urgency = models.CharField(_("urgency"), max_length=8, choices=Urgency.choices,
                               default=Urgency.NORMAL)
    confidential = models.BooleanField(_("confidential"), default=False)
    status = models.CharField(_("status"), max_length=12, choices=DifficultyStatus.choices,
                              default=DifficultyStatus.OPEN)
    level = models.CharField(_("held by"), max_length=10, choices=Level.choices)
    assigned_to = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL,
                                    null=True, blank=True, related_name="+")
    filed_at = models.DateTimeField()
    due_at = models.DateTimeField()  # the current deadline for a resolution
    deadline_hours = models.PositiveSmallIntegerField()  # by kind and urgency (services)
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL,
                                    null=True, blank=True, related_name="+")
    resolution = models.CharField(_("what was done"), max_length=500, blank=True)
    rating = models.PositiveSmallIntegerField(_("rating"), null=True, blank=True)
    rating_comment = models.CharField(_("comment"), max_length=300, blank=True)
    rated_at = models.DateTimeField(null=True, blank=True)
    times_reopened = models.PositiveSmallIntegerField(default=0)

    class Meta:
        verbose_name = _("difficulty")
        verbose_name_plural = _("difficulties")
        ordering = ["-filed_at", "-pk"]
        indexes = [
            models.Index(fields=["status", "due_at"], name="difficulty_due"),
            models.Index(fields=["street", "status"], name="difficulty_street"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(rating__isnull=True) | Q(rating__gte=1, rating__lte=5),
                name="difficulty_rating_1_to_5"),
            models.CheckConstraint(
                condition=~Q(confidential=True, level="community"),
                name="difficulty_confidential_not_at_community"),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.get_kind_display()}"

    @property
    def is_pending(self) -> bool:
        return self.status in PENDING

    @property
    def stars(self) -> str:
        return "★" * (self.rating or 0)


class DifficultyEvent(models.Model):
    difficulty = models.ForeignKey(Difficulty, on_delete=models.CASCADE,
                                   related_name="events")
    # filed / acknowledged / assigned / escalated / resolved / rated / reopened
    what = models.CharField(max_length=12)
    detail = models.CharField(max_length=200, blank=True)
    by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True,
                           related_name="+")
    at = models.DateTimeField()

    class Meta:
        ordering = ["at", "pk"]

    def __str__(self) -> str:
        return f"{self.what} {self.at:%Y-%m-%d %H:%M}"


# --- The A/B shift rota (AB岗, 轮休) ---------------------------------------------------------
#
# A community's posts and their daily shifts; the staff on its rota in teams A and B with
# their skills, leave and wishes; rota plans made by `fangkong.care.rota` (a draft until
# the secretary publishes it) and their shifts, which workers swap with approval and which
# the allowance ledger counts once worked.


class PostKind(models.TextChoices):
    GATE = "gate", _("Gate")
    PATROL = "patrol", _("Grid patrol")
    OFFICE = "office", _("Office")
    NIGHT = "night", _("Night watch")
    OTHER = "other", _("Other")


class Post(models.Model):
    community = models.ForeignKey(Area, on_delete=models.CASCADE, related_name="rota_posts")
    name = models.CharField(_("name"), max_length=40)
    kind = models.CharField(_("kind"), max_length=8, choices=PostKind.choices)
    active = models.BooleanField(_("in use"), default=True)

    class Meta:
        verbose_name = _("post")
        verbose_name_plural = _("posts")
        ordering = ["community", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["community", "name"], name="post_name_once"),
        ]

    def __str__(self) -> str:
        return self.name


class PostShift(models.Model):
    """A daily shift of a post, from `start_hour` to `end_hour` (an end at or before the
    start runs past midnight), for `people` people, optionally needing a skill."""

    post = models.ForeignKey(Post, on_delete=models.CASCADE, related_name="shifts")
    name = models.CharField(_("shift"), max_length=20)
    start_hour = models.PositiveSmallIntegerField(_("from (hour)"))
    end_hour = models.PositiveSmallIntegerField(_("until (hour)"))
    people = models.PositiveSmallIntegerField(_("people"), default=1)
    skill = models.CharField(_("skill needed"), max_length=20, blank=True)

    class Meta:
        verbose_name = _("shift")
        verbose_name_plural = _("shifts")
        ordering = ["post", "start_hour", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["post", "name"], name="post_shift_name_once"),
            models.CheckConstraint(condition=Q(start_hour__lte=23) & Q(end_hour__lte=24)
                                   & Q(people__gte=1) & Q(people__lte=20),
                                   name="post_shift_sane"),
        ]

    def __str__(self) -> str:
        return f"{self.name} {self.start_hour:02d}:00–{self.end_hour:02d}:00"

    @property
    def hours(self) -> int:
        return (self.end_hour - self.start_hour) % 24 or 24


class Team(models.TextChoices):
    A = "A", _("Team A")
    B = "B", _("Team B")


class MemberKind(models.TextChoices):
    CADRE = "cadre", _("Sent-down cadre")
    WORKER = "worker", _("Community worker")


class RotaMember(models.Model):
    """A staff member on a community's rota: their team, kind and skills, and the shifts
    they would rather not work."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE,
                                related_name="rota_member", verbose_name=_("staff member"))
    community = models.ForeignKey(Area, on_delete=models.CASCADE, related_name="rota_members")
    team = models.CharField(_("team"), max_length=1, choices=Team.choices)
    kind = models.CharField(_("kind"), max_length=8, choices=MemberKind.choices,
                            default=MemberKind.WORKER)
    skills = models.CharField(_("skills"), max_length=100, blank=True)  # comma separated
    avoid_shifts = models.CharField(_("would rather not work"), max_length=100, blank=True)
    active = models.BooleanField(_("on the rota"), default=True)

    class Meta:
        verbose_name = _("rota member")
        verbose_name_plural = _("rota members")
        ordering = ["community", "team", "pk"]

    def __str__(self) -> str:
        return f"{self.user} ({self.team})"

    @property
    def skill_set(self) -> frozenset[str]:
        return frozenset(s.strip() for s in self.skills.split(",") if s.strip())

    @property
    def avoid_set(self) -> frozenset[str]:
        return frozenset(s.strip() for s in self.avoid_shifts.split(",") if s.strip())


class DayOffKind(models.TextChoices):
    LEAVE = "leave", _("Leave (never scheduled)")
    WISH = "wish", _("Would rather not work (if possible)")


class DayOff(models.Model):
    member = models.ForeignKey(RotaMember, on_delete=models.CASCADE, related_name="days_off")
    first_day = models.DateField(_("from"))
    last_day = models.DateField(_("until"))
    kind = models.CharField(_("kind"), max_length=6, choices=DayOffKind.choices,
                            default=DayOffKind.LEAVE)
    note = models.CharField(_("note"), max_length=100, blank=True)

    class Meta:
        verbose_name = _("day off")
        verbose_name_plural = _("days off")
        ordering = ["first_day", "pk"]
        constraints = [
            models.CheckConstraint(condition=Q(last_day__gte=models.F("first_day")),
                                   name="day_off_in_order"),
        ]

    def __str__(self) -> str:
        return f"{self.member} {self.first_day}–{self.last_day}"


class PlanStatus(models.TextChoices):
    DRAFT = "draft", _("Draft")
    PUBLISHED = "published", _("Published")
    DISCARDED = "discarded", _("Discarded")


class RotaPlan(models.Model):
    """A rota for a community's days [first_day, first_day + days): a draft until
    published; publishing replaces the shifts other plans had from then on."""

    community = models.ForeignKey(Area, on_delete=models.CASCADE, related_name="rota_plans")
    first_day = models.DateField(_("first day"))
    days = models.PositiveSmallIntegerField(_("days"))
    ab_mode = models.CharField(max_length=8, default="prefer")
    ab_block_days = models.PositiveSmallIntegerField(default=1)
    status = models.CharField(max_length=10, choices=PlanStatus.choices,
                              default=PlanStatus.DRAFT)
    method = models.CharField(max_length=20)
    seconds = models.FloatField()
    uncovered = models.PositiveIntegerField(default=0)  # person-shifts left short
    call_ins = models.PositiveIntegerField(default=0)
    # The shifts left short, worded for the secretary when the plan was made:
    # [{"day": "2026-12-01", "post": ..., "shift": ..., "missing": 1, "message": ...}].
    conflicts = models.JSONField(default=list, blank=True)
    notes = models.JSONField(default=list, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL,
                                   null=True, related_name="+")
    created_at = models.DateTimeField()
    published_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL,
                                     null=True, blank=True, related_name="+")
    published_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("rota")
        verbose_name_plural = _("rotas")
        ordering = ["-created_at", "-pk"]

    def __str__(self) -> str:
        return f"{self.community} {self.first_day} +{self.days}"

    @property
    def last_day(self) -> date:
        return self.first_day + timedelta(days=self.days - 1)


class Attendance(models.TextChoices):
    PLANNED = "planned", _("Planned")
    ABSENT = "absent", _("Absent")


class ShiftAssignment(models.Model):
    """One person on one shift of one day. A published plan's shift counts as worked once
    it has ended, unless it was marked absent."""

    plan = models.ForeignKey(RotaPlan, on_delete=models.CASCADE, related_name="assignments")
    community = models.ForeignKey(Area, on_delete=models.CASCADE, related_name="+")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE,
                             related_name="shifts")
    shift = models.ForeignKey(PostShift, on_delete=models.PROTECT, related_name="assignments")
    day = models.DateField()
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField()
    hours = models.PositiveSmallIntegerField()
    call_in = models.BooleanField(default=False)  # worked by the team off duty
    attendance = models.CharField(max_length=8, choices=Attendance.choices,
                                  default=Attendance.PLANNED)
    absence_note = models.CharField(_("why absent"), max_length=100, blank=True)
    # Set when a swap moved the shift to `user` (history stays in ShiftSwap).
    swapped_from = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL,
                                     null=True, blank=True, related_name="+")

    class Meta:
        verbose_name = _("assigned shift")
        verbose_name_plural = _("assigned shifts")
        ordering = ["day", "starts_at", "pk"]
        indexes = [
            models.Index(fields=["user", "day"], name="assignment_user_day"),
            models.Index(fields=["community", "day"], name="assignment_community_day"),
        ]

    def __str__(self) -> str:
        return f"{self.user} {self.day} {self.shift}"


def worked_q(now: datetime, prefix: str = "") -> Q:
    """The assigned shifts that count as worked at `now`: of a published plan, ended, not
    marked absent (the allowance ledger and the workload read this one definition)."""
    return Q(**{f"{prefix}plan__status": PlanStatus.PUBLISHED, f"{prefix}ends_at__lte": now,
                f"{prefix}attendance": Attendance.PLANNED})


class SwapStatus(models.TextChoices):
    ASKED = "asked", _("Waiting for the colleague")
    AGREED = "agreed", _("Waiting for approval")
    APPROVED = "approved", _("Approved")
    DECLINED = "declined", _("Declined by the colleague")
    REFUSED = "refused", pgettext_lazy("swap", "Refused")
    CANCELLED = "cancelled", _("Withdrawn")


SWAP_OPEN = (SwapStatus.ASKED, SwapStatus.AGREED)


class ShiftSwap(models.Model):
    """A worker asks a colleague to take one of their shifts (optionally taking one of
    the colleague's in return); the colleague agrees; the secretary approves."""

    community = models.ForeignKey(Area, on_delete=models.CASCADE, related_name="+")
    shift = models.ForeignKey(ShiftAssignment, on_delete=models.CASCADE,
                              related_name="swaps_out")
    in_return = models.ForeignKey(ShiftAssignment, on_delete=models.CASCADE, null=True,
                                  blank=True, related_name="swaps_in")
    asked_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE,
                                 related_name="+")
    colleague = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE,
                                  related_name="+")
    note = models.CharField(_("note"), max_length=100, blank=True)
    status = models.CharField(max_length=10, choices=SwapStatus.choices,
                              default=SwapStatus.ASKED)
    asked_at = models.DateTimeField()
    answered_at = models.DateTimeField(null=True, blank=True)
    decided_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL,
                                   null=True, blank=True, related_name="+")
    decided_at = models.DateTimeField(null=True, blank=True)
    reason = models.CharField(_("reason"), max_length=300, blank=True)

    class Meta:
        verbose_name = _("shift swap")
        verbose_name_plural = _("shift swaps")
        ordering = ["-asked_at", "-pk"]
        constraints = [
            # One open request per shift at a time.
            models.UniqueConstraint(fields=["shift"], condition=Q(status__in=["asked",
                                                                              "agreed"]),
                                    name="swap_one_open_per_shift"),
        ]

    def __str__(self) -> str:
        return f"swap {self.pk} ({self.status})"


# --- Workload warnings -----------------------------------------------------------------------


class OverloadWarning(models.Model):
    """A staff member found overloaded on a day (`care.workload`, daily), shown to the
    secretary of their community until someone notes it."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE,
                             related_name="+")
    community = models.ForeignKey(Area, on_delete=models.CASCADE, related_name="+")
    on_day = models.DateField()
    reasons = models.JSONField(default=list)  # worded for the secretary
    noted_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL,
                                 null=True, blank=True, related_name="+")
    noted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-on_day", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["user", "on_day"], name="overload_once_a_day"),
        ]

    def __str__(self) -> str:
        return f"{self.user} {self.on_day}"


# --- Allowances and insurance ----------------------------------------------------------------


class AllowanceRule(models.Model):
    """An allowance per day on duty for the staff of an area (a city, district, street or
    community) with a role and/or kind (blank = any), from `valid_from` until `valid_to`
    (inclusive; empty = open). For a day, the rule of the deepest area wins, then the
    most specific (role and kind over role over kind over any); a withdrawn rule pays
    nothing."""

    area = models.ForeignKey(Area, on_delete=models.PROTECT, related_name="+",
                             verbose_name=_("area"))
    area_path = models.CharField(max_length=255, db_index=True)
    role = models.CharField(_("role"), max_length=24, blank=True)
    member_kind = models.CharField(_("kind"), max_length=8, choices=MemberKind.choices,
                                   blank=True)
    amount = models.DecimalField(_("yuan per day on duty"), max_digits=7, decimal_places=2)
    valid_from = models.DateField(_("valid from"))
    valid_to = models.DateField(_("valid until"), null=True, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL,
                                   null=True, related_name="+")
    created_at = models.DateTimeField()
    # A rule typed wrong is withdrawn, never deleted: it then pays nothing, past days
    # included, and stays on record with who withdrew it, when and why.
    withdrawn_at = models.DateTimeField(null=True, blank=True)
    withdrawn_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL,
                                     null=True, blank=True, related_name="+")
    withdrawn_reason = models.CharField(_("why withdrawn"), max_length=200, blank=True)

    class Meta:
        verbose_name = _("allowance rule")
        verbose_name_plural = _("allowance rules")
        ordering = ["area_path", "role", "member_kind", "valid_from"]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gte=0) & Q(amount__lte=10000),
                                   name="allowance_amount_sane"),
            models.CheckConstraint(condition=Q(valid_to__isnull=True)
                                   | Q(valid_to__gte=models.F("valid_from")),
                                   name="allowance_dates_in_order"),
            models.CheckConstraint(condition=Q(withdrawn_at__isnull=True)
                                   | ~Q(withdrawn_reason=""),
                                   name="allowance_withdrawn_with_reason"),
        ]

    def __str__(self) -> str:
        return f"{self.area} {self.role or '*'} {self.member_kind or '*'} {self.amount}"


class InsuranceKind(models.TextChoices):
    ACCIDENT = "accident", _("Accident")
    ILLNESS = "illness", _("Critical illness")
    LIFE = "life", _("Life")
    OTHER = "other", _("Other")


class InsurancePolicy(models.Model):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE,
                             related_name="insurance_policies", verbose_name=_("insured"))
    kind = models.CharField(_("kind"), max_length=10, choices=InsuranceKind.choices)
    insurer = models.CharField(_("insurer"), max_length=60)
    policy_number = models.CharField(_("policy number"), max_length=40)
    sum_insured = models.DecimalField(_("sum insured (yuan)"), max_digits=10,
                                      decimal_places=2, null=True, blank=True)
    covers_from = models.DateField(_("covers from"))
    covers_to = models.DateField(_("covers until"))
    recorded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL,
                                    null=True, related_name="+")
    recorded_at = models.DateTimeField()

    class Meta:
        verbose_name = _("insurance policy")
        verbose_name_plural = _("insurance policies")
        ordering = ["-covers_to", "pk"]
        constraints = [
            models.CheckConstraint(condition=Q(covers_to__gte=models.F("covers_from")),
                                   name="insurance_dates_in_order"),
            models.UniqueConstraint(fields=["insurer", "policy_number", "user"],
                                    name="insurance_policy_once"),
        ]

    def __str__(self) -> str:
        return f"{self.insurer} {self.policy_number}"
