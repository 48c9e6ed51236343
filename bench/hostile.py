"""What a hostile tenant's objects cost the engine: time per change under each vector of issue 11.

    .venv/bin/python -m bench.hostile                    # every vector, 60 s budget per run
    .venv/bin/python -m bench.hostile --vectors a c --budget 60
    .venv/bin/python -m bench.hostile --json             # one JSON object per run, for a note
    .venv/bin/python -m bench.hostile --growth           # per-change cost, 1 to 1,000 (table)

(from the repository root: the objects come from tests/builders.py).

Every run (one vector at one size) is a child process killed after ``--budget`` seconds, so
the bench never hangs: a step that did not finish is shown as ``> N s``. A run loads its
cluster in one batch (``apply``, as a relist does), then makes the vector's changes one at a
time (``upsert``/``delete``, as watch events do), timing each step's wall clock and CPU.

The engine runs synchronously: one step is one stretch of the event loop with nothing else
served (Lease renewal, ``/healthz``) unless analysis moves off the loop. The ``lease`` column
reads the longest step against client-go's defaults (renew deadline 10 s, retry 2 s): ``MISS``
when it outlasts the deadline, ``risk`` when it outlasts deadline - retry (a renewal due just
before the step started cannot be retried in time), ``ok`` otherwise.

Vectors:
  a  path regex ``/(.|.)*a…a\\d`` (n a's) on the victim's hostname; growth with n
  b  ``/(.*)*(.*)*(.*)*x`` on a route that owns the hostname (the older, or claimed), then a
     ``PathPrefix /v1/charge`` route of another tenant created beside it
  b2 the same regex created after the ``PathPrefix /v1/charge`` route (ranked below it, the
     regex is never tried on a path: cheap)
  c  matches per hostname M = routes x matches (20 routes once M >= 20), every route
     mirroring the same paths: load, one route edited, one deleted; growth with M
  cb the routes of c created one by one (watch events, back to back): total and longest
  d  N one-match routes hijacking one victim: load, one more hijacker, victim edited
  db the N hijackers of d created one by one
  e  324 one-match routes on one hostname deleted one by one (watch events), and as one batch;
     ``burst_s``: the deletes back to back, what the loop is held for if it does not yield
     between events
  f  a Namespace annotation claiming the victim's exact hostname beside 300 hijackers: cost,
     and how many Hijacks against the victim survive the claim
``--growth`` grows the two shapes of issue 11 from 1 to 1,000 in one process: matches per
hostname (vector c: 20 routes mirroring the same paths; the change: one route edited) and
hijackers of one victim (vector d; the change: one more hijacker). Per change it prints the
CPU time, the work counted as calls of ``precedence.applies``/``witnesses``/``contains`` (the
unit tests/unit/test_slice_bounds.py bounds), and both per match or hijacker: flat columns
mean cost linear in the slice, what docs/architecture.md ("Per-change complexity") states.
Figures, not assertions: nothing here fails on a slow machine.
"""

from __future__ import annotations

import argparse
import atexit
import functools
import json
import resource
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from tests import builders as b

ROOT = Path(__file__).resolve().parents[1]
HOST = "api.example.com"
RENEW_DEADLINE_S = 10.0
RETRY_PERIOD_S = 2.0
VICTIM_NS = "team-victim"
REGEX_B = "/(.*)*(.*)*(.*)*x"

# --- objects ---------------------------------------------------------------------------------


def base() -> list[dict[str, Any]]:
    """The infra namespace and one shared Gateway: HTTP on port 80, routes from every namespace."""
    return [b.namespace("infra"),
            b.gateway(listeners=[b.listener("http", port=80, protocol="HTTP", from_="All")])]


def route(name: str, ns: str, paths: list[tuple[str, str]], *, created: int,
          version: int = 0) -> dict[str, Any]:
    """An HTTPRoute on ``HOST`` with one rule per 64 matches; ``paths`` are (type, value)."""
    matches = [b.match(value, type=type_) for type_, value in paths]
    rules = [b.rule(*matches[i:i + 64], backend=f"svc-{name}") for i in range(0, len(matches), 64)]
    return b.http_route(name, ns, hostnames=[HOST], rules=rules or None, created=b.ts(created),
                        resource_version=str(version))


def victim(paths: list[tuple[str, str]] | None = None, version: int = 0) -> dict[str, Any]:
    return route("api", VICTIM_NS, paths or [("PathPrefix", "/v1/charge")], created=1,
                 version=version)


# --- steps -----------------------------------------------------------------------------------


_OUT = threading.Lock()


def emit(item: dict[str, Any]) -> None:
    """One JSON line, whole (the stall watcher writes from another thread)."""
    line = json.dumps(item) + "\n"
    with _OUT:
        sys.stdout.write(line)
        sys.stdout.flush()


class StallWatch(threading.Thread):
    """Another thread asking to run every 5 ms, as the event loop would if analysis ran in a
    thread: the longest it waited is the longest the engine held the GIL (one C call, e.g. a
    backtracking ``re`` match; pure Python hands the GIL over every 5 ms). A heartbeat line
    every 0.5 s lets the parent bound a stall that was still going on when it killed the run."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.longest = 0.0

    def run(self) -> None:
        last = beat = time.perf_counter()
        emit({"beat": time.time(), "stall_s": 0.0})
        while True:
            time.sleep(0.005)
            now = time.perf_counter()
            self.longest = max(self.longest, now - last - 0.005)
            last = now
            if now - beat >= 0.5:
                beat = now
                emit({"beat": time.time(), "stall_s": self.longest})


_WATCH: list[StallWatch] = []


class Run:
    """The graph of one run; each step prints one JSON line at once (a killed run keeps them)."""

    def __init__(self, trust_annotations: bool = True) -> None:
        from gwwatch.engine import ConflictGraph, Policy

        self.graph = ConflictGraph(Policy(trust_annotations=trust_annotations))
        if not _WATCH:
            watch = StallWatch()
            watch.start()
            atexit.register(lambda: emit({"stall_s": watch.longest}))
            _WATCH.append(watch)

    def step(self, what: str, call: Callable[[], object]) -> None:
        emit({"step": what, "started": True})
        emit({"beat": time.time(), "stall_s": _WATCH[0].longest})
        w0, c0 = time.perf_counter(), time.process_time()
        call()
        wall, cpu = time.perf_counter() - w0, time.process_time() - c0
        emit({"step": what, "wall_s": wall, "cpu_s": cpu, "findings": len(self.graph.findings())})

    def burst(self, what: str, calls: list[Callable[[], object]]) -> None:
        """Changes back to back, as watch events: the total, and the longest one."""
        emit({"step": what, "started": True})
        emit({"beat": time.time(), "stall_s": _WATCH[0].longest})
        longest = 0.0
        w0, c0 = time.perf_counter(), time.process_time()
        told = w0
        for k, call in enumerate(calls, 1):
            s = time.perf_counter()
            call()
            longest = max(longest, time.perf_counter() - s)
            if s - told > 1.0:  # a run killed at its budget still says how far it got
                told = s
                emit({"progress": what, "done": k, "of": len(calls), "longest_s": longest,
                      "wall_s": s - w0, "cpu_s": time.process_time() - c0})
        wall = time.perf_counter() - w0
        emit({"step": what, "wall_s": wall, "cpu_s": time.process_time() - c0,
              "longest_s": longest, "findings": len(self.graph.findings())})
        self.note(**{"burst_s": round(wall, 3)})

    def note(self, **facts: object) -> None:
        emit({"note": facts})

    def load(self, objs: list[dict[str, Any]]) -> None:
        parsed = [p for p in (_parse(o) for o in objs) if p is not None]
        self.step(f"load {len(objs)} objects", lambda: self.graph.apply(parsed))

    def upsert(self, what: str, obj: dict[str, Any]) -> None:
        parsed = _parse(obj)
        assert parsed is not None
        self.step(what, lambda: self.graph.upsert(parsed))

    def delete(self, what: str, kind: str, ns: str, name: str) -> None:
        from gwwatch.engine import ObjectRef

        self.step(what, lambda: self.graph.delete(ObjectRef(kind, ns, name)))

    def hijacks_of_victim(self) -> int:
        from gwwatch.engine import FindingKind, ObjectRef

        ref = ObjectRef("HTTPRoute", VICTIM_NS, "api")
        return sum(1 for f in self.graph.findings_of(ref)
                   if f.kind == FindingKind.HIJACK and f.other == ref)


def _parse(obj: dict[str, Any]) -> Any:
    from gwwatch.engine import parse

    return parse(obj)


def vector_a(n: int) -> None:
    pattern = "/(.|.)*" + "a" * n + r"\d"
    r = Run()
    r.load([*base(), b.namespace(VICTIM_NS), b.namespace("team-evil"), victim()])
    r.upsert("regex route created", route("evil", "team-evil", [("RegularExpression", pattern)],
                                          created=100))
    r.upsert("victim edited", victim([("PathPrefix", "/v1/charges")], version=1))


def vector_b(_: int) -> None:
    # The regex route is the older one (it owns the hostname: first on it, or claimed): the
    # victim's PathPrefix route then makes the engine try the regex on a probe path.
    r = Run()
    r.load([*base(), b.namespace(VICTIM_NS), b.namespace("team-evil"),
            route("evil", "team-evil", [("RegularExpression", REGEX_B)], created=0)])
    r.upsert("PathPrefix /v1/charge route created", victim())


def vector_b2(_: int) -> None:
    # The same regex created after the victim's route: ranked below it, never tried on a path.
    r = Run()
    r.load([*base(), b.namespace(VICTIM_NS), b.namespace("team-evil"), victim()])
    r.upsert("regex route created", route(
        "evil", "team-evil", [("RegularExpression", REGEX_B)], created=100))
    r.upsert("victim edited", victim([("PathPrefix", "/v1/charges")], version=1))


def _split(m: int) -> tuple[int, int]:
    routes = min(20, m)
    return routes, -(-m // routes)


def vector_c(m: int) -> None:
    routes, per = _split(m)
    paths = [("PathPrefix", f"/p{j}") for j in range(per)]
    cluster = [*base()]
    mine = []
    for i in range(routes):
        cluster.append(b.namespace(f"team-{i}"))
        mine.append(route(f"r{i}", f"team-{i}", paths, created=1 + i))
    r = Run()
    r.note(routes=routes, matches_per_route=per, matches=routes * per)
    r.load([*cluster, *mine])
    last = routes - 1
    edited = [*paths[:-1], ("PathPrefix", f"/p{per - 1}/edited")]
    r.upsert("one route edited", route(f"r{last}", f"team-{last}", edited, created=1 + last,
                                       version=1))
    r.delete("one route deleted", "HTTPRoute", f"team-{last}", f"r{last}")


def vector_c_burst(m: int) -> None:
    routes, per = _split(m)
    paths = [("PathPrefix", f"/p{j}") for j in range(per)]
    r = Run()
    r.note(routes=routes, matches_per_route=per, matches=routes * per)
    r.load([*base(), *(b.namespace(f"team-{i}") for i in range(routes))])
    parsed = [_parse(route(f"r{i}", f"team-{i}", paths, created=1 + i)) for i in range(routes)]
    r.burst(f"{routes} routes created one by one",
            [functools.partial(r.graph.upsert, p) for p in parsed])


def vector_d(n: int) -> None:
    cluster = [*base(), b.namespace(VICTIM_NS), victim([("PathPrefix", "/v1")])]
    hijackers = []
    for i in range(n):
        cluster.append(b.namespace(f"team-h{i}"))
        hijackers.append(route(f"h{i}", f"team-h{i}", [("PathPrefix", f"/v1/charge{i}")],
                               created=10 + i))
    r = Run()
    r.load([*cluster, *hijackers[:-1]])
    r.upsert(f"hijacker {n} created", hijackers[-1])
    r.upsert("victim edited", victim([("PathPrefix", "/v1/")], version=1))
    r.note(hijacks_of_victim=r.hijacks_of_victim())


def vector_d_burst(n: int) -> None:
    r = Run()
    r.load([*base(), b.namespace(VICTIM_NS), victim([("PathPrefix", "/v1")]),
            *(b.namespace(f"team-h{i}") for i in range(n))])
    parsed = [_parse(route(f"h{i}", f"team-h{i}", [("PathPrefix", f"/v1/charge{i}")],
                           created=10 + i)) for i in range(n)]
    r.burst(f"{n} hijackers created one by one",
            [functools.partial(r.graph.upsert, p) for p in parsed])


def vector_e(n: int) -> None:
    from gwwatch.engine import ObjectRef

    objs = [*base()]
    for i in range(n):
        objs.append(b.namespace(f"team-{i}"))
        objs.append(route(f"r{i}", f"team-{i}", [("PathPrefix", f"/p{i}")], created=1 + i))
    refs = [ObjectRef("HTTPRoute", f"team-{i}", f"r{i}") for i in range(n)]
    batch = Run()
    batch.load(objs)
    batch.step(f"{n} deletes in one batch", lambda: batch.graph.apply((), refs))
    r = Run()
    r.load(objs)
    r.burst(f"{n} deletes, one by one", [functools.partial(r.graph.delete, ref) for ref in refs])


def vector_f(n: int) -> None:
    objs = [*base(), b.namespace(VICTIM_NS), b.namespace("team-evil"),
            victim([("PathPrefix", "/v1")]),
            route("evil", "team-evil", [("PathPrefix", "/v1/charge")], created=5)]
    for i in range(n):
        objs.append(b.namespace(f"team-h{i}"))
        objs.append(route(f"h{i}", f"team-h{i}", [("PathPrefix", f"/v1/h{i}")], created=10 + i))
    r = Run()
    r.load(objs)
    before = r.hijacks_of_victim()
    r.upsert("evil namespace claims the victim's hostname",
             b.namespace("team-evil", hostnames=HOST))
    r.note(hijacks_of_victim_before=before, hijacks_of_victim_after=r.hijacks_of_victim())


VECTORS: dict[str, tuple[str, Callable[[int], None], list[int], str]] = {
    "a": ("regex /(.|.)*a{n}\\d beside the victim", vector_a, [10, 12, 14, 16, 18, 20], "n"),
    "b": ("regex /(.*)*(.*)*(.*)*x (older) beside PathPrefix /v1/charge", vector_b, [1], "-"),
    "b2": ("regex /(.*)*(.*)*(.*)*x (newer) beside PathPrefix /v1/charge", vector_b2, [1], "-"),
    "c": ("matches per hostname", vector_c, [1, 10, 100, 250, 500, 1000, 2560], "matches"),
    "cb": ("matches per hostname, routes created one by one", vector_c_burst,
           [1, 10, 100, 250, 500, 1000, 2560], "matches"),
    "d": ("hijackers of one victim", vector_d, [1, 10, 100, 300, 1000], "hijackers"),
    "db": ("hijackers of one victim, created one by one", vector_d_burst,
           [1, 10, 100, 300, 1000], "hijackers"),
    "e": ("routes on one hostname deleted", vector_e, [324], "routes"),
    "f": ("annotation claim on the victim's hostname", vector_f, [300], "hijackers"),
}


# --- the parent: one child per run, killed at the budget ---------------------------------------


def run_one(vector: str, size: int, budget: float) -> dict[str, Any]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    cmd = [sys.executable, "-m", "bench.hostile", "--one", vector, str(size)]
    w0 = time.perf_counter()
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=budget)
        stdout, timed_out, rc, err = out.stdout, False, out.returncode, out.stderr
    except subprocess.TimeoutExpired as exc:
        raw = exc.stdout or b""
        stdout = raw.decode() if isinstance(raw, bytes) else raw
        timed_out, rc, err = True, None, ""
    killed_at = time.time()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    steps: list[dict[str, Any]] = []
    notes: dict[str, Any] = {}
    stall, last_beat = 0.0, None
    for line in stdout.splitlines():
        item = json.loads(line)
        if "note" in item:
            notes.update(item["note"])
        elif "beat" in item:
            stall, last_beat = max(stall, item["stall_s"]), item["beat"]
        elif "stall_s" in item:
            stall = max(stall, item["stall_s"])
        elif "progress" in item:
            steps[-1]["progress"] = item
        elif item.get("started"):
            steps.append({"step": item["step"], "wall_s": None})
        else:
            steps[-1] = item
    unfinished = next((s["step"] for s in steps if s["wall_s"] is None), None)
    stall_done = unfinished is None
    if unfinished is not None and last_beat is not None:
        # no heartbeat since last_beat: the GIL has been held at least that long
        stall = max(stall, killed_at - last_beat - 0.5)
    return {"vector": vector, "size": size, "budget_s": budget, "timed_out": timed_out,
            "returncode": rc, "stderr": err[-2000:] if rc else "",
            "process_wall_s": round(time.perf_counter() - w0, 2),
            "process_cpu_s": round((after.ru_utime + after.ru_stime)
                                   - (before.ru_utime + before.ru_stime), 2),
            "steps": steps, "unfinished": unfinished, "notes": notes,
            "stall_s": round(stall, 3), "stall_exact": stall_done}


def longest_step(result: dict[str, Any]) -> float | None:
    """The longest stretch one change holds the loop; ``None`` when a step never finished."""
    if result["unfinished"] is not None:
        return None
    return max((s.get("longest_s", s["wall_s"]) for s in result["steps"]), default=0.0)


def verdict(seconds: float, exact: bool = True) -> str:
    if seconds > RENEW_DEADLINE_S:
        return "MISS"
    if not exact:
        return "unknown"
    if seconds > RENEW_DEADLINE_S - RETRY_PERIOD_S:
        return "risk"
    return "ok"


def loop_verdict(result: dict[str, Any]) -> str:
    longest = longest_step(result)
    if longest is None:
        running = next(s for s in result["steps"] if s["wall_s"] is None)
        if "progress" in running:  # a burst cut short: its changes so far
            return verdict(running["progress"]["longest_s"], exact=False)
        # the unfinished step ran for at least what is left of the budget after the others
        done = sum(s["wall_s"] for s in result["steps"] if s["wall_s"] is not None)
        return verdict(result["budget_s"] - done - 1.0, exact=False)
    return verdict(longest)


def _fmt(seconds: float | None, budget: float) -> str:
    return f"> {budget:g} s" if seconds is None else f"{seconds:.3f}"


HEADER = ["vec", "size", "step", "wall s", "CPU s", "longest change s", "lease: on loop",
          "GIL held s", "lease: in thread", "notes"]


def rows(result: dict[str, Any]) -> Iterator[list[str]]:
    budget = result["budget_s"]
    name = VECTORS[result["vector"]][0]
    vec, size = result["vector"], str(result["size"])
    if result["returncode"]:
        last = result["stderr"].strip().splitlines()[-1] if result["stderr"] else ""
        yield [vec, size, "(crashed)", "", "", "", "", "", "", last]
        return
    facts = ", ".join(f"{k}={v}" for k, v in result["notes"].items())
    stall = result["stall_s"]
    summary = [_fmt(longest_step(result), budget), loop_verdict(result),
               f"{stall:.3f}" if result["stall_exact"] else f">= {stall:.1f}",
               verdict(stall, result["stall_exact"])]
    first = True
    for s in result["steps"]:
        head = [vec, size] if first else ["", ""]
        tail = summary if first else ["", "", "", ""]
        if s["wall_s"] is None:
            cpu = f">= {result['process_cpu_s']:.1f} (process)"
            done = s.get("progress")
            where = "did not finish" if done is None else (
                f"did not finish: {done['done']} of {done['of']} in {done['wall_s']:.1f} s, "
                f"{done['cpu_s']:.1f} CPU-s, longest change so far {done['longest_s']:.3f} s")
            yield [*head, s["step"], _fmt(None, budget), cpu, *tail,
                   name + ("; " + facts if facts else "") + "; " + where if first else where]
        else:
            extra = f" (longest {s['longest_s']:.3f})" if "longest_s" in s else ""
            yield [*head, s["step"] + extra, f"{s['wall_s']:.3f}", f"{s['cpu_s']:.3f}", *tail,
                   (name + ("; " + facts if facts else "")) if first
                   else f"findings={s['findings']}"]
        first = False


GROWTH_SIZES = [1, 10, 100, 250, 500, 1000]


def _counted(call: Callable[[], object]) -> tuple[float, int]:
    """CPU seconds and request-space primitive calls of ``call``."""
    from gwwatch.engine import precedence

    calls = [0]
    real = {name: getattr(precedence, name) for name in ("applies", "witnesses", "contains")}

    def counting(fn: Callable[..., Any]) -> Callable[..., Any]:
        def wrapper(*args: Any, **kw: Any) -> Any:
            calls[0] += 1
            return fn(*args, **kw)
        return wrapper

    for name, fn in real.items():
        setattr(precedence, name, counting(fn))
    try:
        c0 = time.process_time()
        call()
        cpu = time.process_time() - c0
    finally:
        for name, fn in real.items():
            setattr(precedence, name, fn)
    return cpu, calls[0]


def growth(sizes: list[int]) -> None:
    from gwwatch.engine import ConflictGraph, Policy

    header = ["size", "matches: change CPU ms", "calls", "calls/match", "us/match",
              "hijackers: change CPU ms", "calls", "calls/hijacker", "us/hijacker", "hijacks"]
    table = []
    for size in sizes:
        routes, per = _split(size)
        paths = [("PathPrefix", f"/p{j}") for j in range(per)]
        objs = [*base()]
        for i in range(routes):
            objs += [b.namespace(f"team-{i}"), route(f"r{i}", f"team-{i}", paths, created=1 + i)]
        graph = ConflictGraph(Policy())
        graph.apply([_parse(o) for o in objs])
        last = routes - 1
        edited = _parse(route(f"r{last}", f"team-{last}",
                              [*paths[:-1], ("PathPrefix", f"/p{per - 1}/edited")],
                              created=1 + last, version=1))
        m_cpu, m_calls = _counted(lambda g=graph, o=edited: g.upsert(o))
        matches = routes * per
        hijack = [*base(), b.namespace(VICTIM_NS), victim([("PathPrefix", "/v1")])]
        for i in range(size - 1):
            hijack += [b.namespace(f"team-h{i}"),
                       route(f"h{i}", f"team-h{i}", [("PathPrefix", f"/v1/charge{i}")],
                             created=10 + i)]
        hijack.append(b.namespace(f"team-h{size - 1}"))
        run = Run.__new__(Run)
        run.graph = ConflictGraph(Policy())
        run.graph.apply([_parse(o) for o in hijack])
        last_one = _parse(route(f"h{size - 1}", f"team-h{size - 1}",
                                [("PathPrefix", f"/v1/charge{size - 1}")], created=10 + size))
        h_cpu, h_calls = _counted(lambda g=run.graph, o=last_one: g.upsert(o))
        table.append([str(size), f"{m_cpu * 1e3:.1f}", str(m_calls), f"{m_calls / matches:.1f}",
                      f"{m_cpu * 1e6 / matches:.0f}", f"{h_cpu * 1e3:.1f}", str(h_calls),
                      f"{h_calls / size:.1f}", f"{h_cpu * 1e6 / size:.0f}",
                      str(run.hijacks_of_victim())])
        print("  ".join(table[-1]), file=sys.stderr, flush=True)
    widths = [max(len(r[i]) for r in [header, *table]) for i in range(len(header))]
    for r in [header, *table]:
        print("  ".join(c.rjust(w) for c, w in zip(r, widths, strict=True)))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--vectors", nargs="+", choices=sorted(VECTORS), default=sorted(VECTORS))
    ap.add_argument("--sizes", type=int, nargs="+",
                    help="sizes for every chosen vector (default: each vector's own series)")
    ap.add_argument("--budget", type=float, default=60.0, help="seconds per run (default 60)")
    ap.add_argument("--json", action="store_true", help="one JSON object per run")
    ap.add_argument("--one", nargs=2, metavar=("VECTOR", "SIZE"), help=argparse.SUPPRESS)
    ap.add_argument("--growth", action="store_true",
                    help="per-change cost as matches per hostname and hijackers grow (table)")
    args = ap.parse_args()
    if args.growth:
        growth(args.sizes or GROWTH_SIZES)
        return
    if args.one is not None:
        VECTORS[args.one[0]][1](int(args.one[1]))
        return
    table: list[list[str]] = []
    progress = sys.stderr
    for v in args.vectors:
        exceeded = False
        for size in args.sizes or VECTORS[v][2]:
            if exceeded:  # a series grows: the next size would only burn another budget
                table.append([v, str(size), "(not run: a smaller size exceeded the budget)",
                              "", "", "", "MISS", "", "", ""])
                print("  ".join(table[-1]), file=progress, flush=True)
                continue
            result = run_one(v, size, args.budget)
            exceeded = result["timed_out"]
            if args.json:
                print(json.dumps(result), flush=True)
                continue
            for row in rows(result):
                table.append(row)
                print("  ".join(row), file=progress, flush=True)
    if args.json:
        return
    widths = [max(len(r[i]) for r in [HEADER, *table]) for i in range(len(HEADER))]
    for r in [HEADER, *table]:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip())


if __name__ == "__main__":
    main()
