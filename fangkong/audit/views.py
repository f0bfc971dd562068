from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from fangkong.accounts.roles import Can, can
from fangkong.audit.models import AuditAction
from fangkong.audit.selectors import audit_events_for_user


@login_required
@require_GET
def audit_log(request: HttpRequest) -> HttpResponse:
    if not can(request.user, Can.VIEW_AUDIT):
        raise PermissionDenied
    action = request.GET.get("action", "")
    if action not in AuditAction.values:
        action = ""
    events = audit_events_for_user(request.user, action=action or None)
    page = Paginator(events, 50).get_page(request.GET.get("page"))
    return render(request, "audit/log.html", {"page": page, "action": action,
                                              "actions": AuditAction.choices})
