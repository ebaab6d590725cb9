"""The designer's endpoints: the canvas round trip and the inspector.

Both are previews: nothing is written to the database (saving is "Save version").
A document with errors is an answer, not a failure: 200 with the errors, each naming
its field path, so the page can show them inline as the user types (reliability row
7: "400 or an inline error"). A request that is not a document at all is a 400.
"""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.http import require_POST

from dashboard.access import Perm
from dashboard.inputs import refuse_unstorable_text
from dashboard.scenarios import designer, inspector, selectors


def _bad(message: str) -> JsonResponse:
    return JsonResponse({"error": message}, status=400)


@login_required
@require_POST
def designer_apply(request: HttpRequest, pk: int) -> HttpResponse:
    """Canvas <-> text. Body: {"text": "..."} or {"tree": {...}, "format": "yaml"
    or "json"} (JSON).

    Answers {text, tree, valid, errors, graph, estimate, mermaid}.
    """
    # Stateless (nothing is saved): the read-only designer draws with it too.
    selectors.scenario_get_for_user(user=request.user, pk=pk)
    return apply_json(request)


def apply_json(request: HttpRequest) -> HttpResponse:
    """The body of `designer_apply` once the caller is authorised: read the JSON
    request, answer the canvas round trip. Nothing is written. A shared page's
    read-only designer (dashboard.sharing) answers through this too."""
    if request.content_type != "application/json":
        # A form or multipart body: its stream may already be read (the CSRF check
        # reads form fields), and it is not what this endpoint takes anyway.
        return _bad(
            "send the request as JSON (Content-Type: application/json), not "
            + (request.content_type or "no content type")
        )
    try:
        body = designer.read_json_body(request.body)
        text = body.get("text")
        if text is not None and not isinstance(text, str):
            raise designer.BadRequest("text must be a string")
        if text is not None and len(text.encode("utf-8", "surrogatepass")) > (
            designer.MAX_BODY_BYTES
        ):
            raise designer.BadRequest("text too long")
        fmt = body.get("format", "yaml")
        if not isinstance(fmt, str):
            raise designer.BadRequest("format must be yaml or json")
        result = designer.apply(text=text, tree=body.get("tree"), fmt=fmt)
    except designer.BadRequest as exc:
        return _bad(str(exc))
    return JsonResponse(result, json_dumps_params={"ensure_ascii": False})


@login_required
@refuse_unstorable_text
@require_POST
def designer_inspect(request: HttpRequest, pk: int) -> HttpResponse:
    """htmx: the inspector form for `subject` (a component id or a section) of the
    document in the editor (`document`). With `apply=1`, the form's values are
    written into the document first; on an error nothing changes."""
    scenario = selectors.scenario_get_for_user(user=request.user, pk=pk)
    text = request.POST.get("document", "")
    target = request.POST.get("subject", "")
    # The read-only designer asks for values only; a user who may not edit gets
    # them only, whatever the page asked (applying is a preview, but a viewer's
    # inspector has nothing to apply).
    readonly = request.POST.get("readonly") == "1" or Perm.EDIT not in scenario.perms
    ctx: dict = {
        "scenario": scenario,
        "form": None,
        "result_text": None,
        "readonly": readonly,
    }
    tree, _, errors = designer.parse(text)
    if tree is None:
        ctx["problem"] = (
            "The document cannot be read, so the inspector cannot show it: "
            + "; ".join(f"{e['path']}: {e['message']}" for e in errors)
        )
        return render(request, "scenarios/detail.html#inspector", ctx)
    try:
        if request.POST.get("apply") == "1" and not readonly:
            new_tree, form, applied = inspector.apply_form(tree, target, request.POST)
            if applied:
                ctx["result_text"] = designer.tree_to_text(new_tree)
        else:
            form = inspector.build_form(tree, target)
    except inspector.NotFound:
        ctx["problem"] = f"There is no component named {target!r} in the document."
        return render(request, "scenarios/detail.html#inspector", ctx)
    ctx["form"] = form
    return render(request, "scenarios/detail.html#inspector", ctx)
