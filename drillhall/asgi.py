"""ASGI entry point: Django for HTTP, Channels for the live run page's websocket."""

from __future__ import annotations

import os

from django.conf import settings
from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "drillhall.settings")

# Set Django up before anything imports models (the consumers do).
django_asgi_app = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402

from drills.web.routing import websocket_urlpatterns  # noqa: E402

if settings.DRILLHALL_REAPER:
    # The web server ends runs whose orchestrator died, whether or not a worker comes back.
    from drills.web.liveness import run_reaper_thread

    run_reaper_thread()

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": AllowedHostsOriginValidator(
            AuthMiddlewareStack(URLRouter(websocket_urlpatterns))
        ),
    }
)
