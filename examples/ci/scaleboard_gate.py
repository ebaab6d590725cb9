#!/usr/bin/env python3
"""Gate a CI build on a design's objectives, through Scaleboard's HTTP API.

Posts a topology document to a scenario as a run (saved first as a new version when
it changed, as the editor's Run saves it), polls the run until it finishes, prints
each objective's verdict, and exits:

    0  the run succeeded and every objective held (or the document sets none)
    3  the run succeeded and an objective was missed (as `python -m simengine run`)
    2  the document or the request was refused (400: the errors name the field)
    1  anything else: no token or a refused one, the run failed or was cancelled,
       it did not finish within --timeout (it is cancelled then), network errors

Only the standard library (urllib, json): copy this file into any pipeline.

    export SCALEBOARD_URL=https://scaleboard.example.com
    export SCALEBOARD_TOKEN=sb_...      # /account/tokens/
    python3 scaleboard_gate.py --scenario 42 design.yaml
    python3 scaleboard_gate.py --new-scenario design.yaml   # makes one, prints its id

See docs/api.md, "A CI gate".
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import urllib.error
import urllib.request

EXIT_MET, EXIT_ERROR, EXIT_REFUSED, EXIT_MISSED = 0, 1, 2, 3
FINAL = {"succeeded", "failed", "cancelled"}


class ApiError(Exception):
    def __init__(self, status: int, body: dict) -> None:
        super().__init__(f"HTTP {status}: {body.get('detail', body)}")
        self.status = status
        self.body = body


class Client:
    def __init__(self, base_url: str, token: str, timeout_s: float = 30) -> None:
        self.base = base_url.rstrip("/") + "/api/v1"
        self.token = token
        self.timeout_s = timeout_s

    def call(self, method: str, path: str, body: dict | None = None) -> dict:
        """One request; a 429 is waited out (Retry-After) and sent again."""
        data = None if body is None else json.dumps(body).encode("utf-8")
        for _attempt in range(10):
            request = urllib.request.Request(
                self.base + path,
                data=data,
                method=method,
                headers={
                    "Authorization": f"Bearer {self.token}",
                    "Accept": "application/json",
                    **({"Content-Type": "application/json"} if data else {}),
                },
            )
            try:
                with urllib.request.urlopen(request, timeout=self.timeout_s) as resp:
                    return json.loads(resp.read().decode("utf-8"))
            except urllib.error.HTTPError as exc:
                try:
                    payload = json.loads(exc.read().decode("utf-8"))
                except ValueError:
                    payload = {"detail": exc.reason}
                retry = exc.headers.get("Retry-After")
                if exc.code == 429 and retry and retry.isdigit():
                    time.sleep(min(int(retry), 60))
                    continue
                raise ApiError(exc.code, payload) from None
        raise ApiError(429, {"detail": "still rate limited after 10 tries"})


def _print_refusal(exc: ApiError) -> None:
    print(f"refused: {exc}", file=sys.stderr)
    for error in exc.body.get("errors") or []:
        print(f"  {error['path']}: {error['message']}", file=sys.stderr)


def _fmt(value) -> str:
    return "-" if value is None else f"{value:g}"


def _print_verdict(run: dict) -> None:
    verdict = run.get("verdict") or {}
    latency = verdict.get("latency_ms") or {}
    print(
        f"run {run['id']}: {run['status']}; throughput "
        f"{_fmt(verdict.get('throughput_rps'))} req/s, p99 "
        f"{_fmt(latency.get('p99'))} ms, error rate {_fmt(verdict.get('error_rate'))}"
    )
    checks = verdict.get("checks") or []
    if not checks:
        print("no objectives in the document: nothing to gate on")
    for check in checks:
        sign = "<=" if check["bound"] == "max" else ">="
        where = f" ({check['component']})" if check.get("component") else ""
        print(
            f"  {'ok  ' if check['met'] else 'MISS'}  {check['objective']} {sign} "
            f"{_fmt(check['limit'])}: {_fmt(check['value'])}{where}"
        )
    print(f"details: {run['url']}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("document", help="the topology document (YAML or JSON)")
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--scenario", type=int, help="the scenario id to run it in")
    where.add_argument(
        "--new-scenario", action="store_true", help="create a scenario for it"
    )
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--message", default="CI run", help="the version's message")
    parser.add_argument("--timeout", type=float, default=900, help="seconds")
    parser.add_argument("--poll", type=float, default=2, help="seconds between polls")
    parser.add_argument("--url", default=os.environ.get("SCALEBOARD_URL", ""))
    args = parser.parse_args(argv)

    token = os.environ.get("SCALEBOARD_TOKEN", "")
    if not args.url or not token:
        print("set SCALEBOARD_URL and SCALEBOARD_TOKEN", file=sys.stderr)
        return EXIT_ERROR
    try:
        with open(args.document, encoding="utf-8") as handle:
            text = handle.read()
    except (OSError, UnicodeDecodeError) as exc:
        print(f"cannot read {args.document}: {exc}", file=sys.stderr)
        return EXIT_ERROR

    client = Client(args.url, token)
    try:
        scenario_id = args.scenario
        if args.new_scenario:
            scenario_id = client.call("POST", "/scenarios", {"document": text})["id"]
            print(f"created scenario {scenario_id}")
        body = {"scenario": scenario_id, "document": text, "message": args.message}
        if args.seed is not None:
            body["seed"] = args.seed
        run = client.call("POST", "/runs", body)
        print(f"queued run {run['id']} (version {run['version']}): {run['url']}")
        deadline = time.monotonic() + args.timeout
        while run["status"] not in FINAL:
            if time.monotonic() > deadline:
                client.call("POST", f"/runs/{run['id']}/cancel")
                print(
                    f"no result within {args.timeout:g} s: cancelled", file=sys.stderr
                )
                return EXIT_ERROR
            time.sleep(args.poll)
            run = client.call("GET", f"/runs/{run['id']}")
    except ApiError as exc:
        _print_refusal(exc)
        return EXIT_REFUSED if exc.status == 400 else EXIT_ERROR
    except (urllib.error.URLError, OSError, ValueError) as exc:
        print(f"cannot reach {args.url}: {exc}", file=sys.stderr)
        return EXIT_ERROR

    if run["status"] != "succeeded":
        print(f"run {run['id']} {run['status']}: {run['error']}", file=sys.stderr)
        return EXIT_ERROR
    _print_verdict(run)
    met = (run.get("verdict") or {}).get("objectives_met")
    return EXIT_MISSED if met is False else EXIT_MET


if __name__ == "__main__":
    sys.exit(main())
