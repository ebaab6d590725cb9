"""Reads of reviews: threads, pins, status, runs of a version, the inbox, the feed.

Views reach the scenario (and so its versions) through `scenario_get_for_user` and
the team through `team_get_for_user` first; these functions take the object they
were given and read what hangs off it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.contrib.auth.models import AbstractBaseUser
from django.core.paginator import Page, Paginator
from django.db.models import CharField, F, Q, QuerySet, Value
from django.db.models.functions import Cast
from django.http import Http404
from django.urls import reverse

import simengine
from dashboard.access import ROLE_PERMS, Perm
from dashboard.reviews.models import Comment, Notification, Review, ReviewDecision
from dashboard.reviews.render import render_comment
from dashboard.runs.models import Run
from dashboard.scenarios.models import Scenario, ScenarioVersion
from dashboard.teams.models import Membership, Team

ACTIVITY_PAGE_SIZE = 30


# --- who takes part --------------------------------------------------------------


@dataclass(frozen=True)
class Member:
    username: str
    user_id: int
    may_review: bool  # may comment and decide (EDIT)


def scenario_members(*, scenario: Scenario) -> list[Member]:
    """Who may see `scenario` and so be mentioned: the team's members, or the
    personal owner (an example has nobody)."""
    if scenario.team_id is not None:
        rows = (
            Membership.objects.filter(team_id=scenario.team_id)
            .order_by("user__username")
            .values_list("user__username", "user_id", "role")
        )
        return [
            Member(name, uid, Perm.EDIT in ROLE_PERMS.get(role, frozenset()))
            for name, uid, role in rows
        ]
    if scenario.owner_id is not None:
        return [Member(scenario.owner.username, scenario.owner_id, True)]
    return []


def mention_links(*, scenario: Scenario, members: list[Member]) -> dict[str, str]:
    """username -> where the mention links: their activity in the team, or (a
    personal scenario's owner) their inbox."""
    if scenario.team_id is not None:
        feed = reverse("team_activity", kwargs={"team_id": scenario.team_id})
        return {m.username: f"{feed}?actor={m.username}" for m in members}
    return {m.username: reverse("inbox") for m in members}


# --- the version under review ----------------------------------------------------


def version_components(*, version: ScenarioVersion) -> dict[str, str]:
    """The version's component ids and their types, in document order (a stored
    version was valid when saved; a document that no longer reads has none)."""
    try:
        tree = simengine.load_document_tree(version.document_text)
    except simengine.DocumentError:
        return {}
    comps = tree.get("components") if isinstance(tree, dict) else None
    if not isinstance(comps, dict):
        return {}
    return {
        str(cid): str(comp.get("type", "")) if isinstance(comp, dict) else ""
        for cid, comp in comps.items()
    }


def version_base(
    *, scenario: Scenario, version: ScenarioVersion, base_number: int | None
) -> ScenarioVersion | None:
    """The version `version` is compared with: `base_number` when given (404 when
    there is no such version), else the one before it (None for the first)."""
    qs = scenario.versions.select_related("author")
    if base_number is not None:
        try:
            return qs.get(number=base_number)
        except ScenarioVersion.DoesNotExist:
            raise Http404("No such base version.") from None
    return qs.filter(number__lt=version.number).order_by("-number").first()


def version_runs(*, version: ScenarioVersion | None) -> list[Run]:
    """The runs of a version, newest first, with the headline figures read out of
    the report in the database (never the whole report)."""
    if version is None:
        return []
    return list(
        Run.objects.filter(version=version)
        .select_related("owner")
        .only("id", "status", "created_at", "owner__username", "version_id")
        .annotate(
            throughput_rps=F("report__throughput_rps"),
            p50_ms=F("report__latency_ms__p50"),
            p99_ms=F("report__latency_ms__p99"),
            offered=F("report__requests__offered"),
            errors=F("report__requests__errors"),
        )
        .order_by("-created_at")[:20]
    )


def scenario_runs_for_pins(*, scenario: Scenario) -> list[Run]:
    """Runs a comment may be pinned to: the scenario's newest."""
    return list(
        Run.objects.filter(scenario=scenario)
        .select_related("version")
        .only("id", "status", "created_at", "version__number")
        .order_by("-created_at")[:30]
    )


def review_get(*, version: ScenarioVersion) -> Review | None:
    return Review.objects.filter(version=version).select_related("opened_by").first()


def review_decisions(*, version: ScenarioVersion) -> list[ReviewDecision]:
    """Every decision on the version, newest first: the first is the status."""
    return list(
        ReviewDecision.objects.filter(version=version).select_related("decided_by")
    )


def review_requests(*, version: ScenarioVersion) -> list[Notification]:
    """Who was asked to review the version, by whom and when (oldest first)."""
    return list(
        Notification.objects.filter(
            version=version, kind=Notification.Kind.REVIEW_REQUEST
        )
        .select_related("recipient", "actor")
        .order_by("created_at", "pk")
    )


@dataclass
class Thread:
    root: Comment
    replies: list[Comment] = field(default_factory=list)


def version_threads(*, version: ScenarioVersion, links: dict[str, str]) -> list[Thread]:
    """The version's discussion, oldest thread first, each comment's body rendered
    (`html`) by the one renderer; deleted comments are kept only to hold replies."""
    comments = list(
        Comment.objects.filter(version=version).select_related(
            "author", "run", "run__version"
        )
    )
    threads: dict[int, Thread] = {}
    for c in comments:
        c.html = "" if c.deleted_at else render_comment(c.body, mention_links=links)
        if c.parent_id is None:
            threads[c.pk] = Thread(root=c)
    for c in comments:
        if c.parent_id is not None and c.parent_id in threads:
            threads[c.parent_id].replies.append(c)
    return [t for t in threads.values() if not t.root.deleted_at or t.replies]


def review_url(*, version: ScenarioVersion) -> str:
    return reverse(
        "review_detail",
        kwargs={"pk": version.scenario_id, "number": version.number},
    )


def version_pins(*, version: ScenarioVersion) -> dict[str, dict]:
    """{component id: {"count": threads pinned to it, "url": its first thread}}
    for the designer's badges (contract 2)."""
    rows = (
        Comment.objects.filter(
            version=version, parent=None, deleted_at=None, component_id__gt=""
        )
        .order_by("created_at", "pk")
        .values_list("component_id", "pk")
    )
    base = review_url(version=version)
    pins: dict[str, dict] = {}
    for cid, pk in rows:
        pin = pins.setdefault(cid, {"count": 0, "url": f"{base}#comment-{pk}"})
        pin["count"] += 1
    return pins


@dataclass(frozen=True)
class ReviewSummary:
    version: ScenarioVersion
    status: str
    status_label: str
    decision: ReviewDecision | None
    comment_count: int
    url: str
    pins: dict[str, dict]


def review_summary(
    *, scenario: Scenario, version: ScenarioVersion | None = None
) -> ReviewSummary | None:
    """What the scenario page's side panel shows for the shown version (the
    latest when none is given): status, comment count, link, pins."""
    if version is None:
        version = scenario.versions.only("id", "number", "scenario_id").first()
    if version is None:
        return None
    decision = (
        ReviewDecision.objects.filter(version=version)
        .select_related("decided_by")
        .first()
    )
    status = decision.status if decision else ReviewDecision.Status.OPEN
    pins = version_pins(version=version)
    count = Comment.objects.filter(version=version, deleted_at=None).count()
    return ReviewSummary(
        version=version,
        status=status,
        status_label=ReviewDecision.Status(status).label,
        decision=decision,
        comment_count=count,
        url=review_url(version=version),
        pins=pins,
    )


# --- the inbox --------------------------------------------------------------------


def notifications_for_user(*, user: AbstractBaseUser) -> QuerySet[Notification]:
    return Notification.objects.filter(recipient=user).select_related(
        "actor", "version", "version__scenario", "comment"
    )


def unread_count(*, user: AbstractBaseUser) -> int:
    """One query, on the partial index of unread notifications."""
    return Notification.objects.filter(recipient=user, read_at__isnull=True).count()


def notification_get_for_user(
    *, user: AbstractBaseUser, notification_id: int
) -> Notification:
    """The user's own notification; anyone else's is 404 (never revealed)."""
    try:
        return Notification.objects.get(pk=notification_id, recipient=user)
    except (Notification.DoesNotExist, ValueError, TypeError):
        raise Http404("No such notification.") from None


def notification_url(notification: Notification) -> str:
    """Where a notification leads: the review, at the comment when there is one."""
    if notification.version is None:
        return reverse("inbox")
    url = review_url(version=notification.version)
    if notification.comment_id:
        return f"{url}#comment-{notification.comment_id}"
    return url


# --- the team activity feed ---------------------------------------------------------

ACTIVITY_KINDS = ("saved", "ran", "commented", "decided")


def _events(team: Team, actor_id: int | None) -> QuerySet:
    """Every event of the team's scenarios as (kind, key, at) rows, one UNION ALL
    query the database orders and pages."""

    def rows(qs: QuerySet, kind: str, at: str, who: str) -> QuerySet:
        if actor_id is not None:
            qs = qs.filter(**{who: actor_id})
        return (
            qs.annotate(
                ev_kind=Value(kind, output_field=CharField()),
                ev_key=Cast("pk", output_field=CharField()),
                ev_at=F(at),
            )
            .order_by()
            .values_list("ev_kind", "ev_key", "ev_at")
        )

    in_team = Q(scenario__team=team)
    in_team_v = Q(version__scenario__team=team)
    return (
        rows(ScenarioVersion.objects.filter(in_team), "saved", "created_at", "author")
        .union(
            rows(Run.objects.filter(in_team), "ran", "created_at", "owner"),
            rows(
                Comment.objects.filter(in_team_v, deleted_at=None),
                "commented",
                "created_at",
                "author",
            ),
            rows(
                ReviewDecision.objects.filter(in_team_v),
                "decided",
                "decided_at",
                "decided_by",
            ),
            all=True,
        )
        .order_by("-ev_at", "-ev_key")
    )


@dataclass(frozen=True)
class Event:
    kind: str
    at: object
    actor: str | None
    scenario: Scenario
    version: ScenarioVersion | None
    obj: object  # the version, run, comment or decision
    url: str


def _event_objects(keys: dict[str, list[str]]) -> dict[tuple[str, str], object]:
    """The rows behind one page of events: one query per kind present."""
    found: dict[tuple[str, str], object] = {}
    if keys.get("saved"):
        for v in (
            ScenarioVersion.objects.filter(pk__in=keys["saved"])
            .select_related("scenario", "author")
            .defer("document_text", "layout")
        ):
            found["saved", str(v.pk)] = v
    if keys.get("ran"):
        for r in (
            Run.objects.filter(pk__in=keys["ran"])
            .select_related("scenario", "version", "owner")
            .only(
                "id",
                "status",
                "created_at",
                "scenario__name",
                "scenario__id",
                "version__number",
                "version__scenario_id",
                "owner__username",
            )
        ):
            found["ran", str(r.pk)] = r
    if keys.get("commented"):
        for c in (
            Comment.objects.filter(pk__in=keys["commented"])
            .select_related("author", "version", "version__scenario")
            .defer("version__document_text", "version__layout")
        ):
            found["commented", str(c.pk)] = c
    if keys.get("decided"):
        for d in (
            ReviewDecision.objects.filter(pk__in=keys["decided"])
            .select_related("decided_by", "version", "version__scenario")
            .defer("version__document_text", "version__layout")
        ):
            found["decided", str(d.pk)] = d
    return found


def _event(kind: str, obj) -> Event:
    if kind == "saved":
        actor, scenario, version = obj.author, obj.scenario, obj
        url = reverse("scenario_version", args=[obj.scenario_id, obj.number])
    elif kind == "ran":
        actor, scenario, version = obj.owner, obj.scenario, obj.version
        url = reverse("run_detail", args=[obj.pk])
    elif kind == "commented":
        actor, scenario, version = obj.author, obj.version.scenario, obj.version
        url = f"{review_url(version=obj.version)}#comment-{obj.pk}"
    else:
        actor, scenario, version = obj.decided_by, obj.version.scenario, obj.version
        url = f"{review_url(version=obj.version)}#decision"
    at = obj.decided_at if kind == "decided" else obj.created_at
    return Event(
        kind=kind,
        at=at,
        actor=actor.username if actor else None,
        scenario=scenario,
        version=version,
        obj=obj,
        url=url,
    )


def team_activity_page(
    *, team: Team, page_number: object = 1, actor_id: int | None = None
) -> tuple[Page, list[Event]]:
    """One page of the team's activity, newest first: a count, a page of keys and
    at most one query per kind of event, whatever the page size."""
    paginator = Paginator(_events(team, actor_id), ACTIVITY_PAGE_SIZE)
    page = paginator.get_page(page_number)
    keys: dict[str, list[str]] = {}
    for kind, key, _at in page.object_list:
        keys.setdefault(kind, []).append(key)
    found = _event_objects(keys)
    events = [
        _event(kind, found[kind, key])
        for kind, key, _at in page.object_list
        if (kind, key) in found
    ]
    return page, events
