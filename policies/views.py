from __future__ import annotations

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from accounts import permissions as perms
from accounts.access import may, requires
from policies import forms, selectors, services, simulations
from policies.models import Policy


def _version_or_404(version: int) -> Policy:
    found = selectors.policy_version(version)
    if found is None:
        raise Http404("No such policy version.")
    return found


def _render_version(
    request: HttpRequest, version: Policy, *, form: forms.DraftForm | None = None
) -> HttpResponse:
    active = selectors.active_policy()
    editable = may(request.user, perms.EDIT_POLICY) and version.edit_refusal(request.user) is None
    simulation = selectors.latest_simulation(version.pk)
    return render(
        request,
        "policies/version.html",
        {
            "version": version,
            "active": active,
            "diff": selectors.rules_diff(active.rules, version.rules)
            if active and active.pk != version.pk
            else [],
            "form": form
            or (forms.DraftForm.for_rules(version.rules, version.rationale) if editable else None),
            "simulation": selectors.simulation_view(simulation) if simulation else None,
            "simulation_current": selectors.simulation_current(version, simulation),
            "events": selectors.policy_events(policy_id=version.pk),
        },
    )


@require_GET
@requires(perms.OPEN_POLICY)
def version_detail(request: HttpRequest, version: int) -> HttpResponse:
    return _render_version(request, _version_or_404(version))


@require_POST
@requires(perms.EDIT_POLICY)
def draft_new(request: HttpRequest) -> HttpResponse:
    try:
        draft = services.policy_draft_create(author=request.user)
    except services.PolicyAdminError as error:
        messages.error(request, str(error))
        return redirect("policies:index")
    messages.success(
        request,
        _("Draft v%(version)s started from the active thresholds.") % {"version": draft.version},
    )
    return redirect("policies:version", version=draft.version)


@require_POST
@requires(perms.EDIT_POLICY)
def draft_save(request: HttpRequest, version: int) -> HttpResponse:
    draft = _version_or_404(version)
    form = forms.DraftForm(request.POST, bands=len(draft.rules.get("bands", [])))
    if not form.is_valid():
        return _render_version(request, draft, form=form)
    try:
        services.policy_draft_update(
            version=version,
            author=request.user,
            rules=form.rules(),
            rationale=form.cleaned_data["rationale"],
        )
    except services.PolicyAdminError as error:
        form.show_errors(error.errors)
        if not error.errors:
            form.add_error(None, str(error))
        return _render_version(request, draft, form=form)
    messages.success(request, _("Draft saved. Simulate it to see its impact before submitting."))
    return redirect("policies:version", version=version)


@require_POST
@requires(perms.EDIT_POLICY)
def simulate(request: HttpRequest, version: int) -> HttpResponse:
    try:
        simulations.simulation_start(version=version, actor=request.user)
    except services.PolicyAdminError as error:
        messages.error(request, str(error))
    return redirect("policies:version", version=version)


@require_POST
@requires(perms.EDIT_POLICY)
def simulation_retry(request: HttpRequest, version: int, simulation_id: int) -> HttpResponse:
    """Score the chunks a failed simulation had not scored; the others are kept."""
    found = _version_or_404(version)
    if not found.simulations.filter(pk=simulation_id).exists():
        raise Http404("No such simulation of this version.")
    try:
        simulations.simulation_retry(simulation_id=simulation_id, actor=request.user)
    except services.PolicyAdminError as error:
        messages.error(request, str(error))
    else:
        messages.success(request, _("Retrying the simulation from where it stopped."))
    return redirect("policies:version", version=version)


@require_GET
@requires(perms.OPEN_POLICY)
def simulation_panel(request: HttpRequest, version: int) -> HttpResponse:
    """The simulation panel, polled by HTMX while the worker scores the portfolio."""
    found = _version_or_404(version)
    simulation = selectors.latest_simulation(found.pk)
    return render(
        request,
        "policies/version.html#simulation",
        {
            "version": found,
            "simulation": selectors.simulation_view(simulation) if simulation else None,
            "simulation_current": selectors.simulation_current(found, simulation),
        },
    )


@require_POST
@requires(perms.EDIT_POLICY)
def submit(request: HttpRequest, version: int) -> HttpResponse:
    try:
        services.policy_submit(version=version, author=request.user)
    except services.PolicyAdminError as error:
        messages.error(request, str(error))
    else:
        messages.success(request, _("Submitted; a second policy admin reviews it."))
    return redirect("policies:version", version=version)


@require_POST
@requires(perms.APPROVE_POLICY)
def review(request: HttpRequest, version: int) -> HttpResponse:
    comment = request.POST.get("comment", "")
    choice = request.POST.get("decision")
    if choice not in ("approve", "reject"):
        messages.error(request, _("Choose to approve the version or to send it back."))
        return redirect("policies:version", version=version)
    try:
        if choice == "approve":
            approved = services.policy_approve(
                version=version,
                approver=request.user,
                comment=comment,
                share=request.POST.get("share", ""),
            )
            if approved.state == Policy.State.ACTIVE:
                messages.success(request, _("Approved and active for every account."))
            else:
                messages.success(
                    request,
                    _("Approved; the next runs score %(share)s%% of accounts with it.")
                    % {"share": approved.rollout_share},
                )
        else:
            services.policy_reject(version=version, approver=request.user, comment=comment)
            messages.success(request, _("Sent back to its author."))
    except services.PolicyAdminError as error:
        messages.error(request, str(error))
    return redirect("policies:version", version=version)


@require_POST
@requires(perms.APPROVE_POLICY)
def rollout(request: HttpRequest) -> HttpResponse:
    """Widen the staged rollout, or roll back: one action each."""
    action = request.POST.get("action")
    if action not in ("widen", "rollback"):
        messages.error(request, _("Choose to widen the rollout or to roll back."))
        return redirect("policies:index")
    try:
        if action == "widen":
            widened = services.policy_rollout_widen(
                actor=request.user, share=request.POST.get("share", "")
            )
            messages.success(
                request,
                _("v%(version)s is now active for every account.") % {"version": widened.version}
                if widened.state == Policy.State.ACTIVE
                else _("v%(version)s now reaches %(share)s%% of accounts.")
                % {"version": widened.version, "share": widened.rollout_share},
            )
        else:
            in_force = services.policy_rollback(
                actor=request.user, reason=request.POST.get("reason", "")
            )
            messages.success(
                request,
                _("Rolled back: the next run scores every account with v%(version)s.")
                % {"version": in_force.version},
            )
    except services.PolicyAdminError as error:
        messages.error(request, str(error))
    return redirect("policies:index")


@require_POST
@requires(perms.EDIT_POLICY)
def kill_switch(request: HttpRequest) -> HttpResponse:
    paused = request.POST.get("paused") == "1"
    if paused and request.POST.get("confirm") != "1":
        messages.error(
            request,
            _(
                "Tick the confirmation to pause automatic reductions: it holds every cut, "
                "portfolio-wide."
            ),
        )
        return redirect("policies:index")
    try:
        services.kill_switch_set(
            actor=request.user, paused=paused, reason=request.POST.get("reason", "")
        )
    except services.PolicyAdminError as error:
        messages.error(request, str(error))
    else:
        messages.success(
            request,
            _("Automatic reductions are paused.")
            if paused
            else _("Automatic reductions are allowed again."),
        )
    return redirect("policies:index")


@require_GET
@requires(perms.OPEN_POLICY)
def index(request: HttpRequest) -> HttpResponse:
    """Every version folded to what it changed against the one before it (the versions
    in force or still to come unfolded, with every threshold), the rollout and the
    latest changes."""
    return render(
        request,
        "policies/index.html",
        {
            "versions": selectors.policy_versions_with_changes(),
            "rollout": selectors.version_in_rollout(),
            "events": selectors.policy_events(limit=30),
        },
    )
