"""Staff pages of the robot calls: the workers' list of recordings to check (listen, then
tap the answer), the recordings' audio, and the voice operations page (line machines,
trunk, live calls, the last 24 hours of calls). The services and the gate are in
recordings.py, the operations figures in voice_figures.py."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from fangkong.accounts.roles import Can
from fangkong.audit.services import client_ip
from fangkong.followup import recordings
from fangkong.followup.channels.base import masked_name
from fangkong.followup.questions import Kind, Question, Spec, parse_spec
from fangkong.followup.views import require_capability
from fangkong.followup.voice_figures import (
    OFFLINE_AFTER_SECONDS,
    line_machines,
    voice_call_figures,
)
from fangkong.lib import clock

PER_PAGE = 20
_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


@login_required
@require_GET
def recording_list(request: HttpRequest) -> HttpResponse:
    """Recordings the robot could not make out, oldest first: listen, tap the answer."""
    require_capability(request.user, Can.HANDLE_ALERTS)
    page = Paginator(recordings.recordings_to_check(request.user), PER_PAGE).get_page(
        request.GET.get("page"))
    specs: dict[int, Spec] = {}
    for recording in page.object_list:
        version = recording.contact.round.campaign.version
        if version.pk not in specs:
            # The version came with the row: parsed here, no query per version.
            specs[version.pk] = parse_spec(version.spec)
        recording.question = _question(specs[version.pk], recording.question_key)
        recording.masked_name = masked_name(recording.resident.name)
    return render(request, "followup/recordings.html", {"page": page,
                                                        "none_value": recordings.NONE_OF_THESE})


def _question(spec: Spec, key: str) -> Question | None:
    try:
        return spec.question(key)
    except KeyError:
        return None


@login_required
@require_POST
def recording_check(request: HttpRequest, recording_id: int) -> HttpResponse:
    """A worker's answer for one recording: the value tapped or typed (or, for several
    choices, the options ticked); back to the list with what was recorded."""
    recording = recordings.recording_for_user(request.user, recording_id)
    ticked = [v for v in request.POST.getlist("values") if v]
    value_raw = request.POST.get("value", "") or ",".join(ticked)
    back = reverse("followup:recordings")
    page = request.POST.get("page", "")
    if page.isdigit():
        back += f"?page={page}"
    try:
        checked = recordings.recording_check(recording=recording, user=request.user,
                                             value_raw=value_raw, ip=client_ip(request))
    except ValidationError as exc:
        for problem in exc.message_dict.get("value", exc.messages):
            messages.error(request, problem)
        return redirect(f"{back}#r{recording.pk}")
    note = _("Recorded for %(name)s: %(question)s %(answer)s.") % {
        "name": masked_name(recording.resident.name), "question": checked.question.label,
        "answer": _shown(checked.question, checked.value)}
    if checked.alerts:
        note += " " + _("Alert raised: %(titles)s.") % {
            "titles": "、".join(sorted({a.title for a in checked.alerts}))}
    messages.success(request, note)
    return redirect(back)


def _shown(question: Question, value: Any) -> str:
    """An answer as the worker tapped it: yes/no, the options' labels, the number."""
    if isinstance(value, bool):
        return _("Yes") if value else _("No")
    labels = {o.value: o.label for o in question.options}
    if isinstance(value, list):
        return "、".join(labels.get(v, v) for v in value) or _("none")
    if isinstance(value, Decimal):
        return f"{value} °C" if question.kind == Kind.TEMPERATURE else str(value)
    return str(labels.get(value, value))


@login_required
@require_GET
def recording_audio(request: HttpRequest, recording_id: int) -> HttpResponse:
    """The recording's WAV for the page's player, decrypted on the fly and never cached.
    Every request is audited, byte ranges included (a phone's player asks in parts)."""
    recording = recordings.recording_for_user(request.user, recording_id)
    audio = recordings.recording_play(recording=recording, user=request.user,
                                      ip=client_ip(request))
    return audio_response(request, audio, filename=f"recording-{recording.pk}.wav")


def audio_response(request: HttpRequest, audio: bytes, *, filename: str) -> HttpResponse:
    """A WAV for a page's player, never cached, with the byte ranges a phone's player asks
    for (206, or 416 for a range past the end)."""
    status, body, content_range = 200, audio, ""
    match = _RANGE.match(request.headers.get("Range", "").strip())
    if match and audio and (match[1] or match[2]):
        size = len(audio)
        if match[1]:
            start = int(match[1])
            end = min(int(match[2]), size - 1) if match[2] else size - 1
        else:  # the last N bytes
            start, end = max(size - int(match[2]), 0), size - 1
        if start >= size or start > end:
            response = HttpResponse(status=416)
            response["Content-Range"] = f"bytes */{size}"
            response["Cache-Control"] = "no-store"
            return response
        status, body = 206, audio[start:end + 1]
        content_range = f"bytes {start}-{end}/{size}"
    response = HttpResponse(body, status=status, content_type="audio/wav")
    if content_range:
        response["Content-Range"] = content_range
    response["Accept-Ranges"] = "bytes"
    response["Cache-Control"] = "no-store"
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Disposition"] = f'inline; filename="{filename}"'
    return response


@login_required
@require_GET
def voice_ops(request: HttpRequest) -> HttpResponse:
    """How the robot calls are going: line machines, trunk, live calls (refreshed every
    few seconds, `?part=lines`), and the calls of the last 24 hours in the user's area."""
    require_capability(request.user, Can.VIEW_VOICE_LINES)
    now = clock.now()
    machines = line_machines(now=now)
    context: dict[str, Any] = {"machines": machines, "now": now,
                               "live_calls": [c for m in machines for c in m.live],
                               "offline_after": OFFLINE_AFTER_SECONDS}
    if request.GET.get("part") == "lines":
        return render(request, "followup/_voice_lines.html", context)
    figures = voice_call_figures(request.user, now=now)
    context.update(figures=figures, chart=figures.chart())
    return render(request, "followup/voice_ops.html", context)

