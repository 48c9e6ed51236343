"""Does analysis stall the event loop? The real GraphWorker and HTTP server, one hostile batch.

    .venv/bin/python -m bench.loop                      # both vectors, thread and inline
    .venv/bin/python -m bench.loop --routes 20 --matches 64 --regex-n 22
    .venv/bin/python -m bench.loop --vectors hijackers --routes 1000

One process runs what ``gwwatch run`` runs on its event loop: the :class:`GraphWorker` (its
stores filled with a hostile cluster, every key queued: one batch) and the ``/healthz`` server.
A child process asks ``/healthz`` every 50 ms and reports round trips; inside the loop a
ticker measures how late ``asyncio.sleep(0.01)`` wakes up (loop lag), and a
:class:`LeaderElector` with client-go's timings renews a Lease kept in memory (renewals
missed: failed, or more than a retry period late). Each vector runs twice:

- ``thread``: as shipped, the batch analysed in the graph thread;
- ``inline``: the batch analysed on the event loop (``GraphWorker._in_thread`` bypassed),
  as before issue 11.

Vectors: ``matches`` — R routes × M matches mirroring the same paths on one hostname
(pure-Python analysis); ``hijackers`` — R one-match routes of another tenant each taking a
longer prefix of one victim's hostname; ``regex`` — a path regex ``/(.|.)*a…a\\d`` beside a
prefix route (with Python's backtracking ``re`` this was one C call holding the GIL for
minutes: a thread could not help; the engine's RE2 is linear). Figures, not assertions.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import time
from collections.abc import Mapping
from typing import Any

from gwwatch.engine import ObjectRef, Policy
from gwwatch.metrics import Metrics
from gwwatch.runtime.leader import LeaderElector, LeaseConfig
from gwwatch.runtime.queue import KeyQueue
from gwwatch.runtime.server import Server
from gwwatch.runtime.store import Store
from gwwatch.runtime.worker import GraphWorker
from tests import builders as b

HOST = "api.example.com"

PROBE = r"""
import json, socket, sys, time
port, stop_after = int(sys.argv[1]), float(sys.argv[2])
rtts = []
end = time.monotonic() + stop_after
while time.monotonic() < end:
    t = time.monotonic()
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            while s.recv(4096):
                pass
    except OSError:
        pass
    rtts.append(time.monotonic() - t)
    time.sleep(0.05)
print(json.dumps(rtts))
"""


class MemoryLease:
    """A Lease in memory, answering at once."""

    def __init__(self) -> None:
        self.lease: dict[str, Any] | None = None

    async def get(self) -> dict[str, Any] | None:
        return self.lease

    async def create(self, lease: Mapping[str, Any]) -> dict[str, Any]:
        self.lease = dict(lease)
        return self.lease

    async def update(self, lease: Mapping[str, Any]) -> dict[str, Any]:
        self.lease = dict(lease)
        return self.lease


def objects(vector: str, routes: int, matches: int, regex_n: int) -> list[dict[str, Any]]:
    out = [b.namespace("infra"), b.namespace("victim"), b.namespace("evil"),
           b.gateway(listeners=[b.listener("http", port=80, protocol="HTTP", from_="All")])]
    if vector == "matches":
        paths = [b.match(f"/p{j}") for j in range(matches)]
        for i in range(routes):
            ns = "victim" if i == 0 else "evil"
            rules = [b.rule(*paths[k:k + 64], backend=f"svc-{i}")
                     for k in range(0, len(paths), 64)]
            out.append(b.http_route(f"r{i}", ns, hostnames=[HOST], rules=rules,
                                    created=b.ts(i + 1)))
    elif vector == "hijackers":
        out.append(b.http_route("api", "victim", hostnames=[HOST],
                                matches=[b.match("/v1/charge")], created=b.ts(1)))
        for i in range(routes):
            out.append(b.http_route(f"evil{i}", "evil", hostnames=[HOST],
                                    matches=[b.match(f"/v1/charge/{i}")], created=b.ts(i + 2)))
    else:
        out.append(b.http_route("api", "victim", hostnames=[HOST],
                                matches=[b.match("/v1/charge")], created=b.ts(1)))
        pattern = "/(.|.)*" + "a" * regex_n + r"\d"
        out.append(b.http_route("evil", "evil", hostnames=[HOST],
                                matches=[b.match(pattern, type="RegularExpression")],
                                created=b.ts(2)))
    return out


async def one(vector: str, mode: str, args: argparse.Namespace) -> dict[str, Any]:
    stores: dict[str, Store] = {}
    queue: KeyQueue[ObjectRef] = KeyQueue("bench")
    for obj in objects(vector, args.routes, args.matches, args.regex_n):
        store = stores.setdefault(obj["kind"], Store(obj["kind"]))
        key = store.upsert(obj)
        assert key is not None
        queue.add(key)
    worker = GraphWorker(policy=Policy(), stores=stores, queue=queue)
    if mode == "inline":
        async def inline(fn: Any) -> Any:
            return fn()
        worker._in_thread = inline  # type: ignore[method-assign]  # the "before"
    server = Server(Metrics(), host="127.0.0.1", port=0, ready=lambda: (True, "ok"))
    await server.start()
    serving = asyncio.create_task(server.serve())
    lags: list[float] = []

    async def ticker() -> None:
        while True:
            t = time.monotonic()
            await asyncio.sleep(0.01)
            lags.append(time.monotonic() - t - 0.01)

    ticking = asyncio.create_task(ticker())
    # A leader renewing a Lease held in memory (client-go's timings: retry 2 s, deadline 10 s):
    # what it misses is what the loop made it miss, never the network.
    elector = LeaderElector(LeaseConfig("bench", "bench", "me"), MemoryLease())
    await elector.acquire()
    renewing = asyncio.create_task(elector.renew())
    probe = await asyncio.create_subprocess_exec(
        sys.executable, "-c", PROBE, str(server.bound_port), str(args.window),
        stdout=subprocess.PIPE)
    await asyncio.sleep(0.5)  # the probe's first answers come from an idle loop
    started = time.monotonic()
    running = asyncio.create_task(worker.run())
    while not (worker.idle.is_set() and not len(queue)) or time.monotonic() - started < 0.2:
        await asyncio.sleep(0.05)
    batch_s = time.monotonic() - started
    out, _ = await probe.communicate()
    await asyncio.sleep(2.5)  # one more renewal after the batch: a late one is counted
    for task in (running, ticking, serving, renewing):
        task.cancel()
    await asyncio.gather(running, ticking, serving, renewing, return_exceptions=True)
    rtts = json.loads(out)
    return {"vector": vector, "mode": mode, "batch_s": round(batch_s, 2),
            "findings": len(worker.findings()),
            "loop_lag_max_s": round(max(lags), 3),
            "renewals_missed": elector.renewals_missed, "leader": elector.is_leader,
            "healthz_n": len(rtts), "healthz_p50_ms": round(statistics.median(rtts) * 1000, 1),
            "healthz_max_s": round(max(rtts), 3)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--routes", type=int, default=20)
    ap.add_argument("--matches", type=int, default=64)
    ap.add_argument("--regex-n", type=int, default=20)
    ap.add_argument("--window", type=float, default=30.0,
                    help="seconds the /healthz probe runs (longer than the batch)")
    ap.add_argument("--vectors", nargs="*", default=["matches", "regex"])
    ap.add_argument("--modes", nargs="*", default=["thread", "inline"])
    args = ap.parse_args()
    print(f"switch interval {sys.getswitchinterval() * 1000:.0f} ms", flush=True)
    for vector in args.vectors:
        for mode in args.modes:
            print(json.dumps(asyncio.run(one(vector, mode, args))), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
