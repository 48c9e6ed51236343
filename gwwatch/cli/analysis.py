"""What ``scan`` and ``explain`` share: the options describing the input and the policy, and
the graph they describe."""

from __future__ import annotations

import argparse

from gwwatch import manifests
from gwwatch.cli.exits import UsageError
from gwwatch.engine import ConflictGraph, ObjectRef, Policy, analyse, parse
from gwwatch.engine.model import Invalid, NamespaceInfo, Parsed
from gwwatch.engine.ownership import DEFAULT_TENANT_LABEL, INTRA_TENANT_SEVERITIES

__all__ = ["add_input_options", "add_output_option", "load_graph", "policy_from"]


def add_input_options(p: argparse.ArgumentParser) -> None:
    """The manifests and the policy they are read under."""
    p.add_argument("paths", nargs="+", metavar="PATH",
                   help="manifest files or directories (*.yaml, *.yml, *.json, recursively)")
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


def load_graph(args: argparse.Namespace) -> tuple[ConflictGraph, dict[ObjectRef, str]]:
    """Parse the manifests named in ``args`` and analyse them from scratch; also where each
    object came from (``file:line``)."""
    policy = policy_from(args)
    try:
        sources = manifests.load(args.paths)
    except manifests.ManifestError as exc:
        raise UsageError(str(exc)) from exc
    parsed: list[Parsed] = []
    where: dict[ObjectRef, str] = {}
    for src in sources:
        obj = parse(src.obj, source=src.where)
        if obj is None:
            continue
        if isinstance(obj, Invalid):
            where[ObjectRef(obj.kind, obj.namespace, obj.name)] = src.where
        elif isinstance(obj, NamespaceInfo):
            where[ObjectRef("Namespace", "", obj.name)] = src.where
        else:
            where[obj.ref] = src.where
        parsed.append(obj)
    return analyse(parsed, policy), where
