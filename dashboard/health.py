"""`/healthz`: is this process serving? Answered in milliseconds whatever the load.

`dashboard.serving.serve` answers a plain `GET /healthz` on the event loop before Django
(no thread, no session, no database, no queue). This view answers what reaches Django:
`/healthz` in tests and under WSGI, and `/healthz?db=1`, which also asks the database
(`SELECT 1`) and answers 503 when it does not reply.
"""

from __future__ import annotations

import logging

from django.db import DatabaseError, connection
from django.http import HttpRequest, HttpResponse
from django.views.decorators.http import require_safe

from dashboard.serving import shed_response

log = logging.getLogger(__name__)


@require_safe
def healthz(request: HttpRequest) -> HttpResponse:
    if request.GET.get("db") == "1":
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT 1")
        except DatabaseError:
            log.warning("Health check: the database does not answer", exc_info=True)
            return shed_response("database unavailable")
    return HttpResponse("ok", content_type="text/plain")
