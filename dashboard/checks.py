"""System checks of our own (run by `manage.py check`; deploy ones by `--deploy`)."""

from __future__ import annotations

from django.conf import settings
from django.core.checks import Error, Tags, register


@register(Tags.security, deploy=True)
def secret_key_from_environment(app_configs, **kwargs) -> list[Error]:
    """Production needs SECRET_KEY set: the key generated into var/ is per machine, so
    behind several servers a session signed by one is refused by the next."""
    if settings.DEBUG or settings.SECRET_KEY_FROM_ENV:
        return []
    return [
        Error(
            "SECRET_KEY is not set in the environment: this server uses the key it "
            f"generated into {settings.VAR_DIR / 'secret_key'}, which no other server "
            "shares (sessions and CSRF tokens break across servers, and the key "
            "changes when var/ is lost).",
            hint="Set SECRET_KEY to one long random value shared by every server, "
            "e.g. python -c 'import secrets; print(secrets.token_urlsafe(50))'.",
            id="scaleboard.E001",
        )
    ]
