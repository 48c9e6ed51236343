"""What exact regex overlap costs: time per pair, p50/p99/max, over realistic and hostile pairs.

    .venv/bin/python -m bench.regex_overlap
    .venv/bin/python -m bench.regex_overlap --json

(from the repository root). The other side of each pair is every ``Exact`` and ``PathPrefix``
path of the conformance corpus (tests/conformance/manifests: the Gateway API v1.6.1 suite has
no RegularExpression path, the match being implementation-specific) and every pattern below.
The patterns are the shapes the Gateway API and its implementations document (versioned APIs,
alternations, classes, anchors, case-insensitive flags) and the hostile patterns of issue 11.

Times are the CPU time of the thread (``time.thread_time``): on a shared machine wall time
mostly measures the neighbours. ``cold``: the automata are built for the pair (caches cleared
first), what a new route costs; ``warm``: both automata cached, what re-analysing a slice
costs. ``decided``: how many pairs
the search answered exactly within ``regex.MAX_STEPS``. Figures, not assertions.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

from gwwatch import manifests
from gwwatch.engine import parse
from gwwatch.engine import regex as rx
from gwwatch.engine.model import Route

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT / "tests" / "conformance" / "manifests"

PATTERNS = [
    # documented shapes
    "/v[0-9]+/.*", "/api/v[12]/users/[0-9]+", "/api/(v1|v2)/.*", "^/foo/[a-z]+$",
    "/static/.*\\.(css|js|png)", "(?i)/Login", "/users/[^/]+/orders/[0-9]{1,10}",
    "/.*", ".*", "/health(z)?", "/[a-z]{2}-[A-Z]{2}/.*", "/files/.+/download",
    "/v1/charge", "/v1/charges?/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}",
    "/api/.*/admin", "/\\Qa.b\\E/.*", "/[[:alpha:]]+/[[:digit:]]+",
    # issue 11's hostile patterns
    "/(.|.)*aaaaaaaaaaaaaaaaaa\\d", "/(.*)*(.*)*(.*)*x", "/(a|aa)+b", "/([a-z]+)*[0-9]",
]

# A product too large to search: 1000 x 1000 automaton states. The search stops at
# regex.MAX_STEPS and answers "undecided" (what the findings then call "may overlap").
PATHOLOGICAL = ("/[ab]{1000}c", "/[ab]*a[ab]{999}c")


def corpus_spaces() -> list[rx.Space]:
    out: set[rx.Space] = set()
    for source in manifests.load(sorted(str(p) for p in CORPUS.glob("*.yaml"))):
        obj = parse(source.obj)
        if not isinstance(obj, Route):
            continue
        for rule in obj.rules:
            for m in rule.matches:
                if m.path is not None and m.path_type == "Exact":
                    out.add(rx.Space("exact", m.path))
                elif m.path is not None and m.path_type == "PathPrefix":
                    out.add(rx.Space("prefix", m.path))
    return sorted(out, key=lambda s: (s.kind, s.value))


def _clear() -> None:
    for cached in (rx.intersect, rx._automaton, rx._and, rx._pick):
        cached.cache_clear()


def measure() -> dict[str, object]:
    others = [*corpus_spaces(), *(rx.Space("regex", p) for p in PATTERNS)]
    cold: list[float] = []
    warm: list[float] = []
    decided = overlapping = 0
    worst = ("", "", 0.0)
    for pattern in PATTERNS:
        mine = rx.Space("regex", pattern)
        for other in others:
            _clear()
            t0 = time.thread_time()
            found = rx.intersect(mine, other)
            cold.append(time.thread_time() - t0)
            rx.intersect.cache_clear()
            t0 = time.thread_time()
            rx.intersect(mine, other)
            warm.append(time.thread_time() - t0)
            decided += found.decided
            overlapping += found.witness is not None
            if cold[-1] > worst[2]:
                worst = (pattern, f"{other.kind} {other.value}", cold[-1])

    def pct(xs: list[float], q: float) -> float:
        return statistics.quantiles(xs, n=1000)[int(q * 10) - 1] if len(xs) > 1 else xs[0]

    _clear()
    t0 = time.thread_time()
    blowup = rx.intersect(rx.Space("regex", PATHOLOGICAL[0]), rx.Space("regex", PATHOLOGICAL[1]))
    blowup_ms = (time.thread_time() - t0) * 1e3
    return {"pathological": {"pair": PATHOLOGICAL, "decided": blowup.decided,
                             "steps": blowup.steps, "ms": blowup_ms},
            "pairs": len(cold), "corpus_paths": len(others) - len(PATTERNS),
            "patterns": len(PATTERNS), "decided": decided, "overlapping": overlapping,
            "cold_ms": {"p50": pct(cold, 50) * 1e3, "p99": pct(cold, 99) * 1e3,
                        "max": max(cold) * 1e3},
            "warm_ms": {"p50": pct(warm, 50) * 1e3, "p99": pct(warm, 99) * 1e3,
                        "max": max(warm) * 1e3},
            "slowest": {"regex": worst[0], "other": worst[1], "ms": worst[2] * 1e3},
            "max_steps": rx.MAX_STEPS}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    result = measure()
    if args.json:
        print(json.dumps(result))
        return
    print(f"{result['pairs']} pairs: {result['patterns']} patterns x "
          f"({result['corpus_paths']} conformance paths + the patterns); "
          f"decided {result['decided']}, overlapping {result['overlapping']}")
    for key in ("cold_ms", "warm_ms"):
        t = result[key]
        assert isinstance(t, dict)
        print(f"{key[:-3]:5} p50 {t['p50']:.3f} ms  p99 {t['p99']:.3f} ms  max {t['max']:.3f} ms")
    print(f"slowest pair: {result['slowest']}")
    print(f"pathological pair: {result['pathological']}")


if __name__ == "__main__":
    main()
