"""Residents: who lives where, how to reach them, who answers for them.

ID numbers and phones are stored sealed (AES-GCM, fangkong.lib.crypto) with a blind index
for exact lookup and a masked copy for display; the clear value is never stored.
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from fangkong.places.models import Household, ScopedToGrid


class Gender(models.TextChoices):
    MALE = "M", _("Male")
    FEMALE = "F", _("Female")
    UNKNOWN = "U", _("Unknown")


class Relation(models.TextChoices):
    SELF = "self", _("Householder")
    SPOUSE = "spouse", _("Spouse")
    CHILD = "child", _("Child")
    PARENT = "parent", _("Parent")
    GRANDCHILD = "grandchild", _("Grandchild")
    GRANDPARENT = "grandparent", _("Grandparent")
    SIBLING = "sibling", _("Sibling")
    CHILD_IN_LAW = "child_in_law", _("Son- or daughter-in-law")
    OTHER_RELATIVE = "relative", _("Other relative")
    TENANT = "tenant", _("Tenant")
    OTHER = "other", _("Other")


class Channel(models.TextChoices):
    WEB = "web", _("Web link")
    SMS = "sms", _("SMS")
    VOICE = "voice", _("Voice call")
    VISIT = "visit", _("Door visit")


class ResidentStatus(models.TextChoices):
    ACTIVE = "active", _("Lives here")
    MOVED_OUT = "moved_out", _("Moved out")
    DECEASED = "deceased", _("Deceased")


class PhoneKind(models.TextChoices):
    MOBILE = "mobile", _("Mobile")
    LANDLINE = "landline", _("Landline")


class Tag(models.Model):
    """An editable label such as 独居老人; `slug` is what code and filters refer to."""

    slug = models.SlugField(unique=True, max_length=32)
    name = models.CharField(_("name"), max_length=32)
    name_en = models.CharField(_("English name"), max_length=48, blank=True)
    # Vulnerable residents are marked in queues (errands, follow-up escalation).
    vulnerable = models.BooleanField(_("needs extra care"), default=False)
    sort_order = models.PositiveSmallIntegerField(default=0)

    class Meta:
        verbose_name = _("tag")
        verbose_name_plural = _("tags")
        ordering = ["sort_order", "slug"]

    def __str__(self) -> str:
        return self.name


class Resident(ScopedToGrid):
    household = models.ForeignKey(Household, on_delete=models.PROTECT, related_name="residents")
    relation = models.CharField(_("relation to householder"), max_length=16,
                                choices=Relation.choices, default=Relation.SELF)
    name = models.CharField(_("full name"), max_length=64)
    name_initials = models.CharField(max_length=64, db_index=True)  # "zw" for 张伟
    name_pinyin = models.CharField(max_length=400, db_index=True, default="")  # "zhangwei"
    gender = models.CharField(_("gender"), max_length=1, choices=Gender.choices,
                              default=Gender.UNKNOWN)
    birth_date = models.DateField(_("birth date"), null=True, blank=True)

    id_number_sealed = models.BinaryField(null=True)
    id_number_index = models.CharField(max_length=32, null=True)
    id_number_masked = models.CharField(_("ID number"), max_length=24, blank=True)

    phone_sealed = models.BinaryField(null=True)
    phone_index = models.CharField(max_length=32, null=True, db_index=True)
    phone_masked = models.CharField(_("phone"), max_length=24, blank=True)
    phone_last4 = models.CharField(max_length=4, blank=True, db_index=True)
    phone_kind = models.CharField(max_length=10, choices=PhoneKind.choices, blank=True)

    tags = models.ManyToManyField(Tag, blank=True, related_name="residents",
                                  verbose_name=_("tags"))
    preferred_channel = models.CharField(_("preferred channel"), max_length=8,
                                         choices=Channel.choices, blank=True)
    language_note = models.CharField(_("language or dialect"), max_length=64, blank=True)
    remarks = models.TextField(_("remarks"), blank=True, max_length=1000)
    status = models.CharField(_("status"), max_length=12, choices=ResidentStatus.choices,
                              default=ResidentStatus.ACTIVE)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    # Bumped on every change: an edit based on an older version is refused, not merged.
    version = models.PositiveIntegerField(default=1)

    class Meta:
        verbose_name = _("resident")
        verbose_name_plural = _("residents")
        indexes = [models.Index(fields=["name"], name="resident_name")]
        constraints = [
            models.UniqueConstraint(fields=["id_number_index"],
                                    condition=Q(id_number_index__isnull=False),
                                    name="resident_unique_id_number"),
            models.CheckConstraint(
                condition=(Q(id_number_sealed__isnull=True) & Q(id_number_index__isnull=True))
                | (Q(id_number_sealed__isnull=False) & Q(id_number_index__isnull=False)),
                name="resident_id_number_sealed_with_index",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class ContactPhone(models.Model):
    """A further phone of a resident (the first one lives on Resident)."""

    resident = models.ForeignKey(Resident, on_delete=models.CASCADE, related_name="other_phones")
    label = models.CharField(_("label"), max_length=32, blank=True)  # "家里座机", "女儿"
    sealed = models.BinaryField()
    index = models.CharField(max_length=32, db_index=True)
    masked = models.CharField(max_length=24)
    last4 = models.CharField(max_length=4, db_index=True)
    kind = models.CharField(max_length=10, choices=PhoneKind.choices)

    class Meta:
        verbose_name = _("other phone")
        verbose_name_plural = _("other phones")
        constraints = [
            models.UniqueConstraint(fields=["resident", "index"], name="contactphone_unique"),
        ]

    def __str__(self) -> str:
        return self.masked


class Proxy(models.Model):
    """The family member or neighbour who answers for a resident (e.g. an elderly person
    without a phone of their own). May or may not be a resident in the registry."""

    resident = models.ForeignKey(Resident, on_delete=models.CASCADE, related_name="proxies")
    proxy_resident = models.ForeignKey(Resident, on_delete=models.SET_NULL, null=True,
                                       blank=True, related_name="proxy_for")
    name = models.CharField(_("full name"), max_length=64)
    relation = models.CharField(_("relation"), max_length=32)  # "女儿", "邻居"
    phone_sealed = models.BinaryField()
    phone_index = models.CharField(max_length=32, db_index=True)
    phone_masked = models.CharField(_("phone"), max_length=24)
    phone_last4 = models.CharField(max_length=4)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("proxy")
        verbose_name_plural = _("proxies")

    def __str__(self) -> str:
        return self.name
