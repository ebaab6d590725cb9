"""Golden reports: every example and a few data-tier documents, run with their own
seed, must print exactly the stored ``--json`` report, byte for byte.

A change that moves a number on purpose regenerates them with
``GOLDEN_UPDATE=1 pytest tests/engine/test_golden_reports.py`` and says in its commit
which reports changed and why.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

import simengine

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = Path(__file__).resolve().parent / "golden"
DOCUMENTS = sorted((ROOT / "examples").glob("*.yaml")) + sorted(
    (GOLDEN / "docs").glob("*.yaml")
)


def report_json(path: Path) -> str:
    """What ``python -m simengine run PATH --json`` prints (without the newline)."""
    doc = simengine.parse_document(path.read_bytes())
    return json.dumps(simengine.simulate(doc), sort_keys=True)


@pytest.mark.parametrize("path", DOCUMENTS, ids=[p.stem for p in DOCUMENTS])
def test_report_is_byte_identical_to_the_golden_one(path: Path) -> None:
    golden = GOLDEN / f"{path.stem}.json"
    text = report_json(path)
    if os.environ.get("GOLDEN_UPDATE") == "1":
        golden.write_text(text + "\n")
    assert golden.exists(), (
        f"no golden report for {path.name}: run with GOLDEN_UPDATE=1"
    )
    expected = golden.read_text().rstrip("\n")
    if text != expected:
        # name the first differing metric, not just "the strings differ"
        diffs = _differences(json.loads(expected), json.loads(text))
        pytest.fail(f"{path.name}: report differs from golden at {diffs[:10]}")


def test_every_example_has_a_golden_report() -> None:
    stems = {p.stem for p in DOCUMENTS}
    stored = {p.stem for p in GOLDEN.glob("*.json")}
    assert stems == stored


def _differences(a: object, b: object, path: str = "") -> list[str]:
    if isinstance(a, dict) and isinstance(b, dict):
        out = [f"{path}.{k} (only one side)" for k in set(a) ^ set(b)]
        for k in sorted(set(a) & set(b)):
            out += _differences(a[k], b[k], f"{path}.{k}" if path else k)
        return out
    if isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            return [f"{path} (length {len(a)} != {len(b)})"]
        out = []
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            out += _differences(x, y, f"{path}[{i}]")
        return out
    return [] if a == b else [f"{path}: {a!r} -> {b!r}"]
