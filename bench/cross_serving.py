"""What cross serving costs: N HTTPRoutes and one GRPCRoute on one listener.

    .venv/bin/python -m bench.cross_serving                 # N = 1,000 and 4,000
    .venv/bin/python -m bench.cross_serving --sizes 500 2000 8000

(from the repository root: the objects come from tests/builders.py).

An HTTPRoute and a GRPCRoute whose hostnames intersect on one listener compete as wholes (the
older is accepted, the newer rejected there), so a listener carrying both kinds is resolved
again, oldest first, whenever one of its routes changes. Two shapes: the GRPCRoute newest
(``grpc-newest``: it is the one rejected) and oldest (``grpc-oldest``, with a wildcard hostname:
every HTTPRoute is rejected). A run loads the routes in one batch (as a relist does), then edits
100 HTTPRoutes one at a time (as watch events do), and prints the CPU time of the load and of
each edit (median and max) with the number of RejectedByOtherKind findings.
"""

from __future__ import annotations

import argparse
import statistics
import time

from gwwatch.engine import analyse, parse
from gwwatch.engine.model import Parsed
from tests import builders as b


def _parsed(obj: object) -> Parsed:
    p = parse(obj)
    assert p is not None
    return p


def run(n: int, shape: str) -> str:
    grpc_created = b.ts(1) if shape == "grpc-oldest" else b.ts(10 + 2 * n)
    objs = [b.gateway(listeners=[b.listener(hostname="*.example.com")])]
    objs += [b.http_route(f"r{i}", f"ns{i % 50}", hostnames=[f"h{i}.example.com"],
                          created=b.ts(10 + i)) for i in range(n)]
    objs.append(b.grpc_route("g", "grpc", hostnames=["*.example.com"], created=grpc_created))
    parsed = [_parsed(o) for o in objs]
    started = time.process_time()
    graph = analyse(parsed)
    cold = time.process_time() - started
    edits = [_parsed(b.http_route(f"r{i}", f"ns{i % 50}",
                                  hostnames=[f"h{i}.example.com", "x.example.com"],
                                  created=b.ts(10 + i)))
             for i in range(0, n, max(1, n // 100))]
    times = []
    for p in edits:
        started = time.process_time()
        graph.upsert(p)
        times.append(time.process_time() - started)
    rejected = sum(1 for f in graph.findings() if f.reason == "RejectedByOtherKind")
    return (f"{shape:12} {n:6} {cold:10.3f} {statistics.median(times) * 1e3:12.2f} "
            f"{max(times) * 1e3:9.2f} {rejected:9}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 4000])
    args = parser.parse_args()
    print(f"{'shape':12} {'routes':>6} {'cold_cpu_s':>10} {'edit_med_ms':>12} "
          f"{'edit_max':>9} {'rejected':>9}")
    for shape in ("grpc-newest", "grpc-oldest"):
        for n in args.sizes:
            print(run(n, shape), flush=True)


if __name__ == "__main__":
    main()
