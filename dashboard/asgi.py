"""ASGI entry point: pages over HTTP and live run metrics over WebSockets.

`daphne dashboard.asgi:application` (`make run`) or `uvicorn --workers N
dashboard.asgi:application` (`make serve`, docs/operations.md "Serving"). With
EMBEDDED_WORKER=true (what `make run` sets) a Celery worker thread starts in this
process, so one process serves everything.

Pages pass through `dashboard.serving.serve` (a bound on requests in flight, `/healthz`
answered before Django); a web process uses a pool of database connections (DB_POOL).
"""

import os
import sys

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "dashboard.settings")
os.environ.setdefault("DB_POOL", "true")  # a web process: connections from a pool
django_asgi_app = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.conf import settings  # noqa: E402

from dashboard.origins import SameOriginValidator  # noqa: E402
from dashboard.runs.routing import websocket_urlpatterns  # noqa: E402
from dashboard.serving import lanes, serve  # noqa: E402

sys.setswitchinterval(settings.WEB_GIL_SWITCH_MS / 1000)
pages = serve(django_asgi_app)
application = ProtocolTypeRouter(
    {
        "http": pages,
        "websocket": lanes(
            SameOriginValidator(AuthMiddlewareStack(URLRouter(websocket_urlpatterns))),
            gate=pages.gate,  # pages make room while a handshake is pending
        ),
    }
)

if settings.EMBEDDED_WORKER:
    from dashboard.embedded import start_embedded_worker

    start_embedded_worker()
