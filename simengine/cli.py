"""Command line: ``python -m simengine schema | validate [--json] FILE | run FILE``."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any, TextIO

from .advice import WARN_UTILIZATION
from .document import FORMAT_VERSION, Document, document_schema, parse_document
from .errors import BudgetExceeded, DocumentError
from .objectives import summary_lines
from .runner import simulate, simulate_in_processes
from .snapshot import UTILIZATION_NOTES

EXIT_OK, EXIT_FAILED, EXIT_BAD_DOCUMENT, EXIT_OBJECTIVES_MISSED = 0, 1, 2, 3


#: Events listed in the text report; `--json` carries every one.
MAX_EVENTS_SHOWN = 20


def _read(path: str) -> bytes:
    if path == "-":
        return sys.stdin.buffer.read()
    return Path(path).read_bytes()


def _load(path: str, err: TextIO) -> Document | None:
    try:
        data = _read(path)
    except OSError as exc:
        print(f"{path}: cannot read ({exc.strerror or exc})", file=err)
        return None
    try:
        return parse_document(data)
    except DocumentError as exc:
        print(f"{path}: invalid document", file=err)
        for e in exc.errors:
            print(f"  {e.path}: {e.message}", file=err)
        return None


def _validate_json(path: str) -> int:
    """``validate --json``: the verdict as one JSON object on stdout."""
    try:
        doc = parse_document(_read(path))
    except OSError as exc:
        errors = [{"path": "(document)", "message": f"cannot read ({exc.strerror})"}]
    except DocumentError as exc:
        errors = [{"path": e.path, "message": e.message} for e in exc.errors]
    else:
        result = {
            "valid": True,
            "format": FORMAT_VERSION,
            "components": len(doc.components),
            "replications": doc.simulation.replications,
        }
        print(json.dumps(result))
        return EXIT_OK
    print(json.dumps({"valid": False, "errors": errors}))
    return EXIT_BAD_DOCUMENT


class _Progress:
    """A one-line progress bar on a terminal."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.last = -1

    def __call__(self, snap: dict[str, Any]) -> None:
        pct = int(snap["progress"] * 100)
        if pct == self.last:
            return
        self.last = pct
        bar = "#" * (pct // 4) + "." * (25 - pct // 4)
        p99 = snap["latency_ms"]["p99"]
        tail = f"p99 {p99:8.1f} ms" if p99 is not None else "p99        - ms"
        self.stream.write(
            f"\r[{bar}] {pct:3d}%  t={snap['t_s']:8.1f}s  "
            f"{snap['rps']:9.1f} rps  {tail}"
        )
        self.stream.flush()

    def replication(self, done: int, total: int) -> None:
        """Progress of replications running in other processes."""
        pct = done * 100 // total
        bar = "#" * (pct // 4) + "." * (25 - pct // 4)
        self.stream.write(f"\r[{bar}] {pct:3d}%  {done} of {total} replications done")
        self.stream.flush()

    def done(self) -> None:
        self.stream.write("\n")
        self.stream.flush()


def _fmt(value: Any, digits: int = 1) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    return f"{value:,}" if isinstance(value, int) else str(value)


def _share(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value * 100:.{digits}f}%"


#: Why a component has no utilization, when its report entry does not say.
_NO_UTILIZATION = UTILIZATION_NOTES


def _packed(head: str, items: list[str], sep: str = "; ") -> list[str]:
    """``head`` then ``items`` over lines of at most 88 columns, never splitting
    an item; continuation lines are indented."""
    lines, line = [], head
    for i, item in enumerate(items):
        piece = item + (sep.rstrip() if i < len(items) - 1 else "")
        if line.strip() and len(line) + len(piece) + 1 > 88 and line != head:
            lines.append(line.rstrip())
            line = "    "
        line += piece + " "
    lines.append(line.rstrip())
    return lines


def _cache_lines(cid: str, comp: dict[str, Any]) -> list[str]:
    items = [
        f"hit ratio {_share(comp.get('hit_ratio'))} ({_fmt(comp.get('hits'), 0)} hits, "
        f"{_fmt(comp.get('misses'), 0)} misses)",
        f"stale reads {_fmt(comp.get('stale_reads'), 0)}",
        f"evictions {_fmt(comp.get('evictions'), 0)}, expirations "
        f"{_fmt(comp.get('expirations'), 0)}",
        f"lost writes {_fmt(comp.get('lost_writes'), 0)} "
        f"({_fmt(comp.get('lost_keys'), 0)} keys)",
    ]
    if comp.get("coalesced_misses"):
        items.append(f"coalesced misses {_fmt(comp['coalesced_misses'], 0)}")
    return _packed(f"{cid}: ", items)


def _database_lines(cid: str, comp: dict[str, Any]) -> list[str]:
    """Lag, stale reads, lost writes and the load per node and per shard, for a
    database with several nodes (as the web report shows)."""
    nodes = comp.get("nodes") or {}
    if len(nodes) <= 1:
        return []
    lag = comp.get("replication_lag_ms") or {}
    items = []
    if lag.get("mean") is not None:
        items.append(
            f"replication lag mean {_fmt(lag['mean'], 2)} ms, max "
            f"{_fmt(lag.get('max'), 2)} ms"
        )
    items.append(f"stale reads {_fmt(comp.get('stale_reads'), 0)}")
    items.append(f"lost writes {_fmt(comp.get('lost_writes'), 0)}")
    if comp.get("conflicts"):
        items.append(f"conflicts {_fmt(comp['conflicts'], 0)}")
    if comp.get("keys_moved"):
        items.append(f"keys moved {_share(comp['keys_moved'])}")
    lines = _packed(f"{cid}: ", items)
    lines += _packed(
        "  nodes: ",
        [f"{name} {_share(n.get('utilization'))}" for name, n in nodes.items()],
        sep=", ",
    )
    shards = comp.get("shards") or []
    if len(shards) > 1:
        lines += _packed(
            "  shards: ",
            [
                f"{i}: {_share(sh.get('share'))} of requests, "
                f"{_share(sh.get('utilization'))} busy"
                for i, sh in enumerate(shards)
            ],
        )
    return lines


def _call_lines(comp: dict[str, Any]) -> list[str]:
    """A service's calls in the mapping form: measured shares and breakers."""
    lines = []
    for to, c in (comp.get("call_shares") or {}).items():
        lines.append(
            f"{'':<16}calls {to} on {_share(c['share'])} of requests "
            f"(probability {c['probability']:g})"
        )
    for to, b in (comp.get("breakers") or {}).items():
        lines.append(
            f"{'':<16}breaker on {to}: opened {_fmt(b['opened'], 0)}, closed "
            f"{_fmt(b['closed'], 0)}, {_fmt(b['rejected'], 0)} calls failed fast, "
            f"open {_fmt(b['open_s'])} s"
        )
    return lines


def _queue_lines(cid: str, comp: dict[str, Any]) -> list[str]:
    """A queue's messages, depth, lag and end-to-end time."""
    depth = comp.get("depth") or {}
    lag = comp.get("consumer_lag_ms") or {}
    e2e = comp.get("end_to_end_ms") or {}
    items = [
        f"published {_fmt(comp.get('published'), 0)}, consumed "
        f"{_fmt(comp.get('consumed'), 0)}, rejected {_fmt(comp.get('rejected'), 0)}, "
        f"dropped {_fmt(comp.get('dropped'), 0)}",
        f"depth mean {_fmt(depth.get('mean'), 2)}, max {_fmt(depth.get('max'), 0)}",
        f"lag ms mean {_fmt(lag.get('mean'), 2)}, max {_fmt(lag.get('max'), 2)}, "
        f"wait mean {_fmt(lag.get('wait_mean'), 2)}",
        f"end to end ms mean {_fmt(e2e.get('mean'), 2)}, p99 {_fmt(e2e.get('p99'), 2)}",
    ]
    return _packed(f"{cid}: ", items)


def _cdn_lines(cid: str, comp: dict[str, Any]) -> list[str]:
    """A CDN's hit ratio and the cross-region time its hits saved, per region."""
    items = [
        f"{name}: hit ratio {_share(r.get('hit_ratio'))} ({_fmt(r.get('hits'), 0)} "
        f"hits, {_fmt(r.get('misses'), 0)} misses), saved "
        f"{_fmt((r.get('saved_ms') or 0.0) / 1000.0, 1)} s"
        for name, r in (comp.get("regions") or {}).items()
    ]
    return _packed(f"{cid}: ", items)


#: The data tier's own lines, by component type (the web report's cards).
_DATA_TIER = {
    "cache": _cache_lines,
    "database": _database_lines,
    "queue": _queue_lines,
    "cdn": _cdn_lines,
}


def summary(report: dict[str, Any]) -> str:
    """A readable summary table of a report."""
    lines = []
    req = report["requests"]
    lat = report["latency_ms"]
    name = report.get("name") or "(unnamed)"
    lines.append(
        f"{name}: {report['duration_s']:g} s simulated after {report['warmup_s']:g} s "
        f"warm-up, seed {report['seed']}, {report['replications']} replication(s)"
    )
    lines.append("")
    lines.append(
        f"requests   offered {_fmt(req['offered'], 0)}  completed "
        f"{_fmt(req['completed'], 0)}  errors {_fmt(req['errors'], 0)}  timeouts "
        f"{_fmt(req['timeouts'], 0)}  rejected {_fmt(req['rejected'], 0)}"
        + (
            f" (rate limited {_fmt(req['rate_limited'], 0)})"
            if "rate_limited" in req
            else ""
        )
    )
    if "retries" in req:  # workload.retry: the re-sends and the load they add
        lines.append(
            f"retries    {_fmt(req['retries'], 0)} re-sends  gave up "
            f"{_fmt(req['gave_up'], 0)}  attempts {_fmt(req['attempts'], 0)} "
            f"({_fmt(req['attempts'] / report['duration_s'])}/s at the servers)"
        )
    lines.append(f"throughput {_fmt(report['throughput_rps'])} requests/s")
    lines.append(
        "latency ms mean {}  p50 {}  p90 {}  p95 {}  p99 {}  max {}".format(
            *(_fmt(lat[k], 2) for k in ("mean", "p50", "p90", "p95", "p99", "max"))
        )
    )
    closed = report.get("closed")
    if closed:  # a closed workload (workload.users)
        lines.append(
            f"closed     users {_fmt(closed['users'])}  think ms "
            f"{_fmt(closed['think_ms_mean'], 2)}  cycle ms "
            f"{_fmt(closed['cycle_ms']['mean'], 2)}  "
            f"{_fmt(closed['throughput_rps'])} cycles/s"
        )
    lines.append("")
    header = f"{'component':<16}{'type':<15}{'util':>7}{'rps':>11}{'queue':>9}"
    header += f"{'mean ms':>10}{'p99 ms':>10}"
    lines.append(header)
    lines.append("-" * len(header))
    unmeasured = []
    for cid, comp in report["components"].items():
        clat = comp.get("latency_ms") or {}
        util = comp.get("utilization")
        if util is None:
            reason = comp.get("utilization_note") or _NO_UTILIZATION.get(
                comp["type"], "not measured"
            )
            unmeasured.append(f"util - for {cid}: {reason}")
        lines.append(
            f"{cid:<16}{comp['type']:<15}{_share(util):>7}"
            f"{_fmt(comp.get('throughput_rps')):>11}"
            f"{_fmt(comp.get('queue_mean', 0.0), 2):>9}"
            f"{_fmt(clat.get('mean'), 2):>10}{_fmt(clat.get('p99'), 2):>10}"
        )
        if comp["type"] == "load_balancer" and comp.get("share"):
            shares = ", ".join(f"{k} {v:.1%}" for k, v in comp["share"].items())
            lines.append(f"{'':<16}share: {shares}")
        lines.extend(_call_lines(comp))
    lines.extend(unmeasured)
    tier = [
        line
        for cid, comp in report["components"].items()
        if comp["type"] in _DATA_TIER
        for line in _DATA_TIER[comp["type"]](cid, comp)
    ]
    if tier:
        lines.append("")
        lines.extend(tier)
    cost = report.get("cost")
    if cost:
        parts = ", ".join(
            f"{cid} {c['per_hour']:,.3f}"
            + ("" if c["default_price"] else " (own price)")
            for cid, c in cost["components"].items()
        )
        lines.append(f"cost {cost['per_hour']:,.3f} per hour: {parts}")
    lines.append("")
    neck = report["bottleneck"]
    if neck.get("component"):
        label = "bottleneck" if neck["utilization"] >= WARN_UTILIZATION else "busiest"
        lines.append(f"{label}: {neck['component']} at {_share(neck['utilization'])}")
    lines.append(f"advice: {neck['advice']}")
    for w in report.get("warnings", []):
        lines.append(f"warning: {w}")
    if report.get("ci95"):
        ci = report["ci95"]
        for key in ("throughput_rps", "latency_ms.mean", "latency_ms.p99"):
            if key in ci:
                lo, hi = ci[key]
                lines.append(f"ci95 {key}: {lo:,.2f} .. {hi:,.2f}")
    events = report.get("event_log") or []
    if events:
        lines.append("")
        lines.append(f"events ({len(events)}):")
        shown = events[:MAX_EVENTS_SHOWN]
        several = report.get("replications", 1) > 1
        for e in shown:
            where = f"{e['component']}: " if e["component"] else ""
            rep = f"replication {e['replication']}, " if several else ""
            lines.append(f"  {rep}t={e['t_s']:g} s  {where}{e['text']}")
        if len(events) > len(shown):
            lines.append(f"  ... {len(events) - len(shown)} more (--json has them all)")
    if report.get("objectives"):
        lines.append("")
        lines.extend(summary_lines(report["objectives"]))
    return "\n".join(lines)


def _replay_events(path: str, doc: Document, err: TextIO) -> list[dict] | None:
    """The injected events of a report or an event list, each checked against the
    document (errors name the event); None after printing why when they are bad."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        print(f"{path}: cannot read a report or an event list: {exc}", file=err)
        return None
    events = data.get("event_log") if isinstance(data, dict) else data
    if not isinstance(events, list):
        print(
            f"{path}: expected a report (with event_log) or a list of events", file=err
        )
        return None
    from .whatif import injection_parse

    injected = []
    for i, event in enumerate(events):
        if not isinstance(event, dict) or event.get("kind") != "injected":
            continue
        where = f"events[{i}]"
        t, r = event.get("t_s"), event.get("replication")
        if not isinstance(t, (int, float)) or not isinstance(r, int):
            print(
                f"{path}: {where}: an injected event needs t_s and replication",
                file=err,
            )
            return None
        try:
            injection_parse(doc, event.get("injection"), path=f"{where}.injection")
        except DocumentError as exc:
            for e in exc.errors:
                print(f"{path}: {e}", file=err)
            return None
        injected.append(event)
    return injected


def _sweep_parsers(sub: Any) -> None:
    """``sweep`` and ``capacity`` (simengine/sweep_cli.py), declared here so that
    ``--help`` lists them; their module is imported only when one is run."""
    for name, text in (
        ("sweep", "vary one numeric field over values and simulate every point"),
        ("capacity", "the largest value of one field for which every objective holds"),
    ):
        sub.add_parser(name, help=text)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv and argv[0] in ("sweep", "capacity"):
        from .sweep_cli import main as sweep_main

        return sweep_main(argv)
    parser = argparse.ArgumentParser(
        prog="python -m simengine", description="Scaleboard simulation engine"
    )
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("schema", help="print the JSON Schema of format 1")
    p_val = sub.add_parser("validate", help="check a document")
    p_val.add_argument("file", help="YAML or JSON document ('-' for stdin)")
    p_val.add_argument(
        "--json",
        action="store_true",
        help="print the result as JSON on stdout (errors too)",
    )
    p_run = sub.add_parser(
        "run",
        help="simulate a document and print its report (exit status 3 when one of "
        "its objectives is missed)",
    )
    p_run.add_argument("file", help="YAML or JSON document ('-' for stdin)")
    p_run.add_argument("--json", action="store_true", help="print the report as JSON")
    p_run.add_argument("--seed", type=int, default=None, help="override the seed")
    p_run.add_argument(
        "--jobs",
        type=int,
        default=1,
        metavar="N",
        help="run the replications in N processes at once (0: one per CPU); "
        "the same report",
    )
    p_run.add_argument(
        "--replay",
        metavar="FILE",
        default=None,
        help="feed back the what-if injections of a report (a run's report.json "
        "from the dashboard, or a JSON list of its events) where they landed: the "
        "same document and seed then give the same report",
    )
    _sweep_parsers(sub)
    p_est = sub.add_parser(
        "estimate", help="print the instant analytic estimate (no simulation)"
    )
    p_est.add_argument("file", help="YAML or JSON document ('-' for stdin)")
    p_est.add_argument("--json", action="store_true", help="print the estimate as JSON")
    args = parser.parse_args(argv)

    if args.command == "schema":
        print(json.dumps(document_schema(), indent=2, sort_keys=True))
        return EXIT_OK
    if args.command == "validate" and args.json:
        return _validate_json(args.file)

    doc = _load(args.file, sys.stderr)
    if doc is None:
        return EXIT_BAD_DOCUMENT
    if args.command == "validate":
        print(
            f"{args.file}: valid (format 1, {len(doc.components)} components, "
            f"{doc.simulation.replications} replication(s))"
        )
        return EXIT_OK
    if args.command == "estimate":
        from .analytic import estimate, format_estimate

        result = estimate(doc)
        print(
            json.dumps(result, sort_keys=True) if args.json else format_estimate(result)
        )
        return EXIT_OK
    feed = None
    if args.replay is not None:
        from .whatif import replay_feed

        events = _replay_events(args.replay, doc, sys.stderr)
        if events is None:
            return EXIT_BAD_DOCUMENT
        feed = replay_feed(events)
    jobs = args.jobs if args.jobs > 0 else (os.cpu_count() or 1)
    parallel = jobs > 1 and doc.simulation.replications > 1
    progress = _Progress(sys.stderr) if sys.stderr.isatty() else None
    try:
        if parallel:
            report = simulate_in_processes(
                doc,
                jobs=jobs,
                seed=args.seed,
                on_replication=progress.replication if progress else None,
                feed=feed,
            )
        else:
            report = simulate(doc, seed=args.seed, on_snapshot=progress, feed=feed)
    except BudgetExceeded as exc:
        if progress:
            progress.done()
        print(f"{args.file}: stopped: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        if progress:
            progress.done()
        return 130
    if progress:
        progress.done()
    if args.json:
        print(json.dumps(report, sort_keys=True))
    else:
        print(summary(report))
    objectives = report.get("objectives")
    if objectives and not objectives["met"]:
        missed = [c["objective"] for c in objectives["checks"] if not c["met"]]
        print(f"{args.file}: objectives missed: {', '.join(missed)}", file=sys.stderr)
        return EXIT_OBJECTIVES_MISSED
    return EXIT_OK
