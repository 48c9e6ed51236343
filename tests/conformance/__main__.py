"""``python -m tests.conformance generate|check [--version vX.Y.Z]``.

``generate`` rewrites ``tests/conformance/corpus.json`` and ``tests/conformance/manifests/``
from the Gateway API conformance module at the version the test control plane pins
(``tests/controlplane/go/gatewayapi/go.mod``), or at ``--version``; after a pin bump,
``git diff tests/conformance`` is what the new suite expects differently. ``check`` exits 1 when
the committed files differ from what the generator produces.
"""

from __future__ import annotations

import argparse
import difflib
import sys
import time

from . import build


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.conformance")
    parser.add_argument("command", choices=("generate", "check"))
    parser.add_argument("--version", help="sigs.k8s.io/gateway-api version (default: the pin)")
    args = parser.parse_args(argv)
    started = time.monotonic()
    corpus, manifests = build.build(args.version)
    files = build.outputs(corpus, manifests)
    cases = corpus["cases"]
    summary = (f"{len(cases)} cases, {sum(len(c['attachments']) for c in cases)} attachments, "
               f"{sum(len(c['requests']) for c in cases)} requests, "
               f"{sum(len(c.get('unextracted', [])) for c in cases)} unextracted, "
               f"{len(corpus['excluded'])} tests excluded "
               f"({time.monotonic() - started:.1f} s)")
    if args.command == "generate":
        build.write(files)
        print(f"wrote {build.CORPUS_FILE} and {len(manifests)} manifests: {summary}")
        return 0
    have = build.committed()
    stale = sorted(set(have) ^ set(files) | {p for p in files if have.get(p) != files[p]})
    if not stale:
        print(f"up to date: {summary}")
        return 0
    for path in stale:
        diff = difflib.unified_diff(
            have.get(path, "").splitlines(), files.get(path, "").splitlines(),
            f"committed/{path.name}", f"generated/{path.name}", lineterm="", n=1)
        print("\n".join(list(diff)[:40]))
    print(f"{len(stale)} generated file(s) differ; run `python -m tests.conformance generate`",
          file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
