"""The append-only audit log: who saw unmasked personal data, who exported what, who
changed a resident (before/after, masked). UPDATE and DELETE are refused by database
triggers (see migration 0002), not only by the model."""

from __future__ import annotations

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class AuditAction(models.TextChoices):
    REVEAL_PHONE = "reveal_phone", _("Viewed full phone")
    REVEAL_ID_NUMBER = "reveal_id_number", _("Viewed full ID number")
    EXPORT = "export", _("Exported data")
    RESIDENT_CREATE = "resident_create", _("Added resident")
    RESIDENT_UPDATE = "resident_update", _("Changed resident")
    RESIDENT_MOVE_OUT = "resident_move_out", _("Marked resident moved out")
    HOUSEHOLD_CREATE = "household_create", _("Added household")
    STAFF_CREATE = "staff_create", _("Added staff member")
    STAFF_CHANGE = "staff_change", _("Changed staff member's role or area")
    TOKEN_CREATE = "token_create", _("Created API token")
    LOGIN_FAILED = "login_failed", _("Failed login")
    ID_NUMBER_CLASH = "id_number_clash", _("Typed an ID number registered in another area")
    ROSTER_IMPORT = "roster_import", _("Imported a roster")
    ROSTER_UNDO = "roster_undo", _("Undid a roster import")
    CAMPAIGN_CHANGE = "campaign_change", _("Created, started or paused a follow-up campaign")
    QUESTIONNAIRE_CHANGE = "questionnaire", _("Saved a questionnaire")
    ALERT_RESOLVE = "alert_resolve", _("Resolved an alert")
    VISIT_RECORD = "visit_record", _("Recorded answers at a door visit")
    HEALTH_VIEW = "health_view", _("Viewed a resident's answers and alerts")
    ISOLATION_CHANGE = "isolation_change", _("Started, extended or ended an isolation period")
    ROBOT_CHANGE = "robot_change", _("Set up a group robot")
    DIFFICULTY_VIEW = "difficulty_view", _("Read a confidential difficulty of a worker")
    CARE_OFFICER_CHANGE = "care_officer_change", _("Designated or removed a care officer")
    ROTA_CHANGE = "rota_change", _("Published a shift rota or decided a swap")
    ALLOWANCE_RULE_CHANGE = "allowance_rule", _("Added or ended an allowance rule")
    INSURANCE_CHANGE = "insurance_change", _("Recorded an insurance policy")
    VOLUNTEER_DECISION = "volunteer_decision", _("Verified, refused or suspended a volunteer")
    PASS_ISSUE = "pass_issue", _("Issued or re-issued a gate pass")
    PASS_REVOKE = "pass_revoke", _("Revoked a gate pass")
    GATE_CHANGE = "gate_change", _("Changed a gate, its staff on duty, devices or rules")
    RECORDING_PLAY = "recording_play", _("Listened to a call recording")
    RECORDING_CHECK = "recording_check", _("Recorded the answer heard in a call recording")
    VOICE_PROMPT_CHANGE = "voice_prompt", _("Recorded or removed a sentence of the robot's "
                                            "voice")


class AuditEvent(models.Model):
    at = models.DateTimeField(default=timezone.now, db_index=True)
    # No foreign key: the log outlives accounts and must never be rewritten by a cascade.
    actor_id = models.BigIntegerField(null=True)
    actor_name = models.CharField(max_length=150)
    actor_role = models.CharField(max_length=24, blank=True)
    action = models.CharField(max_length=24, choices=AuditAction.choices)
    object_type = models.CharField(max_length=32, blank=True)
    object_id = models.CharField(max_length=64, blank=True)
    object_label = models.CharField(max_length=120, blank=True)
    # Path of the area the object lies in: secretaries read the log of their own subtree.
    area_path = models.CharField(max_length=255, blank=True, db_index=True)
    changes = models.JSONField(default=dict, blank=True)  # field -> [before, after], masked
    ip = models.GenericIPAddressField(null=True, blank=True)

    class Meta:
        verbose_name = _("audit event")
        verbose_name_plural = _("audit events")
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["action", "object_label", "at"],
                                name="audit_action_label_at")]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M} {self.actor_name} {self.action}"

    def save(self, *args, **kwargs) -> None:  # type: ignore[override]
        if self.pk is not None:
            raise PermissionError("audit events are append-only")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):  # type: ignore[override]
        raise PermissionError("audit events are append-only")
