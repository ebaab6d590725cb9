"""`make run`'s guard: no DEBUG pages on a network address.

`python -m dashboard.runguard HOST` exits 2 with an explanation when HOST is not a
loopback address while DEBUG is on (DEBUG shows tracebacks, settings and every URL
pattern), unless ALLOW_DEBUG_ON_NETWORK=true. `make run HOST=0.0.0.0 DEBUG=false`
serves the same app, static files included, without them.
"""

from __future__ import annotations

import ipaddress
import sys

from dashboard.env import envbool

LOOPBACK_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost"}


def is_loopback(host: str) -> bool:
    host = host.strip().strip("[]").lower()
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def refusal(host: str) -> str | None:
    """Why serving on `host` is refused now, or None when it may go ahead."""
    if is_loopback(host) or not envbool("DEBUG", False):
        return None
    if envbool("ALLOW_DEBUG_ON_NETWORK", False):
        return None
    return (
        f"Refusing to serve on {host} with DEBUG on: anyone who can reach this address "
        "would see tracebacks, settings and every URL pattern of the app.\n"
        f"  Serve without DEBUG (static files are still served):\n"
        f"    make run HOST={host} DEBUG=false ALLOWED_HOSTS=<this machine's name>\n"
        "  or, on a network you trust, override: ALLOW_DEBUG_ON_NETWORK=true"
    )


def main(argv: list[str]) -> int:
    host = argv[1] if len(argv) > 1 else "127.0.0.1"
    reason = refusal(host)
    if reason:
        print(f"make run: {reason}", file=sys.stderr)
        return 2
    if not is_loopback(host):
        print(
            f"make run: WARNING: serving with DEBUG on at {host} "
            "(ALLOW_DEBUG_ON_NETWORK=true).",
            file=sys.stderr,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
