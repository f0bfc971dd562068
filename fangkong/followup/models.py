"""The follow-up robot's data: questionnaires, campaigns, rounds, contacts, attempts,
alerts.

- A **campaign** asks one questionnaire version of a target group on a schedule, through a
  channel plan (web link, SMS, voice call, door visit, in order).
- A **round** is one scheduled run of a campaign. Opening it writes one **contact** per
  target resident; the contact is also the due-work row of the dispatcher (state, due
  time, lease), so "what must be done now" is one indexed range scan.
- An **attempt** is one try on one channel, with its outcome. Its `key` is the idempotency
  key handed to the channel, so a retried send never reaches a resident twice.
- An **alert** is raised by an escalation rule (or because nobody was reached), assigned to
  the resident's grid and escalated up the area tree when its deadline passes.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from fangkong.places.models import Area, ScopedToGrid
from fangkong.residents.models import Resident


class ChannelName(models.TextChoices):
    WEB = "web", _("Web link")
    SMS = "sms", _("SMS")
    VOICE = "voice", _("Voice call")
    VISIT = "visit", _("Door visit")


class Questionnaire(models.Model):
    name = models.CharField(_("name"), max_length=80)
    description = models.CharField(_("description"), max_length=300, blank=True)
    # Shipped questionnaires have no area and are offered everywhere; others belong to the
    # area that wrote them and the areas below it.
    area = models.ForeignKey(Area, on_delete=models.PROTECT, null=True, blank=True,
                             related_name="+")
    slug = models.SlugField(max_length=48, blank=True)  # shipped ones: "daily_health"
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("questionnaire")
        verbose_name_plural = _("questionnaires")
        constraints = [
            models.UniqueConstraint(fields=["slug"], condition=~Q(slug=""),
                                    name="questionnaire_unique_slug"),
        ]

    def __str__(self) -> str:
        return self.name


class QuestionnaireVersion(models.Model):
    """An immutable version: a campaign keeps the version it started with."""

    questionnaire = models.ForeignKey(Questionnaire, on_delete=models.CASCADE,
                                      related_name="versions")
    number = models.PositiveSmallIntegerField()
    spec = models.JSONField()  # fangkong.followup.questions.parse_spec
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL,
                                   null=True, blank=True, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("questionnaire version")
        verbose_name_plural = _("questionnaire versions")
        constraints = [
            models.UniqueConstraint(fields=["questionnaire", "number"],
                                    name="questionnaire_version_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.questionnaire} v{self.number}"


class CampaignStatus(models.TextChoices):
    DRAFT = "draft", _("Draft")
    RUNNING = "running", pgettext_lazy("campaign", "Running")
    PAUSED = "paused", _("Paused")
    FINISHED = "finished", _("Finished")


class Campaign(models.Model):
    name = models.CharField(_("name"), max_length=80)
    # Shown to every resident who is asked: the minimum scope of what is collected and why.
    purpose = models.CharField(_("purpose"), max_length=300)
    area = models.ForeignKey(Area, on_delete=models.PROTECT, related_name="+",
                             verbose_name=_("area"))
    version = models.ForeignKey(QuestionnaireVersion, on_delete=models.PROTECT,
                                related_name="campaigns", verbose_name=_("questionnaire"))
    # {"tags": [slug...], "isolation": "" | "any" | "isolation" | "monitoring",
    #  "age_min": int | null, "age_max": int | null}; empty = every resident living there.
    target = models.JSONField(default=dict, blank=True)
    times = models.JSONField(default=list)  # ["09:00", "16:00"], local time
    weekdays = models.JSONField(default=list, blank=True)  # 0=Monday; empty = every day
    starts_on = models.DateField(_("first day"))
    ends_on = models.DateField(_("last day"), null=True, blank=True)
    # For isolation targets: each resident is asked until their own period ends.
    round_minutes = models.PositiveSmallIntegerField(_("minutes a round stays open"),
                                                     default=360)
    # [{"channel": "web", "at": 0, "retries": 0, "spacing": 30, "busy_spacing": 5}, ...]:
    # minutes after the round opens; see fangkong.followup.plan.
    plan = models.JSONField(default=list)
    # Quiet hours, local "HH:MM" (start > end wraps midnight): no calls, no SMS.
    quiet_calls = models.JSONField(default=list, blank=True)  # ["21:00", "08:00"]
    quiet_sms = models.JSONField(default=list, blank=True)  # ["22:00", "07:00"]
    # {"voice": concurrent calls, "sms": messages per second, "web": messages per second}
    capacity = models.JSONField(default=dict, blank=True)
    proxy_answering = models.BooleanField(_("proxies answer for the people they look after"),
                                          default=True)
    status = models.CharField(_("status"), max_length=10, choices=CampaignStatus.choices,
                              default=CampaignStatus.DRAFT)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT,
                                   related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    # The next round to open (kept by the scheduler so "which campaign is due" is cheap).
    next_round_at = models.DateTimeField(null=True, blank=True, db_index=True)

    class Meta:
        verbose_name = _("campaign")
        verbose_name_plural = _("campaigns")

    def __str__(self) -> str:
        return self.name


class RoundStatus(models.TextChoices):
    OPEN = "open", _("Under way")
    CLOSED = "closed", _("Closed")


class Round(models.Model):
    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="rounds")
    scheduled_for = models.DateTimeField()
    closes_at = models.DateTimeField()
    status = models.CharField(max_length=8, choices=RoundStatus.choices,
                              default=RoundStatus.OPEN)
    targeted = models.PositiveIntegerField(default=0)
    opened_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("round")
        verbose_name_plural = _("rounds")
        ordering = ["-scheduled_for"]
        constraints = [
            models.UniqueConstraint(fields=["campaign", "scheduled_for"],
                                    name="round_unique_time"),
        ]

    def __str__(self) -> str:
        return f"{self.campaign} @ {self.scheduled_for:%Y-%m-%d %H:%M}"


class ContactState(models.TextChoices):
    PENDING = "pending", _("Not reached yet")
    ANSWERED = "answered", _("Answered")
    UNREACHED = "unreached", _("Not reached")
    OPTED_OUT = "opted_out", _("Refused")


class Contact(ScopedToGrid):
    """One resident in one round, and the dispatcher's work row for them."""

    # Every index of this table is paid on each write of a round's millions of contacts:
    # the columns are indexed only in the composite indexes below, which serve the lookups
    # that are made (a round's rows of a grid, community or street; a resident's history).
    district = models.ForeignKey(Area, on_delete=models.PROTECT, related_name="+",
                                 db_index=False)
    street = models.ForeignKey(Area, on_delete=models.PROTECT, related_name="+", db_index=False)
    community = models.ForeignKey(Area, on_delete=models.PROTECT, related_name="+",
                                  db_index=False)
    grid = models.ForeignKey(Area, on_delete=models.PROTECT, related_name="+", db_index=False)
    round = models.ForeignKey(Round, on_delete=models.CASCADE, related_name="contacts",
                              db_index=False)  # unique (round, resident) leads with it
    resident = models.ForeignKey(Resident, on_delete=models.CASCADE, related_name="contacts",
                                 db_index=False)  # (resident, round) leads with it
    state = models.CharField(max_length=10, choices=ContactState.choices,
                             default=ContactState.PENDING)
    step = models.PositiveSmallIntegerField(default=0)  # index into the campaign's plan
    tries = models.PositiveSmallIntegerField(default=0)  # attempts made on this step
    # When the dispatcher should act next; null = nothing to do by itself (waiting for an
    # answer, or on a worker's door-visit list).
    due_at = models.DateTimeField(null=True, blank=True)
    lease_owner = models.CharField(max_length=64, blank=True)
    lease_until = models.DateTimeField(null=True, blank=True)
    # {question key: [value as JSON, channel]}; Decimals are kept as strings.
    answers = models.JSONField(default=dict, blank=True)
    answered_via = models.CharField(max_length=8, choices=ChannelName.choices, blank=True)
    answered_at = models.DateTimeField(null=True, blank=True)
    answered_by_proxy = models.BooleanField(default=False)
    # Highest severity among the rules this contact's answers fired ("" = normal).
    severity = models.CharField(max_length=8, blank=True)
    # Blind index of the phone that answers for this resident when it is a proxy's: the
    # residents of one proxy are asked in one session.
    proxy_index = models.CharField(max_length=32, blank=True)

    class Meta:
        verbose_name = _("contact")
        verbose_name_plural = _("contacts")
        indexes = [
            models.Index(fields=["round", "step", "due_at"], name="contact_due",
                         condition=Q(state="pending")),
            models.Index(fields=["round", "grid"], name="contact_round_grid"),
            models.Index(fields=["round", "community"], name="contact_round_community"),
            models.Index(fields=["round", "street"], name="contact_round_street"),
            models.Index(fields=["resident", "round"], name="contact_resident"),
        ]
        constraints = [
            models.UniqueConstraint(fields=["round", "resident"], name="contact_unique"),
        ]

    def __str__(self) -> str:
        return f"contact {self.pk} ({self.state})"


class Outcome(models.TextChoices):
    SENDING = "sending", _("Sending")
    DELIVERED = "delivered", _("Delivered")
    ANSWERED = "answered", _("Answered")
    PARTIAL = "partial", _("Hung up midway")
    NO_ANSWER = "no_answer", _("No answer")
    BUSY = "busy", _("Busy")
    REJECTED = "rejected", _("Rejected")
    INVALID_NUMBER = "invalid", _("Number not in service")
    NO_MOBILE = "no_mobile", _("No mobile to text (landline)")
    OPTED_OUT = "opted_out", _("Opted out")
    THROTTLED = "throttled", _("Held back by the carrier")
    # A robot call that never reached the resident's phone because our side failed (the
    # trunk was down, a line process died): no try is spent, the call is made again.
    NOT_PLACED = "not_placed", _("Not placed (line or trunk down), called again")
    # The number was called as often today as carriers allow: the next channel takes over.
    CAPPED = "capped", _("Called too often today")
    FAILED = "failed", _("Failed")
    VISIT = "visit", _("On the door-visit list")


class Attempt(models.Model):
    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="attempts")
    channel = models.CharField(max_length=8, choices=ChannelName.choices)
    step = models.PositiveSmallIntegerField()
    try_number = models.PositiveSmallIntegerField()
    # The idempotency key given to the channel: one message per key, ever.
    key = models.CharField(max_length=40, unique=True)
    outcome = models.CharField(max_length=10, choices=Outcome.choices, default=Outcome.SENDING)
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    provider_id = models.CharField(max_length=64, blank=True)
    detail = models.CharField(max_length=200, blank=True)

    class Meta:
        verbose_name = _("attempt")
        verbose_name_plural = _("attempts")

    def __str__(self) -> str:
        return f"{self.key} {self.outcome}"


class AlertKind(models.TextChoices):
    RULE = "rule", _("Answer needs attention")
    UNREACHED = "unreached", _("Not reached")
    NOTICE = "notice", _("For your information")


class AlertStatus(models.TextChoices):
    OPEN = "open", _("Open")
    RESOLVED = "resolved", _("Resolved")


class AlertOutcome(models.TextChoices):
    VISITED = "visited", _("Visited, all well")
    FEVER_CLINIC = "fever_clinic", _("Sent to a fever clinic")
    ISOLATED = "isolated", _("Placed in home isolation")
    REACHED = "reached", _("Reached by phone, all well")
    FALSE_ALARM = "false_alarm", _("False alarm (wrong answer)")
    HELPED = "helped", _("Help arranged")
    NOT_HOME = "not_home", _("Not at home (moved, away)")
    ACKNOWLEDGED = "acknowledged", _("Noted")
    OTHER = "other", _("Other")


class Alert(ScopedToGrid):
    resident = models.ForeignKey(Resident, on_delete=models.CASCADE, related_name="alerts")
    kind = models.CharField(max_length=10, choices=AlertKind.choices, default=AlertKind.RULE)
    campaign = models.ForeignKey(Campaign, on_delete=models.SET_NULL, null=True, blank=True,
                                 related_name="alerts")
    contact = models.ForeignKey(Contact, on_delete=models.SET_NULL, null=True, blank=True,
                                related_name="alerts")
    rule_key = models.CharField(max_length=32, blank=True)
    severity = models.CharField(max_length=8)  # fangkong.followup.rules.Severity
    title = models.CharField(max_length=60)
    reason = models.CharField(max_length=200, blank=True)  # never more than the rule saw
    # Who must act: the resident's grid first, then up the tree as deadlines pass.
    assigned_area = models.ForeignKey(Area, on_delete=models.PROTECT, related_name="+")
    level = models.PositiveSmallIntegerField(default=0)  # 0 = grid, 1 = community, ...
    deadline_minutes = models.PositiveIntegerField(default=0)  # 0 = no deadline
    due_at = models.DateTimeField(null=True, blank=True)
    status = models.CharField(max_length=10, choices=AlertStatus.choices,
                              default=AlertStatus.OPEN)
    outcome = models.CharField(_("outcome"), max_length=14, choices=AlertOutcome.choices,
                               blank=True)
    note = models.CharField(_("note"), max_length=300, blank=True)
    resolved_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL,
                                    null=True, blank=True, related_name="+")
    resolved_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField()
    pushed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("alert")
        verbose_name_plural = _("alerts")
        indexes = [
            models.Index(fields=["grid", "status"], name="alert_grid_status"),
            models.Index(fields=["community", "status"], name="alert_community_status"),
            models.Index(fields=["status", "due_at"], name="alert_due",
                         condition=Q(status="open")),
            # The gate's question "an open fever alert for this person?" on every scan;
            # without it SQLite reads every open alert of the city through alert_due.
            models.Index(fields=["resident", "status"], name="alert_resident_status"),
        ]
        constraints = [
            # One open alert per rule per contact: a re-submitted answer does not pile up.
            models.UniqueConstraint(fields=["contact", "rule_key"],
                                    condition=Q(status="open") & Q(contact__isnull=False),
                                    name="alert_one_open_per_rule"),
        ]

    def __str__(self) -> str:
        return self.title


class AlertEvent(models.Model):
    alert = models.ForeignKey(Alert, on_delete=models.CASCADE, related_name="events")
    what = models.CharField(max_length=12)  # raised / escalated / resolved / pushed
    detail = models.CharField(max_length=200, blank=True)
    by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True,
                           blank=True, related_name="+")
    at = models.DateTimeField()

    class Meta:
        ordering = ["at", "pk"]

    def __str__(self) -> str:
        return f"{self.what} {self.at:%Y-%m-%d %H:%M}"


class RobotKind(models.TextChoices):
    WECOM = "wecom", _("WeCom group robot")
    DINGTALK = "dingtalk", _("DingTalk group robot")


class GroupRobot(models.Model):
    """A community's chat-group robot that receives alert summaries (no personal data)."""

    area = models.OneToOneField(Area, on_delete=models.CASCADE, related_name="group_robot")
    kind = models.CharField(max_length=10, choices=RobotKind.choices)
    url_sealed = models.BinaryField()  # the webhook URL holds the robot's key
    secret_sealed = models.BinaryField(null=True, blank=True)
    enabled = models.BooleanField(default=True)
    last_error = models.CharField(max_length=200, blank=True)

    def __str__(self) -> str:
        return f"{self.get_kind_display()} of {self.area_id}"


class SmsOptOut(models.Model):
    """A phone that replied TD (退订): no SMS, and no web link by SMS, goes to it again.
    Only the blind index is kept (fangkong.residents.personal.phone_index)."""

    phone_index = models.CharField(max_length=32, unique=True)
    at = models.DateTimeField()
    source_message_id = models.CharField(max_length=64, blank=True)

    class Meta:
        verbose_name = _("SMS opt-out")
        verbose_name_plural = _("SMS opt-outs")

    def __str__(self) -> str:
        return f"opt-out {self.at:%Y-%m-%d %H:%M}"


class SmsInboundOutcome(models.TextChoices):
    ANSWERED = "answered", _("Answered")
    PARTIAL = "partial", _("Answered in part, asked again")
    REASKED = "reasked", _("Not understood, asked again")
    HELP = "help", _("Asked for help")
    OPTED_OUT = "opted_out", _("Opted out")
    NOTHING_OPEN = "nothing_open", _("Nothing to answer")
    ERRAND = "errand", _("Asked for an errand")


class SmsInbound(models.Model):
    """One SMS reply from a known phone, processed once per gateway message id (a webhook
    delivered again changes nothing and sends no second reply). The text (at most 200
    characters) is kept only when it answered a pending contact."""

    message_id = models.CharField(max_length=64, unique=True)
    phone_index = models.CharField(max_length=32)
    received_at = models.DateTimeField()
    outcome = models.CharField(max_length=12, choices=SmsInboundOutcome.choices)
    text = models.CharField(max_length=200, blank=True)
    # Our answer to it, kept until the gateway has taken it, so a webhook delivered again
    # after a failed send re-sends the same reply under the same client id.
    reply = models.CharField(max_length=300, blank=True)
    replied_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("SMS reply received")
        verbose_name_plural = _("SMS replies received")
        indexes = [models.Index(fields=["phone_index", "received_at"], name="smsinbound_phone")]

    def __str__(self) -> str:
        return f"{self.message_id} {self.outcome}"


class LineMachine(models.Model):
    """A `fangkong lines` process (a line machine): its phone lines and the SIP trunk as
    it sees them, written every few seconds. The operations page reads these rows; any
    number of line machines share one database."""

    name = models.CharField(max_length=100, unique=True)
    lines = models.PositiveSmallIntegerField(default=0)
    busy = models.PositiveSmallIntegerField(default=0)
    # The calls under way, without numbers or names: [{"line": 3, "state": "ringing" |
    # "talking", "since": ISO time}].
    live = models.JSONField(default=list, blank=True)
    trunk_up = models.BooleanField(default=True)
    trunk_detail = models.CharField(max_length=200, blank=True)  # the last SIP failure
    trunk_down_since = models.DateTimeField(null=True, blank=True)
    restarts = models.PositiveIntegerField(default=0)  # line processes restarted
    started_at = models.DateTimeField()
    heartbeat_at = models.DateTimeField()

    class Meta:
        verbose_name = _("line machine")
        verbose_name_plural = _("line machines")

    def __str__(self) -> str:
        return self.name


class NumberDial(models.Model):
    """One robot call placed to a number (by its blind index): carriers cap how often one
    number may be called, so the line machine counts before it dials."""

    number_index = models.CharField(max_length=32)
    at = models.DateTimeField()

    class Meta:
        indexes = [models.Index(fields=["number_index", "at"], name="number_dial_recent")]

    def __str__(self) -> str:
        return f"dial {self.at:%Y-%m-%d %H:%M}"


class CallRecording(ScopedToGrid):
    """What a resident said after one question of a robot call: personal data, sealed
    (AES-GCM) at rest, heard only by the resident's workers, deleted after
    FANGKONG_VOICE_RECORDINGS_KEEP_DAYS. `needs_check`: the robot could not make the
    answer out; a worker listens and records the answer (`checked_*`)."""

    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="recordings")
    resident = models.ForeignKey(Resident, on_delete=models.CASCADE, related_name="+")
    attempt_key = models.CharField(max_length=40)
    question_key = models.CharField(max_length=48)
    heard = models.CharField(max_length=200, blank=True)  # the recogniser's text, if any
    audio_sealed = models.BinaryField()  # WAV, 8 kHz mono 16-bit, sealed "recording"
    seconds = models.FloatField(default=0)
    created_at = models.DateTimeField()
    needs_check = models.BooleanField(default=False)
    checked_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL,
                                   null=True, blank=True, related_name="+")
    checked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("call recording")
        verbose_name_plural = _("call recordings")
        indexes = [
            models.Index(fields=["grid", "needs_check"], name="recording_grid_check",
                         condition=Q(needs_check=True)),
            models.Index(fields=["created_at"], name="recording_created"),
        ]

    def __str__(self) -> str:
        return f"recording {self.pk} ({self.question_key})"


class VoicePrompt(models.Model):
    """A community's own recording of a sentence the robot says (a familiar voice gets
    more answers): it replaces the synthesised voice for calls of that area and the areas
    below it. `key` is the sentence's `Prompt.key` (a hash of its text); `audio` is WAV,
    8 kHz mono 16-bit, as a phone line carries it."""

    area = models.ForeignKey(Area, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=32)
    text = models.CharField(max_length=300)  # the sentence, as the robot would say it
    audio = models.BinaryField()
    seconds = models.FloatField(default=0)
    uploaded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL,
                                    null=True, blank=True, related_name="+")
    uploaded_at = models.DateTimeField()

    class Meta:
        verbose_name = _("recorded prompt")
        verbose_name_plural = _("recorded prompts")
        constraints = [models.UniqueConstraint(fields=["area", "key"],
                                               name="voice_prompt_unique")]

    def __str__(self) -> str:
        return self.text[:40]
