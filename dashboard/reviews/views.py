"""Review pages: the decision record of a version, its discussion and decisions,
the Markdown export, the inbox and a team's activity feed.

Every view reaches the scenario through `scenario_get_for_user` (VIEW to read, EDIT
to write: 404 for outsiders, 403 for viewers) and the team through
`team_get_for_user`; writes go through `services`, and refused input re-renders the
page with a 400 naming the field and the user's text kept.
"""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBadRequest
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST, require_safe

from dashboard.access import Perm
from dashboard.inputs import refuse_unstorable_text
from dashboard.reviews import export, selectors, services
from dashboard.reviews.models import (
    BODY_MAX_CHARS,
    Comment,
    ReviewDecision,
)
from dashboard.scenarios.models import Scenario, ScenarioVersion
from dashboard.scenarios.selectors import scenario_get_for_user, scenario_version_get
from dashboard.teams.models import Membership
from dashboard.teams.selectors import team_get_for_user


def _version(
    request: HttpRequest, pk: int, number: int, perm: Perm
) -> tuple[Scenario, ScenarioVersion]:
    scenario = scenario_get_for_user(user=request.user, pk=pk, perm=perm)
    return scenario, scenario_version_get(scenario=scenario, number=number)


def _comment(version: ScenarioVersion, comment_id: int) -> Comment:
    try:
        return Comment.objects.select_related("version__scenario").get(
            pk=comment_id, version=version
        )
    except Comment.DoesNotExist:
        raise Http404("No such comment.") from None


def _base_number(request: HttpRequest) -> int | None:
    raw = request.GET.get("base", "").strip()
    if not raw:
        return None
    try:
        return int(raw)
    except ValueError:
        raise Http404("No such base version.") from None


def review_context(
    request: HttpRequest,
    scenario: Scenario,
    version: ScenarioVersion,
    *,
    base_number: int | None = None,
) -> dict:
    """Everything the review page and its Markdown export show."""
    members = selectors.scenario_members(scenario=scenario)
    links = selectors.mention_links(scenario=scenario, members=members)
    base = selectors.version_base(
        scenario=scenario, version=version, base_number=base_number
    )
    decisions = selectors.review_decisions(version=version)
    components = selectors.version_components(version=version)
    return {
        "scenario": scenario,
        "version": version,
        "base": base,
        "review": selectors.review_get(version=version),
        "threads": selectors.version_threads(version=version, links=links),
        "components": components,
        "pin_runs": selectors.scenario_runs_for_pins(scenario=scenario),
        "runs": selectors.version_runs(version=version),
        "base_runs": selectors.version_runs(version=base),
        "decisions": decisions,
        "decision": decisions[0] if decisions else None,
        "requests": selectors.review_requests(version=version),
        "reviewers": [
            m for m in members if m.may_review and m.user_id != request.user.pk
        ],
        "other_versions": scenario.versions.exclude(pk=version.pk).only(
            "number", "message", "scenario_id"
        )[:100],
        "statuses": ReviewDecision.Status,
        "body_max": BODY_MAX_CHARS,
        "review_path": selectors.review_url(version=version),
        **export.comparison(scenario=scenario, base=base, version=version),
    }


def _refused(
    request: HttpRequest,
    scenario: Scenario,
    version: ScenarioVersion,
    exc: services.ReviewError,
    form: str,
    target: int | None = None,
) -> HttpResponse:
    """The review page again, 400, the field and reason shown at the form that was
    sent, and what the user typed kept in it."""
    ctx = review_context(request, scenario, version)
    ctx["error"] = {
        "form": form,
        "target": target,
        "field": exc.field,
        "message": exc.message,
    }
    ctx["posted"] = request.POST
    return render(request, "reviews/review.html", ctx, status=400)


def _back(version: ScenarioVersion, anchor: str = "") -> HttpResponse:
    url = selectors.review_url(version=version)
    return redirect(f"{url}#{anchor}" if anchor else url)


@login_required
@refuse_unstorable_text
@require_safe
def review_detail(request: HttpRequest, pk: int, number: int) -> HttpResponse:
    scenario, version = _version(request, pk, number, Perm.VIEW)
    ctx = review_context(request, scenario, version, base_number=_base_number(request))
    return render(request, "reviews/review.html", ctx)


@login_required
@refuse_unstorable_text
@require_safe
def review_markdown(request: HttpRequest, pk: int, number: int) -> HttpResponse:
    """The decision record as a Markdown file (a download, never rendered here)."""
    scenario, version = _version(request, pk, number, Perm.VIEW)
    ctx = review_context(request, scenario, version, base_number=_base_number(request))
    text = export.review_markdown(ctx, base_url=request.build_absolute_uri("/"))
    response = HttpResponse(text, content_type="text/markdown; charset=utf-8")
    response["Content-Disposition"] = (
        f'attachment; filename="scenario-{scenario.pk}-v{version.number}-review.md"'
    )
    return response


def _parent_id(request: HttpRequest) -> int | None:
    raw = request.POST.get("parent", "").strip()
    if not raw:
        return None
    try:
        return int(raw)
    except ValueError:
        raise services.ReviewError("parent", "is not a comment id") from None


@login_required
@refuse_unstorable_text
@require_POST
def comment_create(request: HttpRequest, pk: int, number: int) -> HttpResponse:
    scenario, version = _version(request, pk, number, Perm.EDIT)
    parent_id = None
    try:
        parent_id = _parent_id(request)
        comment = services.comment_create(
            version=version,
            author=request.user,
            body=request.POST.get("body", ""),
            parent_id=parent_id,
            component_id=request.POST.get("component_id", ""),
            run_id=request.POST.get("run", "").strip(),
        )
    except services.ReviewError as exc:
        form = "new" if parent_id is None else "reply"
        return _refused(request, scenario, version, exc, form, parent_id)
    return _back(version, f"comment-{comment.pk}")


@login_required
@refuse_unstorable_text
@require_POST
def comment_edit(
    request: HttpRequest, pk: int, number: int, comment_id: int
) -> HttpResponse:
    scenario, version = _version(request, pk, number, Perm.EDIT)
    comment = _comment(version, comment_id)
    try:
        services.comment_edit(
            comment=comment, user=request.user, body=request.POST.get("body", "")
        )
    except services.ReviewError as exc:
        return _refused(request, scenario, version, exc, "edit", comment.pk)
    return _back(version, f"comment-{comment.pk}")


@login_required
@require_POST
def comment_delete(
    request: HttpRequest, pk: int, number: int, comment_id: int
) -> HttpResponse:
    _scenario, version = _version(request, pk, number, Perm.EDIT)
    comment = _comment(version, comment_id)
    services.comment_delete(comment=comment, user=request.user)
    return _back(version, "discussion")


@login_required
@refuse_unstorable_text
@require_POST
def review_question(request: HttpRequest, pk: int, number: int) -> HttpResponse:
    scenario, version = _version(request, pk, number, Perm.EDIT)
    try:
        services.review_question_set(
            version=version,
            user=request.user,
            question=request.POST.get("question", ""),
        )
    except services.ReviewError as exc:
        return _refused(request, scenario, version, exc, "question")
    return _back(version, "question")


@login_required
@refuse_unstorable_text
@require_POST
def review_request(request: HttpRequest, pk: int, number: int) -> HttpResponse:
    scenario, version = _version(request, pk, number, Perm.EDIT)
    try:
        services.review_request(
            version=version,
            actor=request.user,
            usernames=request.POST.getlist("reviewers"),
        )
    except services.ReviewError as exc:
        return _refused(request, scenario, version, exc, "request")
    return _back(version, "decision")


@login_required
@refuse_unstorable_text
@require_POST
def review_decide(request: HttpRequest, pk: int, number: int) -> HttpResponse:
    scenario, version = _version(request, pk, number, Perm.EDIT)
    try:
        services.review_decide(
            version=version,
            user=request.user,
            status=request.POST.get("status", ""),
            note=request.POST.get("note", ""),
        )
    except services.ReviewError as exc:
        return _refused(request, scenario, version, exc, "decide")
    return _back(version, "decision")


# --- the inbox --------------------------------------------------------------------

INBOX_LIMIT = 200


@login_required
@require_safe
def inbox(request: HttpRequest) -> HttpResponse:
    notifications = list(
        selectors.notifications_for_user(user=request.user)[:INBOX_LIMIT]
    )
    for n in notifications:
        n.url = selectors.notification_url(n)
    return render(request, "reviews/inbox.html", {"notifications": notifications})


@login_required
@require_POST
def inbox_read(request: HttpRequest, notification_id: int) -> HttpResponse:
    """Mark one's own notification read; "open" also goes to what it is about."""
    notification = selectors.notification_get_for_user(
        user=request.user, notification_id=notification_id
    )
    services.notification_mark_read(notification=notification)
    if request.POST.get("open"):
        return redirect(selectors.notification_url(notification))
    return redirect("inbox")


@login_required
@require_POST
def inbox_read_all(request: HttpRequest) -> HttpResponse:
    services.notifications_mark_all_read(user=request.user)
    return redirect("inbox")


# --- the team activity feed ---------------------------------------------------------


@login_required
@refuse_unstorable_text
@require_safe
def team_activity(request: HttpRequest, team_id: int) -> HttpResponse:
    team = team_get_for_user(user=request.user, pk=team_id)
    actor = request.GET.get("actor", "").strip()
    actor_id = None
    if actor:
        if len(actor) > 150:
            return HttpResponseBadRequest(
                "actor: not a username", content_type="text/plain"
            )
        # Only a member's activity can be asked for; anyone else has none here.
        actor_id = (
            Membership.objects.filter(team=team, user__username=actor)
            .values_list("user_id", flat=True)
            .first()
        ) or -1
    page, events = selectors.team_activity_page(
        team=team, page_number=request.GET.get("page", 1), actor_id=actor_id
    )
    return render(
        request,
        "reviews/activity.html",
        {"team": team, "page": page, "events": events, "actor": actor},
    )
