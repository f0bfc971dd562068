"""`fangkong import FILE --area CODE --by USER [--commit]`: the import of the web page, in a
terminal: read, map the columns automatically (or with a saved template), check every row,
print the preview and the problems, and commit only when asked."""

from __future__ import annotations

from pathlib import Path

from django.core.exceptions import PermissionDenied, ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.db.models import Q
from django.http import Http404
from django.utils import translation

from fangkong.accounts.models import User
from fangkong.lib.encoding import ENCODINGS
from fangkong.places.models import Area
from fangkong.rosters import commit as committing
from fangkong.rosters import exports, services
from fangkong.rosters.columns import FIELD_BY_KEY, mapping_problems
from fangkong.rosters.models import ImportStatus, RosterImport
from fangkong.rosters.selectors import import_problems, templates_for_user

COUNT_LABELS = (("new", "new"), ("updated", "changed"), ("unchanged", "unchanged"),
                ("invalid", "with errors"), ("duplicate", "duplicates"),
                ("skipped", "blank or totals rows skipped"))


class Command(BaseCommand):
    help = ("Import a roster (.xlsx, .xls, .csv) into a community or grid. Without --commit "
            "only the preview is printed and nothing changes.")

    def add_arguments(self, parser) -> None:  # noqa: ANN001
        parser.add_argument("file", type=Path)
        parser.add_argument("--area", required=True,
                            help="the community or grid: its path, official code or id")
        parser.add_argument("--by", required=True,
                            help="the user name the import is recorded under (their area "
                                 "and rights apply)")
        parser.add_argument("--encoding", choices=ENCODINGS,
                            help="for a CSV file whose encoding is ambiguous")
        parser.add_argument("--template", help="the name of a saved column template")
        parser.add_argument("--commit", action="store_true",
                            help="import all valid rows after the preview")
        parser.add_argument("--errors", type=Path,
                            help="write the rows with problems to this .xlsx file")
        parser.add_argument("--show", type=int, default=20,
                            help="how many problems to print (default 20)")

    def handle(self, *args, **options) -> None:
        with translation.override(translation.get_language() or "zh-hans"):
            self._handle(options)

    def _handle(self, options: dict) -> None:
        by = User.objects.filter(username__iexact=options["by"], is_active=True).first()
        if by is None:
            raise CommandError(f"no active user {options['by']!r}")
        key = options["area"]
        area = Area.objects.filter(Q(path=key) | Q(code=key) | Q(
            pk=int(key) if key.isdigit() else -1)).order_by("depth").first()
        if area is None:
            raise CommandError(f"no area with path, code or id {key!r}")
        template = None
        if options["template"]:
            template = templates_for_user(by).filter(name=options["template"]).first()
            if template is None:
                raise CommandError(f"no column template named {options['template']!r}")
        try:
            data = options["file"].read_bytes()
        except OSError as exc:
            raise CommandError(f"cannot read {options['file']}: {exc.strerror}") from exc
        try:
            roster_import = services.roster_import_start(
                by=by, area=area, filename=options["file"].name, data=data,
                encoding=options["encoding"], template=template, queue=False)
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages)) from exc
        except (PermissionDenied, Http404) as exc:
            raise CommandError(f"{by.username} may not import into {area.path} "
                               f"({area.name}): not their role or not their area") from exc
        # The command does the background steps itself, in this process.
        services.import_inspect(roster_import)
        if roster_import.status != ImportStatus.MAPPING:
            raise CommandError(roster_import.message)
        self.stdout.write(f"{roster_import.filename}: {roster_import.data_rows} rows; columns:")
        for name, field in zip(roster_import.columns, roster_import.mapping, strict=True):
            label = FIELD_BY_KEY[field].label if field else "-"
            self.stdout.write(f"  {name} -> {label}")
        problems = mapping_problems(roster_import.mapping)
        if problems:
            raise CommandError(" ".join(problems))
        self._step(roster_import, ImportStatus.ANALYSING,
                   lambda: services.import_analyse(roster_import, progress=self._progress),
                   failed=ImportStatus.FAILED, message="the check stopped with an error")
        if roster_import.status != ImportStatus.READY:
            raise CommandError(roster_import.message or roster_import.get_status_display())
        counts = roster_import.counts
        self.stdout.write("  ".join(f"{label}: {counts.get(key, 0)}"
                                    for key, label in COUNT_LABELS))
        for problem in import_problems(roster_import)[:options["show"]]:
            self.stdout.write(f"  row {problem.row} [{problem.column}] {problem.message}")
        if options["errors"] and import_problems(roster_import).exists():
            export = exports.error_report(by=by, roster_import=roster_import)
            options["errors"].write_bytes(export.file.read())
            self.stdout.write(f"rows with problems written to {options['errors']}")
        if not options["commit"]:
            services.roster_import_discard(by=by, roster_import=roster_import)
            self.stdout.write("preview only: nothing was imported (add --commit to import)")
            return
        # On an error the transaction is gone: back to the preview, nothing imported.
        self._step(roster_import, ImportStatus.COMMITTING,
                   lambda: committing.commit(roster_import, progress=self._progress),
                   failed=ImportStatus.READY,
                   message="the import stopped with an error; nothing was imported")
        if roster_import.status != ImportStatus.DONE:
            raise CommandError(roster_import.message or roster_import.get_status_display())
        self.stdout.write(f"imported: import #{roster_import.pk}")

    def _step(self, roster_import: RosterImport, busy: str, run, *, failed: str,  # noqa: ANN001
              message: str) -> None:
        """Run one step here, where no worker watches it: an error leaves the import at
        `failed`, where it can be acted on, never busy."""
        roster_import.status = busy
        roster_import.save(update_fields=["status"])
        try:
            run()
        except BaseException:
            RosterImport.objects.filter(pk=roster_import.pk).update(status=failed,
                                                                    message=message)
            raise
        self.stderr.write("")

    def _progress(self, done: int, total: int) -> bool:
        self.stderr.write(f"\r  {done}/{total}", ending="")
        return True
