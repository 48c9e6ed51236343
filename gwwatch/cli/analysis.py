"""What ``scan`` and ``explain`` share: the options describing the input and the policy, and
the graph they describe."""

from __future__ import annotations

import argparse
import sys

from gwwatch import manifests
from gwwatch.cli.exits import UsageError
from gwwatch.cli.render import escape
from gwwatch.engine import ConflictGraph, ObjectRef, Policy, analyse, parse
from gwwatch.engine.model import Invalid, NamespaceInfo, Parsed
from gwwatch.engine.ownership import DEFAULT_TENANT_LABEL
from gwwatch.engine.vocabulary import INTRA_TENANT_SEVERITIES, readable_versions

__all__ = ["add_input_options", "add_output_option", "load_graph", "note_name_order",
           "policy_from"]


def add_input_options(p: argparse.ArgumentParser) -> None:
    """The manifests and the policy they are read under."""
    p.add_argument("paths", nargs="+", metavar="PATH",
                   help="manifest files or directories (*.yaml, *.yml, *.json, recursively); "
                        "- reads standard input (e.g. kubectl kustomize DIR | gwwatch scan -)")
    p.add_argument("--tenant-label", default=DEFAULT_TENANT_LABEL, metavar="KEY",
                   help="Namespace label whose value names the tenant; namespaces without it "
                        "are their own tenant (default: %(default)s; '' = namespace only)")
    p.add_argument("--ownership", metavar="FILE",
                   help="platform-owned claims, YAML mapping tenant -> [hostnames]; overrides "
                        "Namespace annotations")
    p.add_argument("--no-trust-annotations", action="store_true",
                   help="ignore gwwatch.io/hostnames annotations on Namespaces")
    p.add_argument("--intra-tenant-severity", choices=INTRA_TENANT_SEVERITIES, default="warning",
                   help="severity of a Hijack between namespaces of one tenant (default: "
                        "%(default)s; never critical)")


def add_output_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--output", "-o", choices=("text", "json"), default="text")


def policy_from(args: argparse.Namespace) -> Policy:
    try:
        ownership = manifests.load_ownership(args.ownership) if args.ownership else {}
    except manifests.ManifestError as exc:
        raise UsageError(str(exc)) from exc
    return Policy(intra_tenant_severity=args.intra_tenant_severity,
                  tenant_label=args.tenant_label or None,
                  trust_annotations=not args.no_trust_annotations,
                  ownership=ownership)


def _kind_read(kind: str) -> bool:
    """A Gateway API kind the engine reads (a Namespace alone is no Gateway API object)."""
    return kind != "Namespace" and bool(readable_versions(kind))


def load_graph(args: argparse.Namespace) -> tuple[ConflictGraph, dict[ObjectRef, str]]:
    """Parse the manifests named in ``args`` and analyse them from scratch; also where each
    object came from (``file:line``). The same object twice, or no Gateway API object at all,
    is a :class:`UsageError`."""
    policy = policy_from(args)
    try:
        sources = manifests.load(args.paths)
    except manifests.ManifestError as exc:
        raise UsageError(str(exc)) from exc
    parsed: list[Parsed] = []
    where: dict[ObjectRef, str] = {}
    found = False
    for src in sources:
        obj = parse(src.obj, source=src.where)
        if obj is None:
            continue
        if isinstance(obj, Invalid):
            ref = ObjectRef(obj.kind, obj.namespace, obj.name)
        elif isinstance(obj, NamespaceInfo):
            ref = ObjectRef("Namespace", "", obj.name)
        else:
            ref = obj.ref
        found = found or _kind_read(ref.kind)
        if ref.name and ref in where:
            name = f"{ref.namespace}/{ref.name}" if ref.namespace else ref.name
            raise UsageError(f"{escape(ref.kind)} {escape(name)} is in the input twice, at "
                             f"{escape(where[ref])} and {escape(src.where)}")
        where.setdefault(ref, src.where)
        parsed.append(obj)
    if not found:
        raise UsageError(f"no Gateway API object (Gateway, ListenerSet or route) in "
                         f"{' '.join(args.paths)}")
    return analyse(parsed, policy), where


def note_name_order(graph: ConflictGraph) -> None:
    """Say once, on stderr, when a finding's two routes were ordered by name rather than by
    age (manifests that never reached an API server carry no creationTimestamp)."""
    for f in graph.findings():
        if f.route is None or f.other is None:
            continue
        routes = (graph.route(f.route), graph.route(f.other))
        if all(r is not None and r.created for r in routes):
            continue
        owner = graph.owner(f.hostname)
        if owner is not None and owner.rule != "oldest route":
            continue
        print("gwwatch: note: routes without creationTimestamp count as older in "
              "namespace/name order, so who owns a hostname may follow names; name the owners "
              "with --ownership FILE (tenant -> [hostnames]) to make it exact", file=sys.stderr)
        return
