"""What ``scan`` and ``explain`` share: the options describing the input and the policy, and
the graph they describe."""

from __future__ import annotations

import argparse
import dataclasses
import sys
from dataclasses import dataclass, field

from gwwatch import manifests
from gwwatch.cli import cluster, connect
from gwwatch.cli.exits import UsageError
from gwwatch.cli.render import escape
from gwwatch.engine import ConflictGraph, Diff, Finding, ObjectRef, Policy, analyse, parse
from gwwatch.engine.model import Parsed
from gwwatch.engine.ownership import DEFAULT_TENANT_LABEL
from gwwatch.engine.vocabulary import INTRA_TENANT_SEVERITIES, readable_versions

__all__ = ["Analysis", "FileObject", "add_input_options", "add_output_option", "analyse_args",
           "check_options", "load_graph", "note_name_order", "policy_from", "read_files"]


def add_input_options(p: argparse.ArgumentParser) -> None:
    """The manifests (or the live cluster) and the policy they are read under."""
    p.add_argument("paths", nargs="*", metavar="PATH",
                   help="manifest files or directories (*.yaml, *.yml, *.json, recursively); "
                        "- reads standard input (e.g. kubectl kustomize DIR | gwwatch scan -); "
                        "with --cluster, the change to lay over the live objects")
    p.add_argument("--cluster", action="store_true",
                   help="read the live cluster (get/list only; see --kubeconfig, --context)")
    connect.add_options(p)
    p.add_argument("--tenant-label", default=DEFAULT_TENANT_LABEL, metavar="KEY",
                   help="Namespace label whose value names the tenant; namespaces without it "
                        "are their own tenant (default: %(default)s; '' = namespace only)")
    p.add_argument("--ownership", metavar="FILE",
                   help="platform-owned claims, YAML mapping tenant -> [hostnames]; overrides "
                        "Namespace annotations")
    p.add_argument("--ownership-configmap", metavar="NAMESPACE/NAME",
                   help="with --cluster: read the claims from the controller's ownership "
                        "ConfigMap instead (GWWATCH_OWNERSHIP_CONFIGMAP in its namespace)")
    p.add_argument("--no-trust-annotations", action="store_true",
                   help="ignore gwwatch.io/hostnames annotations on Namespaces")
    p.add_argument("--intra-tenant-severity", choices=INTRA_TENANT_SEVERITIES, default="warning",
                   help="severity of a Hijack between namespaces of one tenant (default: "
                        "%(default)s; never critical)")


def add_output_option(p: argparse.ArgumentParser, *choices: str) -> None:
    p.add_argument("--output", "-o", choices=("text", "json", *choices), default="text",
                   help="report format (default: %(default)s)")


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


@dataclass(frozen=True, slots=True)
class FileObject:
    """One object read from the inputs: as read, as parsed, its key and its ``file:line``."""

    obj: object
    parsed: Parsed
    ref: ObjectRef
    where: str


def read_files(args: argparse.Namespace) -> list[FileObject]:
    """The objects of the manifests named in ``args``; the same object twice is a
    :class:`UsageError` naming both places."""
    try:
        sources = manifests.load(args.paths)
    except manifests.ManifestError as exc:
        raise UsageError(str(exc)) from exc
    out: list[FileObject] = []
    where: dict[ObjectRef, str] = {}
    for src in sources:
        obj = parse(src.obj, source=src.where)
        if obj is None:
            continue
        ref = cluster.ref_of(obj)
        if ref.name and ref in where:
            name = f"{ref.namespace}/{ref.name}" if ref.namespace else ref.name
            raise UsageError(f"{escape(ref.kind)} {escape(name)} is in the input twice, at "
                             f"{escape(where[ref])} and {escape(src.where)}")
        where.setdefault(ref, src.where)
        out.append(FileObject(src.obj, obj, ref, src.where))
    return out


def check_options(args: argparse.Namespace) -> None:
    """Inputs or ``--cluster``; ``--kubeconfig``/``--context`` only with ``--cluster``."""
    if not args.cluster:
        if not args.paths:
            raise UsageError("nothing to read: give manifest PATHs (or - for standard input), "
                             "or --cluster to read the live cluster")
        for flag in ("kubeconfig", "context", "ownership_configmap"):
            if getattr(args, flag) is not None:
                raise UsageError(f"--{flag.replace('_', '-')} reads the live cluster: add "
                                 f"--cluster")
    if args.ownership_configmap is not None:
        if args.ownership is not None:
            raise UsageError("--ownership and --ownership-configmap: give one of them")
        namespace, sep, name = args.ownership_configmap.partition("/")
        if not sep or not namespace or not name or "/" in name:
            raise UsageError(f"--ownership-configmap {escape(args.ownership_configmap)!r}: "
                             f"expected NAMESPACE/NAME")


@dataclass(slots=True)
class Analysis:
    """The graph to report on, where each object read from a file came from, and, for a
    change laid over the live cluster, what it does (``diff``, ``None`` otherwise)."""

    graph: ConflictGraph
    sources: dict[ObjectRef, str]
    diff: Diff | None = None
    files: tuple[FileObject, ...] = ()
    new: tuple[ObjectRef, ...] = ()  # objects of the change the cluster does not hold yet
    # A changed finding (same identity) as it was before the change.
    previous: dict[tuple[object, ...], Finding] = field(default_factory=dict)

    @property
    def what_if(self) -> bool:
        return self.diff is not None


def analyse_args(args: argparse.Namespace, *, what_if: bool = False) -> Analysis:
    """The analysis ``args`` ask for: the files alone; the live cluster; or the files laid
    over the live cluster (``what_if``: the diff from :meth:`ConflictGraph.what_if`, the same
    question the admission webhook asks; the graph is then left with the change applied)."""
    check_options(args)
    policy = policy_from(args)
    if not args.cluster:
        graph, where = load_graph(args, policy)
        return Analysis(graph, where)
    files = read_files(args) if args.paths else []
    if args.paths and not files:
        raise UsageError(f"no object in {' '.join(args.paths)}")
    configmap = (tuple(args.ownership_configmap.split("/", 1))
                  if args.ownership_configmap else None)
    live = cluster.read(args.kubeconfig, args.context, configmap=configmap)
    if live.ownership is not None:
        policy = dataclasses.replace(policy, ownership=live.ownership)
    graph = analyse(live.objects, policy)
    if not files:
        return Analysis(graph, {})
    change = cluster.overlay([(f.obj, f.where) for f in files], live, cluster.now())
    new = tuple(f.ref for f in files if f.ref not in live.created)
    sources = {f.ref: f.where for f in files}
    diff = graph.what_if(upserts=change) if what_if else None
    previous: dict[tuple[object, ...], Finding] = {}
    for f in diff.changed if diff is not None else ():
        before = graph.findings_of(f.route) if f.route is not None else graph.findings()
        previous.update((old.identity, old) for old in before if old.identity == f.identity)
    graph.apply(upserts=change)
    return Analysis(graph, sources, diff, tuple(files), new, previous)


def load_graph(args: argparse.Namespace,
               policy: Policy | None = None) -> tuple[ConflictGraph, dict[ObjectRef, str]]:
    """Parse the manifests named in ``args`` and analyse them from scratch; also where each
    object came from (``file:line``). The same object twice, or no Gateway API object at all,
    is a :class:`UsageError`."""
    policy = policy if policy is not None else policy_from(args)
    files = read_files(args)
    if not any(_kind_read(f.ref.kind) for f in files):
        raise UsageError(f"no Gateway API object (Gateway, ListenerSet or route) in "
                         f"{' '.join(args.paths)}")
    return analyse([f.parsed for f in files], policy), {f.ref: f.where for f in files}


def note_name_order(graph: ConflictGraph) -> None:
    """Say once, on stderr, when a finding's two routes were ordered by name rather than by
    age (manifests that never reached an API server carry no creationTimestamp)."""
    for f in graph.findings():
        if f.route is None or f.other is None:
            continue
        routes = (graph.route(f.route), graph.route(f.other))
        if all(r is not None and r.created for r in routes):
            continue
        # a claim decided alone; a contested hostname is read by its oldest route too
        owners = graph.owners(f.hostname).owners
        if owners and all(owner.rule != "oldest route" for owner in owners):
            continue
        print("gwwatch: note: routes without creationTimestamp count as older in "
              "namespace/name order, so who owns a hostname may follow names; name the owners "
              "with --ownership FILE (tenant -> [hostnames]) to make it exact", file=sys.stderr)
        return
