"""ASGI entry point: pages over HTTP and live run metrics over WebSockets.

`daphne dashboard.asgi:application`. With EMBEDDED_WORKER=true (what `make run` sets) a
Celery worker thread starts in this process, so one process serves everything.
"""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "dashboard.settings")
django_asgi_app = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.conf import settings  # noqa: E402

from dashboard.origins import SameOriginValidator  # noqa: E402
from dashboard.runs.routing import websocket_urlpatterns  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": SameOriginValidator(
            AuthMiddlewareStack(URLRouter(websocket_urlpatterns))
        ),
    }
)

if settings.EMBEDDED_WORKER:
    from dashboard.embedded import start_embedded_worker

    start_embedded_worker()
