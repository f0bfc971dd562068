"""Shift rota pages: my shifts and swaps (every staff member); a community's rota board,
its posts and staff, and a plan (rota managers)."""

from __future__ import annotations

from datetime import timedelta

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods

from fangkong.accounts.models import User
from fangkong.care import rota_selectors as selectors
from fangkong.care import rota_services as services
from fangkong.care.models import (
    DayOff,
    PlanStatus,
    Post,
    PostShift,
    RotaMember,
    ShiftAssignment,
    SwapStatus,
)
from fangkong.care.rota_forms import (
    DayOffForm,
    DecideForm,
    MemberEditForm,
    MemberForm,
    PlanForm,
    PostForm,
    ShiftForm,
    SwapForm,
)
from fangkong.lib import clock
from fangkong.residents.forms import apply_errors

BOARD_DAYS = 14


def _errors_to_messages(request: HttpRequest, exc: ValidationError) -> None:
    for message in exc.messages:
        messages.error(request, message)


@login_required
@require_GET
def my_shifts(request: HttpRequest) -> HttpResponse:
    """My shifts (the coming 4 weeks and the last 7 days) and my swap requests."""
    today = clock.local_today()
    return render(request, "care/my_shifts.html", {
        "mine": selectors.my_shifts(request.user, today), "today": today,
        "member": RotaMember.objects.filter(user=request.user).select_related(
            "community").first()})


@login_required
@require_http_methods(["GET", "POST"])
def swap_ask(request: HttpRequest, assignment_id: int) -> HttpResponse:
    shift = selectors.own_assignment(request.user, assignment_id)
    colleagues = selectors.swap_colleagues(shift)
    their = selectors.colleague_shifts(shift, [m.user_id for m in colleagues])
    form = SwapForm(request.POST or None, colleagues=colleagues, their_shifts=their)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        colleague = User.objects.get(pk=data["colleague"])
        in_return = next((a for a in their if a.pk == data["in_return"]), None)
        try:
            swap = services.swap_ask(shift=shift, colleague=colleague, in_return=in_return,
                                     note=data["note"], by=request.user)
        except ValidationError as exc:
            apply_errors(form, exc.message_dict)
        else:
            messages.success(request, _("Asked %(name)s. Once they agree, the secretary "
                                        "approves the swap.") % {
                                            "name": colleague.display_name})
            return redirect("care:swap", swap.pk)
    return render(request, "care/swap_ask.html", {"shift": shift, "form": form})


@login_required
@require_http_methods(["GET", "POST"])
def swap_detail(request: HttpRequest, swap_id: int) -> HttpResponse:
    swap = selectors.swap_for_user(request.user, swap_id)
    manager = selectors.may_manage(request.user, swap.community_id)
    form = DecideForm(request.POST if request.POST.get("do") in ("approve", "refuse")
                      else None)
    if request.method == "POST":
        do = request.POST.get("do")
        try:
            if do in ("agree", "decline"):
                services.swap_answer(swap=swap, agree=do == "agree", by=request.user)
                messages.success(request, _("Answered.") if do == "decline" else _(
                    "Agreed: the secretary approves it next."))
            elif do == "cancel":
                services.swap_cancel(swap=swap, by=request.user)
                messages.success(request, _("Request withdrawn."))
            elif do in ("approve", "refuse") and form.is_valid():
                services.swap_decide(swap=swap, approve=do == "approve",
                                     reason=form.cleaned_data["reason"], by=request.user)
                messages.success(request, _("Approved: the shifts have changed hands.")
                                 if do == "approve" else _("Refused."))
            else:
                raise Http404
        except ValidationError as exc:
            if do in ("approve", "refuse"):
                apply_errors(form, exc.message_dict)
            else:
                _errors_to_messages(request, exc)
        else:
            return redirect("care:swap", swap.pk)
    return render(request, "care/swap.html", {
        "swap": swap, "form": form,
        "can_answer": swap.colleague_id == request.user.pk and swap.status == SwapStatus.ASKED,
        "can_cancel": swap.asked_by_id == request.user.pk
        and swap.status in (SwapStatus.ASKED, SwapStatus.AGREED),
        "can_decide": manager and swap.status == SwapStatus.AGREED})


@login_required
@require_http_methods(["GET", "POST"])
def communities(request: HttpRequest) -> HttpResponse:
    """The communities of a street or district with the state of their rotas, and the
    form to make drafts for all of them at once."""
    areas = selectors.communities_overview(request.user)
    if not areas and not request.user.is_superuser:
        raise PermissionDenied
    form = PlanForm(request.POST or None)
    if request.method == "POST" and form.is_valid() and request.user.area is not None:
        data = form.cleaned_data
        try:
            made = services.rota_plans_make_area(
                area=request.user.area, first_day=data["first_day"], days=7 * data["weeks"],
                ab_mode=data["ab_mode"], ab_block_days=data["ab_block_days"],
                by=request.user)
        except ValidationError as exc:
            apply_errors(form, exc.message_dict)
        else:
            messages.success(request, _(
                "Drafts made for %(n)d communities in %(seconds).1f s, %(short)d person-shifts "
                "left short: open each to check and publish it.") % {
                "n": len(made.plans), "seconds": made.seconds, "short": made.uncovered})
            for community, why in made.skipped:
                messages.warning(request, _("%(community)s skipped: %(why)s.") % {
                    "community": community.name, "why": why})
            return redirect("care:rota_communities")
    return render(request, "care/rota_communities.html", {"communities": areas,
                                                          "form": form})


@login_required
@require_http_methods(["GET", "POST"])
def board(request: HttpRequest, area_id: int) -> HttpResponse:
    """The community's published rota for the next two weeks, the swaps to approve, the
    last week's shifts (to mark absences) and the form to make a new rota."""
    community = selectors.community_for_rota(request.user, area_id)
    today = clock.local_today()
    form = PlanForm(request.POST if request.POST.get("do") == "make" else None)
    if request.method == "POST":
        do = request.POST.get("do")
        if do == "make":
            if form.is_valid():
                data = form.cleaned_data
                try:
                    plan = services.rota_plan_make(
                        community=community, first_day=data["first_day"],
                        days=7 * data["weeks"], ab_mode=data["ab_mode"],
                        ab_block_days=data["ab_block_days"], by=request.user)
                except ValidationError as exc:
                    apply_errors(form, exc.message_dict)
                else:
                    messages.success(request, _("A draft rota is ready: check it, then "
                                                "publish it."))
                    return redirect("care:plan", plan.pk)
        elif do in ("absent", "present"):
            assignment = ShiftAssignment.objects.filter(
                community=community, pk=request.POST.get("assignment") or 0).first()
            if assignment is None:
                raise Http404
            try:
                services.shift_mark_absent(assignment=assignment, absent=do == "absent",
                                           note=request.POST.get("note", ""),
                                           by=request.user)
            except ValidationError as exc:
                _errors_to_messages(request, exc)
            else:
                messages.success(request, _("Attendance recorded."))
                return redirect("care:rota", community.pk)
        else:
            raise Http404
    last = today + timedelta(days=BOARD_DAYS - 1)
    table = selectors.rota_table(selectors.published_shifts(community, today, last),
                                 first_day=today, days=BOARD_DAYS,
                                 columns=selectors.columns_of(community))
    return render(request, "care/rota_board.html", {
        "community": community, "table": table, "form": form, "today": today,
        "swaps": selectors.swaps_to_approve(community),
        "recent": selectors.recent_shifts(community, today),
        "plans": selectors.plans_of(community)})


@login_required
@require_http_methods(["GET", "POST"])
def setup(request: HttpRequest, area_id: int) -> HttpResponse:
    """A community's posts and their shifts, its staff in teams A and B, and days off."""
    community = selectors.community_for_rota(request.user, area_id)
    posts = selectors.posts_of(community)
    members = selectors.members_of(community)
    do = request.POST.get("do") if request.method == "POST" else None
    posted = request.POST if request.method == "POST" else None
    forms = {
        "post_add": PostForm(posted if do == "post_add" else None, prefix="post"),
        "shift_add": ShiftForm(posted if do == "shift_add" else None, posts=posts,
                               prefix="shift"),
        "member_add": MemberForm(posted if do == "member_add" else None,
                                 staff=selectors.staff_for_rota(community), prefix="member"),
        "day_off_add": DayOffForm(posted if do == "day_off_add" else None, members=members,
                                  prefix="off"),
    }
    if request.method == "POST":
        try:
            done = _setup_change(request, community, do, forms, posts, members)
        except ValidationError as exc:
            form = forms.get(do or "")
            if form is not None:
                apply_errors(form, exc.message_dict)
            else:
                _errors_to_messages(request, exc)
        else:
            if done:
                messages.success(request, _("Saved."))
                return redirect("care:rota_setup", community.pk)
    return render(request, "care/rota_setup.html", {
        "community": community, "posts": posts, "members": members,
        "days_off": selectors.days_off_ahead(community, clock.local_today()),
        "member_rows": [(m, MemberEditForm(initial={
            "team": m.team, "kind": m.kind, "skills": m.skills,
            "avoid_shifts": m.avoid_shifts, "active": m.active}, prefix=f"m{m.pk}",
            form_id=f"m{m.pk}")) for m in members], **forms})


def _setup_change(request: HttpRequest, community, do: str | None, forms: dict,  # noqa: ANN001
                  posts: list[Post], members: list[RotaMember]) -> bool:
    """Apply one change of the setup page; False when its form is invalid."""
    by = request.user
    post_id = request.POST.get("post")
    if do in forms:
        form = forms[do]
        if not form.is_valid():
            return False
        data = form.cleaned_data
        if do == "post_add":
            services.post_add(community=community, name=data["name"], kind=data["kind"], by=by)
        elif do == "shift_add":
            post = next(p for p in posts if p.pk == data["post"])
            services.post_shift_add(post=post, name=data["name"],
                                    start_hour=data["start_hour"], end_hour=data["end_hour"],
                                    people=data["people"], skill=data["skill"], by=by)
        elif do == "member_add":
            user = selectors.staff_for_rota(community).get(pk=data["user"])
            services.member_add(community=community, user=user, team=data["team"],
                                kind=data["kind"], skills=data["skills"],
                                avoid_shifts=data["avoid_shifts"], by=by)
        else:
            member = next(m for m in members if m.pk == data["member"])
            services.day_off_add(member=member, first_day=data["first_day"],
                                 last_day=data["last_day"], kind=data["kind"],
                                 note=data["note"], by=by)
        return True
    if do in ("post_off", "post_on"):
        post = next((p for p in posts if str(p.pk) == post_id), None)
        if post is None:
            raise Http404
        services.post_set_active(post=post, active=do == "post_on", by=by)
        return True
    if do == "shift_remove":
        shift = PostShift.objects.filter(post__community=community,
                                         pk=request.POST.get("shift") or 0).first()
        if shift is None:
            raise Http404
        services.post_shift_remove(shift=shift, by=by)
        return True
    if do == "member_edit":
        member = next((m for m in members if str(m.pk) == request.POST.get("member")), None)
        if member is None:
            raise Http404
        form = MemberEditForm(request.POST, prefix=f"m{member.pk}")
        if not form.is_valid():
            raise ValidationError(form.errors)
        data = form.cleaned_data
        services.member_update(member=member, team=data["team"], kind=data["kind"],
                               skills=data["skills"], avoid_shifts=data["avoid_shifts"],
                               active=data["active"], by=by)
        return True
    if do == "day_off_remove":
        off = DayOff.objects.filter(member__community=community,
                                    pk=request.POST.get("day_off") or 0).first()
        if off is None:
            raise Http404
        services.day_off_remove(day_off=off, by=by)
        return True
    raise Http404


@login_required
@require_http_methods(["GET", "POST"])
def plan_detail(request: HttpRequest, plan_id: int) -> HttpResponse:
    """A rota plan as a table, its shifts left short with why, hours and rest per person;
    publish or discard a draft."""
    plan = selectors.plan_for_user(request.user, plan_id)
    if request.method == "POST":
        do = request.POST.get("do")
        try:
            if do == "publish":
                services.rota_plan_publish(plan=plan, by=request.user)
                messages.success(request, _("Published: the staff now see their shifts."))
                return redirect("care:rota", plan.community_id)
            if do == "discard":
                services.rota_plan_discard(plan=plan, by=request.user)
                messages.success(request, _("Draft discarded."))
                return redirect("care:rota", plan.community_id)
            raise Http404
        except ValidationError as exc:
            _errors_to_messages(request, exc)
            return redirect("care:plan", plan.pk)
    shifts = selectors.plan_shifts(plan)
    table = selectors.rota_table(shifts, first_day=plan.first_day, days=plan.days,
                                 columns=selectors.columns_of(plan.community))
    people: dict[int, dict] = {}
    for a in shifts:
        row = people.setdefault(a.user_id, {"user": a.user, "shifts": 0, "hours": 0,
                                            "days": set(), "call_ins": 0})
        row["shifts"] += 1
        row["hours"] += a.hours
        row["days"].add(a.day)
        row["call_ins"] += a.call_in
    for row in people.values():
        row["rest_days"] = plan.days - len(row["days"])
    summary = sorted(people.values(), key=lambda r: (-r["hours"], r["user"].display_name))
    return render(request, "care/rota_plan.html", {
        "plan": plan, "table": table, "summary": summary,
        "draft": plan.status == PlanStatus.DRAFT})
