"""Typed helpers that read settings from the environment and fail loudly.

A misspelt boolean or a non-numeric limit must stop the process at start-up, not
surface later as a strange behaviour (healthchecks' settings do the same).
"""

from __future__ import annotations

import os

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


class ImproperSetting(ValueError):
    """An environment variable holds a value its setting cannot take."""


def envstr(name: str, default: str = "") -> str:
    return os.environ.get(name, default)


def envbool(name: str, default: bool = False) -> bool:
    raw = os.environ.get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ImproperSetting(f"{name} must be true or false (got {raw!r})")


def envint(name: str, default: int, *, minimum: int | None = None) -> int:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ImproperSetting(f"{name} must be an integer (got {raw!r})") from None
    if minimum is not None and value < minimum:
        raise ImproperSetting(f"{name} must be >= {minimum} (got {value})")
    return value


def envfloat(
    name: str,
    default: float,
    *,
    minimum: float | None = None,
    maximum: float | None = None,
) -> float:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ImproperSetting(f"{name} must be a number (got {raw!r})") from None
    if value != value:  # NaN passes every comparison below
        raise ImproperSetting(f"{name} must be a number (got {raw!r})")
    if minimum is not None and value < minimum:
        raise ImproperSetting(f"{name} must be >= {minimum} (got {value})")
    if maximum is not None and value > maximum:
        raise ImproperSetting(f"{name} must be <= {maximum} (got {value})")
    return value


def envlist(name: str, default: str = "") -> list[str]:
    raw = os.environ.get(name, default)
    return [item.strip() for item in raw.split(",") if item.strip()]
