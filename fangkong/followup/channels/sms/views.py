"""The SMS gateway's webhooks: residents' replies and delivery reports. No login and no
CSRF token: every request must carry the gateway's signature (shared secret, timestamp
within 5 minutes, a nonce used once), else 401 and the refusal is logged with its reason
and the caller's address. A body that is signed but unreadable is 400. 503 asks the
gateway to deliver the webhook again later (a reply we could not hand over yet, a report
on a send still being recorded); processing is idempotent, so that is safe.
"""

from __future__ import annotations

import logging
import time

from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest, JsonResponse
from django.utils import translation
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from fangkong.followup.channels.sms.gateway import (
    GatewayAuthError,
    parse_inbound,
    parse_reports,
    verify_signed,
)
from fangkong.followup.channels.sms.inbound import (
    ReportNotYetRecorded,
    sms_inbound_receive,
    sms_replies_send,
    sms_report_record,
)
from fangkong.lib import clock

log = logging.getLogger("fangkong.followup.sms")
MAX_SKEW_SECONDS = 300


def _seen_nonce(nonce: str) -> bool:
    # Kept twice the allowed clock skew: an older request is refused for its timestamp.
    return not cache.add(f"fangkong.sms.nonce.{nonce}", 1, timeout=2 * MAX_SKEW_SECONDS)


def _refusal(request: HttpRequest) -> str | None:
    if not (settings.SMS_ACCOUNT and settings.SMS_SECRET):
        return "no SMS gateway account configured"
    reason = verify_signed(settings.SMS_SECRET, request.body, request.headers, now=time.time(),
                           seen_nonce=_seen_nonce, max_skew=MAX_SKEW_SECONDS)
    if reason is None and request.headers.get("X-Account", "") != settings.SMS_ACCOUNT:
        reason = "unknown account"
    return reason


def _refused(request: HttpRequest, what: str, reason: str, *, status: int) -> JsonResponse:
    log.warning("SMS %s webhook refused (%s) from %s", what, reason,
                request.META.get("REMOTE_ADDR", "?"))
    return JsonResponse({"error": "unauthorized" if status == 401 else "bad request"},
                        status=status)


@csrf_exempt
@require_POST
def inbound(request: HttpRequest) -> JsonResponse:
    """Residents' replies: answers, TD, ?. Each is answered through the gateway."""
    reason = _refusal(request)
    if reason is not None:
        return _refused(request, "inbound", reason, status=401)
    try:
        messages = parse_inbound(request.body)
    except ValueError as exc:
        return _refused(request, "inbound", str(exc)[:200], status=400)
    # Our replies are in the installation's language, whatever the gateway's request says.
    with translation.override(settings.LANGUAGE_CODE):
        replies = [reply for message in messages
                   if (reply := sms_inbound_receive(message, now=clock.now())) is not None]
    try:
        unsent = sms_replies_send(replies, now=clock.now())
    except (GatewayAuthError, ValueError):
        log.exception("SMS replies could not be sent: check the gateway configuration")
        unsent = len(replies)
    if unsent:
        return JsonResponse({"error": "replies not sent yet, deliver again"}, status=503)
    return JsonResponse({"ok": True})


@csrf_exempt
@require_POST
def report(request: HttpRequest) -> JsonResponse:
    """Delivery reports: a failed or expired message moves its contact on."""
    reason = _refusal(request)
    if reason is not None:
        return _refused(request, "report", reason, status=401)
    try:
        reports = parse_reports(request.body)
    except ValueError as exc:
        return _refused(request, "report", str(exc)[:200], status=400)
    waiting = 0
    for item in reports:
        try:
            sms_report_record(item, now=clock.now())
        except ReportNotYetRecorded:
            waiting += 1
    if waiting:
        return JsonResponse({"error": "sends not recorded yet, deliver again"}, status=503)
    return JsonResponse({"ok": True})
