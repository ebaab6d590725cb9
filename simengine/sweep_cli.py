"""``python -m simengine sweep`` and ``capacity``: the command line of simengine.sweep.

    python -m simengine sweep FILE --vary PATH (--values V1,V2,... | --from A --to B --steps N) [--jobs N] [--json]
    python -m simengine capacity FILE --vary PATH [--low A --high B] [--resolution D] [--jobs N] [--json]

Imported only for these two commands (the others keep their start-up). Exit status 2
for a bad document, path, value or range, with the reason on standard error.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any, TextIO

from .advice import busiest, component_load
from .document import load_document_tree
from .errors import BudgetExceeded, DocumentError
from .objectives import error_rate, format_value
from .sweep import capacity, phase_warning, sweep, sweep_values

EXIT_OK, EXIT_FAILED, EXIT_BAD = 0, 1, 2


def add_parsers(sub: Any) -> None:
    p = sub.add_parser(
        "sweep",
        help="vary one numeric field over values and simulate every point",
    )
    p.add_argument("file", help="YAML or JSON document ('-' for stdin)")
    p.add_argument("--vary", required=True, metavar="PATH", help="e.g. workload.rps")
    group = p.add_mutually_exclusive_group(required=True)
    group.add_argument("--values", metavar="V1,V2,...", help="the points")
    group.add_argument("--from", dest="start", type=float, metavar="A")
    p.add_argument("--to", dest="stop", type=float, metavar="B")
    p.add_argument(
        "--steps", type=int, metavar="N", help="points from A to B, both included"
    )
    _common(p)
    c = sub.add_parser(
        "capacity",
        help="the largest value of one field for which every objective holds",
    )
    c.add_argument("file", help="YAML or JSON document ('-' for stdin)")
    c.add_argument("--vary", required=True, metavar="PATH", help="e.g. workload.rps")
    c.add_argument("--low", type=float, metavar="A", help="default: from the estimate")
    c.add_argument("--high", type=float, metavar="B", help="default: from the estimate")
    c.add_argument(
        "--resolution",
        type=float,
        default=0.01,
        metavar="D",
        help="how close to the boundary, as a fraction of the value (default 0.01)",
    )
    _common(c)


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--jobs",
        type=int,
        default=1,
        metavar="N",
        help="points in N processes at once (0: one per CPU)",
    )
    p.add_argument("--seed", type=int, default=None, help="override the seed")
    p.add_argument("--json", action="store_true", help="print the result as JSON")


def _read(path: str) -> bytes:
    if path == "-":
        return sys.stdin.buffer.read()
    with open(path, "rb") as f:
        return f.read()


def _values(text: str) -> list[float]:
    out = []
    for i, piece in enumerate(text.split(",")):
        try:
            out.append(float(piece))
        except ValueError:
            raise DocumentError.single(
                "--values", f"entry {i + 1} is not a number (got {piece.strip()!r})"
            ) from None
    return out


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m simengine", description="Scaleboard simulation engine"
    )
    add_parsers(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    err = sys.stderr
    try:
        data = _read(args.file)
    except OSError as exc:
        print(f"{args.file}: cannot read ({exc.strerror or exc})", file=err)
        return EXIT_BAD
    jobs = args.jobs if args.jobs > 0 else (os.cpu_count() or 1)
    try:
        tree = load_document_tree(data)
        warning = phase_warning(tree, args.vary)
        if warning:
            print(f"{args.file}: note: {warning}", file=err)
        if args.command == "sweep":
            if args.values is not None:
                values = sweep_values(values=_values(args.values))
            else:
                values = sweep_values(
                    start=args.start, stop=args.stop, steps=args.steps
                )
            result = sweep(tree, args.vary, values, jobs=jobs, seed=args.seed)
        else:
            result = capacity(
                tree,
                args.vary,
                low=args.low,
                high=args.high,
                resolution=args.resolution,
                jobs=jobs,
                seed=args.seed,
            )
    except DocumentError as exc:
        what = "sweep" if args.command == "sweep" else "find the capacity of"
        print(f"{args.file}: cannot {what} {args.vary}", file=err)
        for e in exc.errors:
            print(f"  {e.path}: {e.message}", file=err)
        return EXIT_BAD
    except BudgetExceeded as exc:
        print(f"{args.file}: stopped: {exc}", file=err)
        return EXIT_FAILED
    if args.json:
        print(json.dumps(result, sort_keys=True))
    elif args.command == "sweep":
        print(table(result))
    else:
        print(capacity_text(result, sys.stdout))
    return EXIT_OK


def _row(value: Any, report: dict[str, Any], met: bool | None = None) -> list[str]:
    lat = report["latency_ms"]
    comps = report.get("components") or {}
    top = busiest(comps)
    load = component_load(comps[top]) if top else None
    cells = [
        f"{value:.6g}",
        f"{report['throughput_rps']:,.1f}",
        "-" if lat.get("p50") is None else f"{lat['p50']:,.1f}",
        "-" if lat.get("p99") is None else f"{lat['p99']:,.1f}",
        f"{error_rate(report) * 100:.2f}%",
        f"{top} {load * 100:.0f}%" if top and load is not None else "-",
    ]
    if met is not None:
        cells.append("met" if met else "MISSED")
    return cells


def _format(head: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head))]
    lines = [
        "  ".join(c.rjust(w) for c, w in zip(r, widths, strict=True))
        for r in [head, *rows]
    ]
    return "\n".join(lines)


HEAD = ["value", "throughput rps", "p50 ms", "p99 ms", "errors", "busiest"]


def table(result: dict[str, Any]) -> str:
    """A sweep as a table: one row per point."""
    rows = [_row(p["value"], p["report"]) for p in result["points"]]
    return f"sweep of {result['vary']}\n\n" + _format(HEAD, rows)


def capacity_text(result: dict[str, Any], out: TextIO | None = None) -> str:
    """The capacity answer in words, then the points the search simulated."""
    path, best = result["vary"], result["max_value"]
    lim = result.get("limited_by")
    if lim is None:
        answer = f"{path}: {result.get('note', '')}"
    else:
        objective = lim["objective"] or "an objective"
        broke = ""
        if lim.get("value") is not None and lim.get("limit") is not None:
            broke = (
                f" ({format_value(objective, lim['value'])} against "
                f"{format_value(objective, lim['limit'])})"
            )
        where = ""
        if lim.get("component"):
            use = lim.get("utilization")
            where = f"; {lim['component']} is the busiest" + (
                f" at {use * 100:.0f}%" if use is not None else ""
            )
        answer = (
            f"{path}: up to {best:g} (resolution {result['resolution'] * 100:g}%) with "
            f"every objective met; at {lim['at']:g} {objective} breaks{broke}{where}"
        )
    rows = [_row(p["value"], p["report"], p["met"]) for p in result["points"]]
    return answer + "\n\n" + _format([*HEAD, "objectives"], rows)
