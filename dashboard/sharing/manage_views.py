"""Managing a scenario's share links (MANAGE on the scenario): the list, a new
link (its URL shown this once), revoke."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST

from dashboard.access import Perm
from dashboard.inputs import refuse_unstorable_text
from dashboard.scenarios.selectors import scenario_get_for_user
from dashboard.sharing import selectors, services
from dashboard.sharing.forms import ShareLinkForm


def _page(request, scenario, form, *, created=None, status=200) -> HttpResponse:
    return render(
        request,
        "sharing/manage.html",
        {
            "scenario": scenario,
            "form": form,
            "links": selectors.share_links_for_scenario(scenario=scenario),
            "created": created,
        },
        status=status,
    )


@login_required
@refuse_unstorable_text
@require_http_methods(["GET", "HEAD", "POST"])
def share_manage(request: HttpRequest, pk: int) -> HttpResponse:
    """The scenario's links; POST makes one and shows its URL, once."""
    scenario = scenario_get_for_user(user=request.user, pk=pk, perm=Perm.MANAGE)
    if request.method != "POST":
        return _page(request, scenario, ShareLinkForm())
    form = ShareLinkForm(request.POST)
    if not form.is_valid():
        return _page(request, scenario, form, status=400)
    link, token = services.share_link_create(
        scenario=scenario,
        created_by=request.user,
        label=form.cleaned_data["label"],
        expires_at=form.cleaned_data["expires_at"],
    )
    url = request.build_absolute_uri(reverse("shared_scenario", args=[token]))
    response = _page(
        request, scenario, ShareLinkForm(), created={"link": link, "url": url}
    )
    # This page holds the token: no cache keeps it, no referrer carries it off.
    response["Cache-Control"] = "private, no-store"
    response["Referrer-Policy"] = "no-referrer"
    return response


@login_required
@require_POST
def share_revoke(request: HttpRequest, pk: int, link_id: int) -> HttpResponse:
    scenario = scenario_get_for_user(user=request.user, pk=pk, perm=Perm.MANAGE)
    link = selectors.share_link_of_scenario(scenario=scenario, link_id=link_id)
    services.share_link_revoke(link=link)
    if request.POST.get("next") == "scenario":
        return redirect("scenario_detail", pk=scenario.pk)
    return redirect("share_manage", pk=scenario.pk)
