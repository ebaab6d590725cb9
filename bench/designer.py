"""Server time of one designer round trip on a 50-component document (medians, ms).

    .venv/bin/python bench/designer.py [--repeat 50]

`apply(text)` is what typing in the YAML view costs (read, validate, graph, estimate,
Mermaid); `apply(tree)` is a canvas edit (write the YAML, then the same). No HTTP: the
view adds only JSON encoding on top.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "dashboard.settings")


def main() -> None:
    import django

    django.setup()
    from estimate import fifty_component_document

    from dashboard.scenarios import designer
    from simengine import parse_document

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=50)
    args = parser.parse_args()
    text = fifty_component_document()
    first = designer.apply(text=text)
    assert first["valid"], first["errors"]
    tree = first["tree"]
    by_text, by_tree, engine_parse = [], [], []
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        designer.apply(text=text)
        t1 = time.perf_counter()
        designer.apply(tree=tree)
        t2 = time.perf_counter()
        parse_document(text)
        t3 = time.perf_counter()
        by_text.append((t1 - t0) * 1000)
        by_tree.append((t2 - t1) * 1000)
        engine_parse.append((t3 - t2) * 1000)
    print(f"components: {len(tree['components'])}, repeats: {args.repeat}")
    print(f"designer apply(text) median: {statistics.median(by_text):.1f} ms")
    print(f"designer apply(tree) median: {statistics.median(by_tree):.1f} ms")
    print(
        "for comparison, simengine.parse_document(text) alone (libyaml when present): "
        f"{statistics.median(engine_parse):.1f} ms"
    )


if __name__ == "__main__":
    main()
