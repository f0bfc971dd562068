"""A building's pass cards to print (fangkong.passes.sheets).

GET: the A4 PDF of every standing pass of the building, a download audited as an export
(it carries masked names and rooms) and never cached. POST `do=issue`: first give a pass
to every active resident of the building who has none, then back to the building page
to print. Access: the building in the user's area (404), then Can.ISSUE_PASSES (403).
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.utils.http import content_disposition_header
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from fangkong.accounts.roles import Can, can
from fangkong.audit.models import AuditAction
from fangkong.audit.services import audit_record, client_ip
from fangkong.lib import clock
from fangkong.passes import services
from fangkong.passes.sheets import building_cards, sheet_pdf
from fangkong.places.selectors import building_for_user


@never_cache
@login_required
@require_http_methods(["GET", "POST"])
def building_sheet(request: HttpRequest, building_id: int) -> HttpResponse:
    """See the module docstring."""
    building = building_for_user(request.user, building_id)
    if not can(request.user, Can.ISSUE_PASSES):
        raise PermissionDenied
    if request.method == "POST":
        if request.POST.get("do") != "issue":
            messages.error(request, _("Choose what to do."))
            return redirect("places:building", building_id=building.pk)
        issued = services.building_passes_issue(building=building, by=request.user,
                                                ip=client_ip(request))
        if issued:
            messages.success(request, ngettext(
                "Issued %(n)d pass. The cards can be printed now.",
                "Issued %(n)d passes. The cards can be printed now.", issued) % {"n": issued})
        else:
            messages.success(request, _("Everyone registered in this building has a pass."))
        return redirect("places:building", building_id=building.pk)
    now = clock.now()
    title = f"{building} 出入证"
    with transaction.atomic():
        cards = building_cards(building)
        audit_record(by=request.user, action=AuditAction.EXPORT, object_type="pass_sheet",
                     object_id=building.pk, object_label=str(building),
                     area_path=building.grid.path, changes={"cards": ["", len(cards)]},
                     ip=client_ip(request))
    pdf = sheet_pdf(cards, title=title, printed_by=request.user.get_username(),
                    printed_at=now)
    response = HttpResponse(pdf, content_type="application/pdf")
    response["Content-Disposition"] = content_disposition_header(
        as_attachment=True, filename=f"{building}-出入证.pdf")
    response["X-Robots-Tag"] = "noindex, nofollow"
    return response
