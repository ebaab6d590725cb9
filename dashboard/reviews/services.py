"""Writes of reviews: comments, the question, review requests, decisions, the inbox.

Views check the permission (EDIT to write, through `scenario_get_for_user`) before
calling these; the services check what only they can: the text, the pin, that a
comment is one's own, that a reviewer is a member. Bad input raises `ReviewError`
naming the form field, and nothing is written.
"""

from __future__ import annotations

import uuid

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.utils import timezone

from dashboard.inputs import unstorable
from dashboard.reviews import selectors
from dashboard.reviews.models import (
    BODY_MAX_CHARS,
    NOTE_MAX_CHARS,
    QUESTION_MAX_CHARS,
    Comment,
    Notification,
    Review,
    ReviewDecision,
)
from dashboard.reviews.render import mentions_in
from dashboard.runs.models import Run
from dashboard.scenarios.models import ScenarioVersion


class ReviewError(Exception):
    """Refused input: `field` is the form field, `message` what is wrong with it."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


def _text(value: str, *, field: str, max_chars: int, required: bool) -> str:
    text = (value or "").replace("\r\n", "\n").strip()
    if required and not text:
        raise ReviewError(field, "write something first")
    if len(text) > max_chars:
        raise ReviewError(
            field, f"is {len(text):,} characters long; at most {max_chars:,} fit"
        )
    problem = unstorable(text)
    if problem:
        raise ReviewError(field, problem)
    return text


def _notify_mentions(
    *, comment: Comment, actor: AbstractBaseUser, text: str, already: set[str]
) -> list[Notification]:
    """A notification for each member `text` mentions (not the writer, not those in
    `already`); a mention of anyone else does nothing."""
    scenario = comment.version.scenario
    members = selectors.scenario_members(scenario=scenario)
    links = selectors.mention_links(scenario=scenario, members=members)
    named = mentions_in(text, mention_links=links) - already - {actor.username}
    ids = {m.username: m.user_id for m in members}
    return Notification.objects.bulk_create(
        [
            Notification(
                recipient_id=ids[name],
                kind=Notification.Kind.MENTION,
                actor=actor,
                version=comment.version,
                comment=comment,
            )
            for name in sorted(named)
        ]
    )


def _pinned_run(version: ScenarioVersion, run_id: str) -> Run | None:
    if not run_id:
        return None
    try:
        key = uuid.UUID(str(run_id))
    except ValueError:
        raise ReviewError("run", "is not a run id") from None
    run = Run.objects.filter(pk=key, scenario_id=version.scenario_id).first()
    if run is None:
        raise ReviewError("run", "is not a run of this scenario")
    return run


@transaction.atomic
def comment_create(
    *,
    version: ScenarioVersion,
    author: AbstractBaseUser,
    body: str,
    parent_id: int | None = None,
    component_id: str = "",
    run_id: str = "",
) -> Comment:
    """A comment on `version` (a reply when `parent_id` is given: replies join the
    root of their thread), optionally pinned to a component of the version's
    document or to a run of the scenario. Mentioned members are notified."""
    text = _text(body, field="body", max_chars=BODY_MAX_CHARS, required=True)
    parent = None
    if parent_id is not None:
        parent = Comment.objects.filter(pk=parent_id, version=version).first()
        if parent is None:
            raise ReviewError("parent", "is not a comment on this version")
        if parent.parent_id is not None:
            parent = Comment.objects.get(pk=parent.parent_id)
    component_id = (component_id or "").strip()
    if component_id and component_id not in selectors.version_components(
        version=version
    ):
        raise ReviewError(
            "component_id",
            f"{component_id!r} is not a component of version {version.number}",
        )
    run = _pinned_run(version, run_id)
    comment = Comment.objects.create(
        version=version,
        author=author,
        body=text,
        parent=parent,
        component_id=component_id,
        run=run,
    )
    _notify_mentions(comment=comment, actor=author, text=text, already=set())
    return comment


def _own(comment: Comment, user: AbstractBaseUser) -> None:
    if comment.author_id != user.pk or comment.deleted_at is not None:
        raise PermissionDenied("Only its author may change a comment.")


@transaction.atomic
def comment_edit(*, comment: Comment, user: AbstractBaseUser, body: str) -> Comment:
    """The author's new text for their comment; members newly mentioned are told."""
    _own(comment, user)
    text = _text(body, field="body", max_chars=BODY_MAX_CHARS, required=True)
    scenario = comment.version.scenario
    links = selectors.mention_links(
        scenario=scenario, members=selectors.scenario_members(scenario=scenario)
    )
    before = mentions_in(comment.body, mention_links=links)
    comment.body = text
    comment.edited_at = timezone.now()
    comment.save(update_fields=["body", "edited_at"])
    _notify_mentions(comment=comment, actor=user, text=text, already=before)
    return comment


@transaction.atomic
def comment_delete(*, comment: Comment, user: AbstractBaseUser) -> None:
    """The author deletes their comment. One that has replies stays as a
    "deleted" placeholder (its text gone) so the thread still reads."""
    _own(comment, user)
    if comment.parent_id is None and comment.replies.exists():
        comment.body = ""
        comment.deleted_at = timezone.now()
        comment.save(update_fields=["body", "deleted_at"])
        Notification.objects.filter(comment=comment).delete()
        return
    parent_id = comment.parent_id
    comment.delete()
    if parent_id is not None:
        # The last reply of a deleted root takes the placeholder with it.
        Comment.objects.filter(
            pk=parent_id, deleted_at__isnull=False, replies__isnull=True
        ).delete()


def review_question_set(
    *, version: ScenarioVersion, user: AbstractBaseUser, question: str
) -> Review:
    """Set (or clear) the question the version's review asks."""
    text = _text(
        question, field="question", max_chars=QUESTION_MAX_CHARS, required=False
    )
    review, created = Review.objects.get_or_create(
        version=version, defaults={"question": text, "opened_by": user}
    )
    if not created and review.question != text:
        review.question = text
        review.save(update_fields=["question", "updated_at"])
    return review


@transaction.atomic
def review_request(
    *, version: ScenarioVersion, actor: AbstractBaseUser, usernames: list[str]
) -> list[Notification]:
    """Ask members who may review (editors and owners) to review `version`: each
    gets a notification. Anyone else named refuses the whole request."""
    names = [n.strip() for n in usernames if n.strip()]
    if not names:
        raise ReviewError("reviewers", "choose at least one member")
    members = {
        m.username: m for m in selectors.scenario_members(scenario=version.scenario)
    }
    for name in names:
        member = members.get(name)
        if member is None:
            raise ReviewError("reviewers", f"{name!r} is not a member of this team")
        if not member.may_review:
            raise ReviewError(
                "reviewers", f"{name} may only view, so cannot review (not asked)"
            )
        if name == actor.username:
            raise ReviewError("reviewers", "you cannot ask yourself")
    Review.objects.get_or_create(version=version, defaults={"opened_by": actor})
    return Notification.objects.bulk_create(
        [
            Notification(
                recipient_id=members[name].user_id,
                kind=Notification.Kind.REVIEW_REQUEST,
                actor=actor,
                version=version,
            )
            for name in dict.fromkeys(names)
        ]
    )


@transaction.atomic
def review_decide(
    *, version: ScenarioVersion, user: AbstractBaseUser, status: str, note: str = ""
) -> ReviewDecision:
    """Record a decision (the latest is the status; every one is kept) and tell
    the version's author, whoever opened, was asked to review or decided it
    before, and its commenters (members still, not the decider)."""
    if status not in ReviewDecision.Status.values:
        raise ReviewError("status", "must be open, approved or changes_requested")
    text = _text(note, field="note", max_chars=NOTE_MAX_CHARS, required=False)
    decision = ReviewDecision.objects.create(
        version=version, status=status, decided_by=user, note=text
    )
    involved = {version.author_id}
    involved.update(
        Review.objects.filter(version=version).values_list("opened_by_id", flat=True)
    )
    involved.update(
        Notification.objects.filter(
            version=version, kind=Notification.Kind.REVIEW_REQUEST
        ).values_list("recipient_id", flat=True)
    )
    involved.update(
        Comment.objects.filter(version=version).values_list("author_id", flat=True)
    )
    involved.update(
        ReviewDecision.objects.filter(version=version).values_list(
            "decided_by_id", flat=True
        )
    )
    member_ids = {
        m.user_id for m in selectors.scenario_members(scenario=version.scenario)
    }
    recipients = sorted((involved & member_ids) - {user.pk, None})
    Notification.objects.bulk_create(
        [
            Notification(
                recipient_id=rid,
                kind=Notification.Kind.DECISION,
                actor=user,
                version=version,
                decision=decision,
            )
            for rid in recipients
        ]
    )
    return decision


def notification_mark_read(*, notification: Notification) -> None:
    if notification.read_at is None:
        notification.read_at = timezone.now()
        notification.save(update_fields=["read_at"])


def notifications_mark_all_read(*, user: AbstractBaseUser) -> int:
    return Notification.objects.filter(recipient=user, read_at__isnull=True).update(
        read_at=timezone.now()
    )
