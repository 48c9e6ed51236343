"""The long fuzz run of issue 11 (item 8): a million mutated objects through the engine.

    nice -n 19 .venv/bin/python -m bench.fuzz                       # 1,000,000 objects
    .venv/bin/python -m bench.fuzz --objects 20000 --workers 2
    .venv/bin/python -m bench.fuzz --replay 7:123456                # one input again, verbose

(from the repository root: the objects come from tests/mutate.py, the generator the CI fuzz
test uses, here with the backtracking regular expressions too).

Each input is a seed object (every kind the engine reads) with 1-4 random edits; it goes
through ``parse``, ``ConflictGraph.what_if``/``upsert`` (and one input in ten a seed's
``delete``), the queries, and the seed cluster is put back. Input ``i`` of run ``--seed s`` is
generated from ``Random(s * 2**32 + i)`` alone, so ``--replay s:i`` rebuilds it.

Counted: objects; exceptions escaping the engine (must be 0; a broken promise of the harness,
``what_if`` changing the graph or the seeds not coming back, counts too); inputs over
``--limit`` CPU seconds (must be 0), split by whether they hold one of the backtracking
patterns of issue 11 item 1; the slowest input. CPU time, not wall clock: on a shared machine
at ``nice 19`` the wall clock mostly measures the neighbours. An input still running after
``--interrupt`` CPU seconds is abandoned (``SIGPROF``) and counted as over the limit.
"""

from __future__ import annotations

import argparse
import itertools
import json
import random
import signal
import subprocess
import sys
import time
import traceback
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


class _Interrupted(BaseException):
    """Raised by the SIGPROF handler: an input ran past --interrupt CPU seconds."""


def _on_prof(signum: int, frame: object) -> None:
    raise _Interrupted


def _rng(seed: int, i: int) -> random.Random:
    return random.Random(seed * 2**32 + i)


def _holds_slow_regex(obj: object) -> bool:
    from tests.mutate import SLOW_REGEXES

    stack, seen = [obj], 0
    while stack and seen < 100_000:
        item = stack.pop()
        seen += 1
        if isinstance(item, str):
            if any(p in item for p in SLOW_REGEXES):
                return True
        elif isinstance(item, dict):
            stack.extend(item.values())
            stack.extend(k for k in item if isinstance(k, str))
        elif isinstance(item, list):
            stack.extend(item)
    return False


def _short(obj: object, limit: int = 300) -> str:
    import reprlib

    r = reprlib.Repr()
    r.maxlevel, r.maxstring, r.maxother, r.maxlong = 8, 80, 80, 60
    try:
        text = r.repr(obj)
    except (ValueError, RecursionError) as exc:
        text = f"<unprintable: {exc}>"
    return text if len(text) <= limit else text[: limit - 3] + "..."


def worker(seed: int, start: int, stop: int, limit: float, interrupt: float,
           every: int) -> None:
    """Inputs ``start`` .. ``stop - 1`` of run ``seed``; one JSON line per ``every`` inputs."""
    from tests import mutate

    sys.setrecursionlimit(max(sys.getrecursionlimit(), 1000))
    signal.signal(signal.SIGPROF, _on_prof)
    seeds = mutate.seeds()
    harness = mutate.Harness(deletes=0.1)
    counts: Counter[str] = Counter()
    slowest: dict[str, Any] = {"cpu_s": 0.0}
    events: list[dict[str, Any]] = []

    def flush(done: int) -> None:
        print(json.dumps({"done": done, "counts": counts, "slowest": slowest,
                          "events": events}), flush=True)
        events.clear()

    for i in range(start, stop):
        rng = _rng(seed, i)
        obj = mutate.mutate(rng.choice(seeds), rng, hostile=True)
        c0, w0 = time.thread_time(), time.perf_counter()
        error: str | None = None
        try:
            signal.setitimer(signal.ITIMER_PROF, interrupt)
            try:
                harness.exercise(obj, rng)
            finally:
                signal.setitimer(signal.ITIMER_PROF, 0)
        except _Interrupted:
            error = "interrupted"
        except Exception as exc:  # an exception escaping the engine: the finding of this run
            frame = traceback.extract_tb(exc.__traceback__)[-1]
            error = (f"{type(exc).__name__}: {str(exc)[:200]} "
                     f"({Path(frame.filename).name}:{frame.lineno})")
        cpu, wall = time.thread_time() - c0, time.perf_counter() - w0
        counts["objects"] += 1
        if error == "interrupted" or cpu > limit:
            slow = _holds_slow_regex(obj)
            counts["over_limit"] += 1
            counts["over_limit_backtracking_regex" if slow else "over_limit_other"] += 1
            events.append({"what": "over_limit", "input": f"{seed}:{i}", "cpu_s": round(cpu, 3),
                           "wall_s": round(wall, 3), "interrupted": error == "interrupted",
                           "size": mutate.size(obj), "backtracking_regex": slow,
                           "kind": obj.get("kind") if isinstance(obj, dict) else None})
        if error is not None and error != "interrupted":
            counts["exceptions"] += 1
            events.append({"what": "exception", "input": f"{seed}:{i}", "error": error,
                           "object": _short(obj)})
        if error is not None:
            harness = mutate.Harness(deletes=0.1)  # start again from a graph known to be whole
        if cpu > slowest["cpu_s"]:
            slowest = {"cpu_s": round(cpu, 4), "wall_s": round(wall, 4), "input": f"{seed}:{i}",
                       "size": mutate.size(obj), "interrupted": error == "interrupted",
                       "backtracking_regex": _holds_slow_regex(obj)}
        if (i - start + 1) % every == 0:
            flush(i - start + 1)
    flush(stop - start)


def replay(spec: str, interrupt: float) -> None:
    from tests import mutate

    seed, i = (int(x) for x in spec.split(":"))
    rng = _rng(seed, i)
    obj = mutate.mutate(rng.choice(mutate.seeds()), rng, hostile=True)
    print(_short(obj, 4000))
    harness = mutate.Harness(deletes=0.1)
    signal.signal(signal.SIGPROF, _on_prof)
    signal.setitimer(signal.ITIMER_PROF, interrupt)
    c0 = time.thread_time()
    try:
        harness.exercise(obj, rng)
        print(f"ok in {time.thread_time() - c0:.3f} CPU-s")
    except _Interrupted:
        print(f"interrupted after {interrupt} CPU-s")
    finally:
        signal.setitimer(signal.ITIMER_PROF, 0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--objects", type=int, default=1_000_000)
    ap.add_argument("--workers", type=int, default=1, help="child processes (default 1)")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--limit", type=float, default=1.0, help="CPU-s an input may take (1)")
    ap.add_argument("--interrupt", type=float, default=10.0,
                    help="CPU-s after which an input is abandoned (10)")
    ap.add_argument("--every", type=int, default=5000, help="progress line every N inputs")
    ap.add_argument("--replay", metavar="SEED:I", help="run one input and print it")
    ap.add_argument("--worker", nargs=2, type=int, metavar=("START", "STOP"),
                    help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.replay:
        replay(args.replay, args.interrupt)
        return
    if args.worker:
        worker(args.seed, *args.worker, args.limit, args.interrupt, args.every)
        return
    bounds = [args.objects * k // args.workers for k in range(args.workers + 1)]
    procs = [subprocess.Popen(
        [sys.executable, "-m", "bench.fuzz", "--worker", str(lo), str(hi), "--seed",
         str(args.seed), "--limit", str(args.limit), "--interrupt", str(args.interrupt),
         "--every", str(args.every)],
        stdout=subprocess.PIPE, text=True, cwd=ROOT) for lo, hi in itertools.pairwise(bounds)]
    latest: list[dict[str, Any]] = [{"counts": {}, "slowest": {"cpu_s": 0.0}} for _ in procs]
    t0 = time.perf_counter()

    def report(final: bool) -> dict[str, Any]:
        total: Counter[str] = Counter()
        for state in latest:
            total.update(state["counts"])
        slowest = max((s["slowest"] for s in latest), key=lambda s: s["cpu_s"])
        elapsed = time.perf_counter() - t0
        line = {"final": final, "elapsed_s": round(elapsed, 1),
                "rate_per_s": round(total["objects"] / max(elapsed, 1e-9), 1),
                "objects": total["objects"], "exceptions": total["exceptions"],
                "over_limit": total["over_limit"],
                "over_limit_backtracking_regex": total["over_limit_backtracking_regex"],
                "over_limit_other": total["over_limit_other"], "slowest": slowest}
        print(json.dumps(line), flush=True)
        return line

    import selectors

    sel = selectors.DefaultSelector()
    for k, p in enumerate(procs):
        assert p.stdout is not None
        sel.register(p.stdout, selectors.EVENT_READ, k)
    open_streams = len(procs)
    while open_streams:
        for key, _ in sel.select():
            line = key.fileobj.readline()  # type: ignore[union-attr]
            if not line:
                sel.unregister(key.fileobj)
                open_streams -= 1
                continue
            state = json.loads(line)
            for event in state.pop("events"):
                print(json.dumps(event), flush=True)
            latest[key.data] = state
            report(False)
    codes = [p.wait() for p in procs]
    line = report(True)
    if any(codes):
        print(json.dumps({"worker_exit_codes": codes}), flush=True)
    ok = line["exceptions"] == 0 and line["over_limit"] == 0 and not any(codes)
    print(("PASS" if ok else "FAIL") + f": {line['objects']} objects, {line['exceptions']} "
          f"exceptions escaping the engine, {line['over_limit']} inputs over {args.limit} CPU-s "
          f"({line['over_limit_backtracking_regex']} with a backtracking regex), slowest "
          f"{line['slowest']['cpu_s']} CPU-s (input {line['slowest'].get('input')})", flush=True)


if __name__ == "__main__":
    main()
