"""Roster pages: upload, the import's page (mapping, progress, preview, result), error
report, blank template, and exports of the registry."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from fangkong.accounts.roles import Can, can
from fangkong.audit.services import client_ip
from fangkong.places.selectors import area_for_user
from fangkong.rosters import exports, services
from fangkong.rosters.columns import FIELD_BY_KEY
from fangkong.rosters.forms import EncodingForm, ExportForm, MappingForm, UploadForm
from fangkong.rosters.models import BlobKind, ImportStatus
from fangkong.rosters.rows import mask_digit_runs
from fangkong.rosters.selectors import import_for_user, import_problems, imports_for_user
from fangkong.rosters.staging import value_get

PROBLEMS_PER_PAGE = 100


def _errors(exc: ValidationError) -> list[str]:
    return [str(m) for m in exc.messages]


@login_required
@require_http_methods(["GET", "POST"])
def import_list(request: HttpRequest) -> HttpResponse:
    user = request.user
    if not can(user, Can.IMPORT_ROSTER):
        raise PermissionDenied
    form = UploadForm(request.POST or None, request.FILES or None, user=user)
    if request.method == "POST" and form.is_valid():
        upload = form.cleaned_data["file"]
        try:
            services.upload_size_check(upload.size)  # before reading it into memory
            roster_import = services.roster_import_start(
                by=user, area=form.cleaned_data["area"], filename=upload.name,
                data=upload.read(), encoding=form.cleaned_data["encoding"] or None,
                template=form.cleaned_data["template"])
        except ValidationError as exc:
            # Each message next to the field it is about (the area, the encoding or the
            # file); a message about no field in particular goes with the file.
            fields = exc.message_dict if hasattr(exc, "error_dict") else {"file": exc.messages}
            for field, messages_ in fields.items():
                for message in messages_:
                    form.add_error(field if field in form.fields else "file", message)
        else:
            return redirect("rosters:detail", roster_import.pk)
    imports = imports_for_user(user)[:50]
    return render(request, "rosters/list.html", {"form": form, "imports": imports})


def _context(request: HttpRequest, roster_import, **extra) -> dict:  # noqa: ANN001, ANN003
    context = {"imp": roster_import, "job": roster_import.job, **extra}
    status = roster_import.status
    # The columns are shown while they are being chosen, when the user asks to change
    # them after the preview, and again with the reasons when a choice was refused (also
    # after the preview, where the refused POST carries no ?remap=1).
    if status == ImportStatus.MAPPING or (status == ImportStatus.READY and (
            request.GET.get("remap") or extra.get("mapping_form"))):
        form = extra.get("mapping_form") or MappingForm(columns=roster_import.columns,
                                                        mapping=roster_import.mapping)
        samples = value_get(roster_import, BlobKind.SAMPLES, []) or []
        columns = []
        for i, field in enumerate(form.column_fields()):
            chosen = roster_import.mapping[i] if i < len(roster_import.mapping) else ""
            values = [row[i] if i < len(row) else "" for row in samples]
            personal = bool(chosen and FIELD_BY_KEY[chosen].personal)
            # A number in a column not (or no longer) mapped as personal is masked too.
            values = [_mask(v) if personal else mask_digit_runs(str(v)) for v in values]
            columns.append({"field": field, "samples": values})
        context.update(mapping_form=form, columns=columns)
    if status == ImportStatus.NEEDS_ENCODING:
        readings = value_get(roster_import, BlobKind.READINGS, {}) or {}
        context["readings"] = {encoding: mask_digit_runs(text)
                               for encoding, text in readings.items()}
        context["encoding_form"] = EncodingForm()
    if status in (ImportStatus.READY, ImportStatus.DONE, ImportStatus.UNDONE):
        page = Paginator(import_problems(roster_import), PROBLEMS_PER_PAGE).get_page(
            request.GET.get("page"))
        context.update(problems=page, counts=roster_import.counts,
                       earlier=_earlier(request.user, roster_import))
    return context


def _mask(value: str) -> str:
    text = str(value)
    return text if len(text) <= 4 else "*" * (len(text) - 4) + text[-4:]


def _earlier(user, roster_import):  # noqa: ANN001, ANN202
    """The same file imported before (same bytes), to warn about a second import."""
    return (imports_for_user(user).filter(sha256=roster_import.sha256,
                                          status=ImportStatus.DONE)
            .exclude(pk=roster_import.pk).first())


@login_required
@require_GET
def import_detail(request: HttpRequest, import_id: int) -> HttpResponse:
    roster_import = services.roster_import_reconcile(import_for_user(request.user, import_id))
    context = _context(request, roster_import)
    if request.headers.get("HX-Request") and request.GET.get("poll"):
        if roster_import.busy:
            return render(request, "rosters/_progress.html", context)
        # Finished: make the browser load the whole page, which now shows the result.
        response = HttpResponse(status=204)
        response["HX-Refresh"] = "true"
        return response
    return render(request, "rosters/detail.html", context)


def _act(request: HttpRequest, import_id: int, action, **kwargs) -> HttpResponse:  # noqa: ANN001, ANN003
    roster_import = import_for_user(request.user, import_id)
    try:
        action(by=request.user, roster_import=roster_import, **kwargs)
    except ValidationError as exc:
        for message in _errors(exc):
            messages.error(request, message)
    return redirect("rosters:detail", roster_import.pk)


@login_required
@require_POST
def import_encoding(request: HttpRequest, import_id: int) -> HttpResponse:
    import_for_user(request.user, import_id)  # the gate first, whatever the form says
    form = EncodingForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Choose the reading that shows the names correctly."))
        return redirect("rosters:detail", import_id)
    return _act(request, import_id, services.roster_import_set_encoding,
                encoding=form.cleaned_data["encoding"])


@login_required
@require_POST
def import_mapping(request: HttpRequest, import_id: int) -> HttpResponse:
    roster_import = import_for_user(request.user, import_id)
    if roster_import.status not in (ImportStatus.MAPPING, ImportStatus.READY):
        # The form sent twice (the check of every row already runs), or from a page left
        # open after the import went on: show where the import is now.
        if not roster_import.busy:
            messages.error(request, _("This import is “%(status)s”: that cannot be done now.")
                           % {"status": roster_import.get_status_display()})
        return redirect("rosters:detail", roster_import.pk)
    form = MappingForm(request.POST, columns=roster_import.columns,
                       mapping=roster_import.mapping)
    if form.is_valid():
        try:
            services.roster_import_set_mapping(
                by=request.user, roster_import=roster_import, mapping=form.mapping(),
                template_name=form.cleaned_data["template_name"])
        except ValidationError as exc:
            for message in _errors(exc):
                form.add_error(None, message)
        else:
            return redirect("rosters:detail", roster_import.pk)
    # Show the page again with the user's choices and what is wrong with them.
    if hasattr(form, "cleaned_data"):
        roster_import.mapping = form.mapping()  # shown, not saved
    return render(request, "rosters/detail.html",
                  _context(request, roster_import, mapping_form=form), status=400)


@login_required
@require_POST
def import_commit(request: HttpRequest, import_id: int) -> HttpResponse:
    return _act(request, import_id, services.roster_import_commit)


@login_required
@require_POST
def import_discard(request: HttpRequest, import_id: int) -> HttpResponse:
    return _act(request, import_id, services.roster_import_discard)


@login_required
@require_POST
def import_cancel(request: HttpRequest, import_id: int) -> HttpResponse:
    return _act(request, import_id, services.roster_import_cancel)


@login_required
@require_POST
def import_undo(request: HttpRequest, import_id: int) -> HttpResponse:
    return _act(request, import_id, services.roster_import_undo)


@login_required
@require_GET
def import_errors(request: HttpRequest, import_id: int) -> HttpResponse:
    roster_import = import_for_user(request.user, import_id)
    # The report holds the file's cells as they were, ID numbers and phones in full: for
    # the person who uploaded it, and for those who may export in full.
    if request.user != roster_import.created_by and not can(request.user,
                                                            Can.EXPORT_UNMASKED):
        raise PermissionDenied(_("Only the person who uploaded the file, or the community "
                                 "secretary, can download its rows."))
    if not roster_import.blobs.filter(kind=BlobKind.FILE).exists():
        messages.error(request, _("The uploaded file has been deleted (files are kept for a "
                                  "few days only); the problems are still listed here."))
        return redirect("rosters:detail", roster_import.pk)
    return exports.error_report(by=request.user, roster_import=roster_import,
                                ip=client_ip(request)).response()


@login_required
@require_GET
def blank_template(request: HttpRequest) -> HttpResponse:
    if not can(request.user, Can.IMPORT_ROSTER):
        raise PermissionDenied
    return exports.blank_template(by=request.user).response()


@login_required
@require_POST
def export(request: HttpRequest, area_id: int) -> HttpResponse:
    """Download the residents or households of an area (POST: the choice of full numbers
    is deliberate, and every export is recorded)."""
    area = area_for_user(request.user, area_id)
    form = ExportForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Choose what to export and the format."))
        return redirect("places:area", area.pk)
    data = form.cleaned_data
    make = exports.export_residents if data["what"] == "residents" else \
        exports.export_households
    return make(by=request.user, area=area, fmt=data["format"], full=data["full"],
                ip=client_ip(request)).response()

