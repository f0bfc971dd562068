"""Roster imports: an uploaded spreadsheet, what fangkong made of it, and what it changed.

The file itself and the rows prepared from it hold personal data: they are kept sealed
(AES-GCM, fangkong.lib.crypto) in `ImportBlob` rows, in the database, so that a worker on
another machine can read them and a backup holds them encrypted like the registry.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from fangkong.places.models import Area


class ImportStatus(models.TextChoices):
    INSPECTING = "inspecting", _("Reading the file")
    NEEDS_ENCODING = "needs_encoding", _("Choose the encoding")
    MAPPING = "mapping", _("Check the columns")
    ANALYSING = "analysing", _("Checking every row")
    READY = "ready", _("Preview ready")
    COMMITTING = "committing", _("Importing")
    DONE = "done", _("Imported")
    UNDOING = "undoing", _("Undoing")
    UNDONE = "undone", _("Undone")
    DISCARDED = "discarded", _("Not imported")
    CANCELLED = "cancelled", _("Cancelled")
    FAILED = "failed", _("Could not be read")


# While an import is in one of these states a background job works on it.
BUSY = (ImportStatus.INSPECTING, ImportStatus.ANALYSING, ImportStatus.COMMITTING,
        ImportStatus.UNDOING)


class RosterImport(models.Model):
    area = models.ForeignKey(Area, on_delete=models.PROTECT, related_name="+",
                             verbose_name=_("area"))
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT,
                                   related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    filename = models.CharField(_("file"), max_length=200)
    size = models.PositiveBigIntegerField(default=0)
    sha256 = models.CharField(max_length=64, db_index=True)
    format = models.CharField(max_length=8, blank=True)
    encoding = models.CharField(max_length=16, blank=True)
    sheet_name = models.CharField(max_length=100, blank=True)
    status = models.CharField(max_length=16, choices=ImportStatus.choices,
                              default=ImportStatus.INSPECTING)
    # 0-based rows of the header in the sheet; data starts after header_last.
    header_first = models.PositiveIntegerField(default=0)
    header_last = models.PositiveIntegerField(default=0)
    # Column names as found in the file (not personal data) and the field each maps to.
    columns = models.JSONField(default=list, blank=True)
    mapping = models.JSONField(default=list, blank=True)
    template = models.ForeignKey("ImportTemplate", on_delete=models.SET_NULL, null=True,
                                 blank=True, related_name="+")
    data_rows = models.PositiveIntegerField(default=0)
    # new / updated / unchanged / invalid / duplicate / skipped
    counts = models.JSONField(default=dict, blank=True)
    job = models.ForeignKey("jobs.Job", on_delete=models.SET_NULL, null=True, blank=True,
                            related_name="+")
    message = models.TextField(blank=True)  # why it failed or could not be committed
    # The registry changed since the preview: the file must be checked again to commit.
    stale = models.BooleanField(default=False)
    # The uploader's language: the background steps write the problems in it.
    language = models.CharField(max_length=16, default="zh-hans")
    # What the commit created, as ranges of ids: {"resident": [[first, last], ...],
    # "household": [...]}. Updates and new buildings are ImportChange rows.
    created = models.JSONField(default=dict, blank=True)
    committed_at = models.DateTimeField(null=True, blank=True)
    undone_at = models.DateTimeField(null=True, blank=True)
    undone_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT,
                                  null=True, blank=True, related_name="+")

    class Meta:
        verbose_name = _("roster import")
        verbose_name_plural = _("roster imports")
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.filename} #{self.pk}"

    @property
    def busy(self) -> bool:
        return self.status in BUSY


class BlobKind(models.TextChoices):
    FILE = "file"  # the uploaded bytes
    SAMPLES = "samples"  # a few data rows for the mapping screen
    READINGS = "readings"  # both readings of a file whose encoding is a tie
    STAGE = "stage"  # rows prepared by the analysis, applied by the commit


class ImportBlob(models.Model):
    """A sealed piece of an import, cut into chunks that any database stores easily."""

    roster_import = models.ForeignKey(RosterImport, on_delete=models.CASCADE,
                                      related_name="blobs")
    kind = models.CharField(max_length=8, choices=BlobKind.choices)
    seq = models.PositiveIntegerField()
    data = models.BinaryField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["roster_import", "kind", "seq"],
                                               name="importblob_unique_piece")]

    def __str__(self) -> str:
        return f"{self.kind} {self.seq} of import {self.roster_import_id}"


class ImportProblem(models.Model):
    """Why one row (or one cell) of the file cannot be imported, in the user's words."""

    roster_import = models.ForeignKey(RosterImport, on_delete=models.CASCADE,
                                      related_name="problems")
    row = models.PositiveIntegerField()  # as Excel numbers it: the file's first row is 1
    column = models.CharField(max_length=100, blank=True)  # the column's name in the file
    kind = models.CharField(max_length=12)  # "invalid" | "duplicate" | "conflict"
    message = models.CharField(max_length=500)

    class Meta:
        ordering = ["row", "id"]
        indexes = [models.Index(fields=["roster_import", "row"], name="importproblem_row")]

    def __str__(self) -> str:
        return f"row {self.row}: {self.message}"


class ChangeAction(models.TextChoices):
    CREATED = "created"
    UPDATED = "updated"


class ImportChange(models.Model):
    """One row the commit wrote: enough to undo it while nobody has changed it since."""

    roster_import = models.ForeignKey(RosterImport, on_delete=models.CASCADE,
                                      related_name="changes")
    object_type = models.CharField(max_length=12)  # "resident" | "household" | "building"
    object_id = models.BigIntegerField()
    action = models.CharField(max_length=8, choices=ChangeAction.choices)
    version_after = models.PositiveIntegerField(default=1)
    before = models.BinaryField(null=True)  # sealed snapshot of the changed fields

    class Meta:
        indexes = [models.Index(fields=["roster_import", "object_type"],
                                name="importchange_kind")]

    def __str__(self) -> str:
        return f"{self.action} {self.object_type} {self.object_id}"


class ImportTemplate(models.Model):
    """A saved column mapping: header name in the file -> fangkong field."""

    area = models.ForeignKey(Area, on_delete=models.CASCADE, related_name="+")
    name = models.CharField(_("name"), max_length=64)
    mapping = models.JSONField(default=dict)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL,
                                   null=True, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("column template")
        verbose_name_plural = _("column templates")
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["area", "name"],
                                               name="importtemplate_unique_name")]

    def __str__(self) -> str:
        return self.name
