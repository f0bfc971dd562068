"""Volunteer pages: the community's join link and its public form (no login: the signed
link is the key), and, for those who verify volunteers, the list with each volunteer's
figures and one volunteer's page (verify, refuse, suspend; their phone, audited)."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.safestring import mark_safe
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods

from fangkong.accounts.roles import Can, can
from fangkong.audit.services import client_ip
from fangkong.errands import volunteers as vol
from fangkong.errands.forms import show_errors
from fangkong.errands.models import Skill, Volunteer, VolunteerStatus
from fangkong.residents.forms import apply_errors

LIST_PAGE = 100


class JoinForm(forms.Form):
    """Name and phone are checked by the service (volunteer_apply), so that every mistake
    is shown at once, next to its field."""

    name = forms.CharField(label=gettext_lazy("Your full name"), max_length=64, required=False)
    phone = forms.CharField(label=gettext_lazy("Mobile phone"), max_length=64, required=False,
                            widget=forms.TextInput(attrs={"inputmode": "tel",
                                                          "autocomplete": "tel"}))
    skills = forms.MultipleChoiceField(label=gettext_lazy("What you can do besides errands"),
                                       choices=Skill.choices, required=False,
                                       widget=forms.CheckboxSelectMultiple)
    availability = forms.CharField(label=gettext_lazy("When you can help"), max_length=200,
                                   required=False,
                                   help_text=gettext_lazy("For example: 工作日晚上, 周末"))
    note = forms.CharField(label=gettext_lazy("Anything the community should know"),
                           max_length=300, required=False,
                           widget=forms.Textarea(attrs={"rows": 2}))


class VerifyForm(forms.Form):
    link_user = forms.TypedChoiceField(label=gettext_lazy("Their login"), coerce=int,
                                       required=False, empty_value=None)

    def __init__(self, *args, users=(), **kwargs) -> None:  # noqa: ANN001, ANN002, ANN003
        super().__init__(*args, **kwargs)
        self.users = {u.pk: u for u in users}
        self.fields["link_user"].choices = [("", _("A new login (its password is shown once)"))] + [
            (u.pk, _("Their existing login %(username)s") % {"username": u.username})
            for u in users]


class ReasonForm(forms.Form):
    reason = forms.CharField(label=gettext_lazy("Why"), max_length=200, required=False)




# The join link and form ------------------------------------------------------------------


def _client(request: HttpRequest) -> str:
    return client_ip(request) or "?"


@never_cache
@require_http_methods(["GET", "POST"])
def join(request: HttpRequest, token: str) -> HttpResponse:
    """The public form behind a community's join link: a phone form that creates a
    volunteer waiting for verification. At most JOIN_LIMIT submissions per client address
    per window (429 after). Shows nothing back but the masked phone."""
    community = vol.community_for_join(token)
    if community is None:
        return render(request, "errands/join.html", {"invalid": True}, status=404)
    context = {"community": community, "minutes": vol.JOIN_WINDOW // 60}
    client = _client(request)
    if vol.join_attempts(client) >= vol.JOIN_LIMIT:
        return render(request, "errands/join.html", {**context, "locked": True}, status=429)
    if request.method != "POST":
        return render(request, "errands/join.html", {**context, "form": JoinForm()})
    vol.join_attempt_record(client)
    form = JoinForm(request.POST)
    if form.is_valid():
        data = form.cleaned_data
        try:
            volunteer = vol.volunteer_apply(
                community=community, name=data["name"], phone=data["phone"],
                skills=data["skills"], availability=data["availability"], note=data["note"])
        except ValidationError as exc:
            apply_errors(form, exc.message_dict)
        else:
            return render(request, "errands/join_done.html", {
                "community": community, "phone_masked": volunteer.phone_masked})
    return render(request, "errands/join.html", {**context, "form": form}, status=400)


# Verification ----------------------------------------------------------------------------


def _skill_labels(volunteer: Volunteer) -> list[str]:
    return [str(Skill(s).label) for s in volunteer.skills if s in Skill.values]


@login_required
@require_GET
def volunteers(request: HttpRequest) -> HttpResponse:
    """The volunteers of the user's communities, those waiting for verification first,
    with what each has done; the join link and QR code of the chosen community."""
    user = request.user
    if not can(user, Can.VERIFY_VOLUNTEERS):
        raise PermissionDenied
    communities = list(vol.communities_for_verifier(user))
    chosen = request.GET.get("community", "")
    community = (communities[0] if len(communities) == 1 else
                 next((c for c in communities if str(c.pk) == chosen), None))
    status = request.GET.get("status", "")
    status = status if status in VolunteerStatus.values else ""
    page = Paginator(vol.volunteer_rows(user, community=community, status=status),
                     LIST_PAGE).get_page(request.GET.get("page"))
    for row in page:
        row.skill_labels = _skill_labels(row)
    counts = vol.volunteer_counts(user, community=community)
    qr_svg = None
    if community is not None:
        # segno writes the SVG from the URL alone: nothing in it comes from user input.
        qr_svg = mark_safe(vol.join_qr(community.pk).svg_inline(  # noqa: S308
            scale=1, border=4, light="#fff", omitsize=True, svgclass="qr"))
    return render(request, "errands/volunteers.html", {
        "communities": communities, "community": community, "status": status,
        "statuses": [(s, VolunteerStatus(s).label, counts[s]) for s in VolunteerStatus.values],
        "total": sum(counts.values()), "page": page, "qr_svg": qr_svg,
        "join_url": vol.join_url(community.pk) if community is not None else ""})


@never_cache
@login_required
@require_http_methods(["GET", "POST"])
def volunteer(request: HttpRequest, volunteer_id: int) -> HttpResponse:
    """One volunteer: what they offered, their figures and open tasks, and the decision
    (verify, refuse, suspend). A new login's initial password is shown on the answer to
    the verification only, never again."""
    user = request.user
    volunteer_ = vol.volunteer_for_user(user, volunteer_id)
    do = request.POST.get("do") if request.method == "POST" else None
    posted = request.POST if request.method == "POST" else None
    users = list(vol.linkable_users(volunteer_)) if volunteer_.user_id is None else []
    verify_form = VerifyForm(posted if do == "verify" else None, users=users)
    refuse_form = ReasonForm(posted if do == "refuse" else None, prefix="refuse")
    suspend_form = ReasonForm(posted if do == "suspend" else None, prefix="suspend")
    forms_by_do = {"verify": verify_form, "refuse": refuse_form, "suspend": suspend_form}
    context: dict = {}
    ip = client_ip(request)
    if request.method == "POST":
        form = forms_by_do.get(do)
        try:
            if do == "reveal":
                context["phone"] = vol.volunteer_phone_reveal(volunteer=volunteer_, by=user,
                                                              ip=ip)
            elif form is None:
                messages.error(request, _("Choose what to do."))
            elif form.is_valid():
                data = form.cleaned_data
                if form is verify_form:
                    result = vol.volunteer_verify(
                        volunteer=volunteer_, by=user, ip=ip,
                        link_user=verify_form.users.get(data["link_user"]))
                    if result.password is None:
                        messages.success(request, _("Verified: %(name)s signs in as %(username)s.")
                                         % {"name": volunteer_.name, "username": result.username})
                        return redirect("errands:volunteer", volunteer_.pk)
                    # Shown on this answer only: a redirect would keep it in the session.
                    context["new_login"] = result
                    volunteer_ = vol.volunteer_for_user(user, volunteer_.pk)
                elif form is refuse_form:
                    vol.volunteer_refuse(volunteer=volunteer_, by=user,
                                         reason=data["reason"], ip=ip)
                    messages.success(request, _("Not accepted. The reason is kept with the "
                                                "decision."))
                    return redirect("errands:volunteer", volunteer_.pk)
                else:
                    _v, released = vol.volunteer_suspend(volunteer=volunteer_, by=user,
                                                         reason=data["reason"], ip=ip)
                    messages.success(request, _(
                        "Suspended: their login no longer works, and %(n)d open errands went "
                        "back to the queue.") % {"n": released})
                    return redirect("errands:volunteer", volunteer_.pk)
        except ValidationError as exc:
            show_errors(request, form, exc)
    return render(request, "errands/volunteer.html", {
        **context, "v": volunteer_, "skills": _skill_labels(volunteer_),
        "open_tasks": vol.volunteer_open_tasks(volunteer_),
        "verify_form": verify_form, "refuse_form": refuse_form, "suspend_form": suspend_form,
        "can_verify": volunteer_.status != VolunteerStatus.VERIFIED,
        "can_refuse": volunteer_.status == VolunteerStatus.APPLIED,
        "can_suspend": volunteer_.status == VolunteerStatus.VERIFIED,
        "handles_errands": can(user, Can.HANDLE_ERRANDS)})
