"""Build the conformance corpus from the pinned Gateway API conformance module.

Two steps:

1. ``generate/main.go`` (Go, ``go/ast``) walks every ``conformance/tests/*.go`` test the way it
   runs and prints each call to a suite helper (``kubernetes.*``, ``http.*``, ``grpc.*``, ...)
   with its arguments evaluated ("facts");
2. this module turns those calls into expectations — a route's Accepted state per parentRef,
   listener AttachedRoutes and conditions, ListenerSet admission, and which backend answers
   which request — reading the test's YAML manifests for what the Go code leaves to them (the
   parentRefs a helper checks, the port of the listener a Gateway address points at), and copies
   the manifests with the ``{GATEWAY_CLASS_NAME}`` placeholder replaced.

Whatever cannot be turned into an expectation is listed in the corpus under ``unextracted``
with the reason, never dropped silently. The output is deterministic: the same module version
gives the same bytes.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import yaml

from tests.controlplane.versions import go_env, pinned_versions

HERE = Path(__file__).resolve().parent
GENERATOR = HERE / "generate"
CORPUS_FILE = HERE / "corpus.json"
MANIFEST_DIR = HERE / "manifests"

CONF_MODULE = "sigs.k8s.io/gateway-api/conformance"
API_MODULE = "sigs.k8s.io/gateway-api"
CLASS_PLACEHOLDER = "{GATEWAY_CLASS_NAME}"
CLASS_NAME = "conformance"

GRPC_SERVICE = "gateway_api_conformance.echo_basic.grpcecho.GrpcEcho"
GRPC_METHODS = {"EchoRequest": "Echo", "EchoTwoRequest": "EchoTwo",
                "EchoThreeRequest": "EchoThree"}

# Tests the engine is not graded on, by topic: gwwatch decides attachment and routing, not what
# filters, weights, backend resolution, TLS material or infrastructure do. A test not listed here
# is graded, so a new upstream test shows up as a new case when the pin moves.
EXCLUDED: dict[str, str] = {}
_TOPICS = {
    "filters (redirects, rewrites, header modifiers, mirrors, timeouts, retries, CORS)": (
        "HTTPRoute303Redirect HTTPRoute307Redirect HTTPRoute308Redirect "
        "HTTPRouteRedirectHostAndStatus HTTPRouteRedirectPath HTTPRouteRedirectPort "
        "HTTPRouteRedirectPortAndScheme HTTPRouteRedirectScheme HTTPRouteRewriteHost "
        "HTTPRouteRewritePath HTTPRouteRequestHeaderModifier HTTPRouteBackendRequestHeaderModifier "
        "HTTPRouteResponseHeaderModifier HTTPRouteRequestMirror HTTPRouteRequestMultipleMirrors "
        "HTTPRouteRequestPercentageMirror HTTPRouteTimeoutRequest HTTPRouteTimeoutBackendRequest "
        "HTTPRouteRetry HTTPRouteCORS"),
    "weighted backend distribution": (
        "HTTPRouteWeight HTTPRouteRequestHeaderModifierBackendWeights GRPCRouteWeight "
        "TCPRouteWeightedRouting UDPRouteWeightedRouting"),
    "backend protocols and Service types": (
        "HTTPRouteBackendProtocolH2C HTTPRouteBackendProtocolWebSocket HTTPRouteServiceTypes"),
    "backend reference resolution (ResolvedRefs, ReferenceGrants for backends, 500 responses)": (
        "HTTPRouteReferenceGrant HTTPRouteInvalidReferenceGrant "
        "HTTPRoutePartiallyInvalidViaInvalidReferenceGrant "
        "HTTPRouteInvalidCrossNamespaceBackendRef HTTPRouteInvalidNonExistentBackendRef "
        "HTTPRouteInvalidBackendRefUnknownKind HTTPRouteNoBackendRefs "
        "TCPRouteInvalidBackendRefNonexistent TCPRouteInvalidCrossNamespaceBackendRef "
        "TCPRouteReferenceGrant TLSRouteInvalidBackendRefNonexistent "
        "TLSRouteInvalidBackendRefUnknownKind TLSRouteInvalidReferenceGrant "
        "UDPRouteInvalidBackendRefNonexistent UDPRouteInvalidCrossNamespaceBackendRef "
        "UDPRouteReferenceGrant"),
    "TLS material, client certificates, BackendTLSPolicy": (
        "BackendTLSPolicy BackendTLSPolicyConflictResolution "
        "BackendTLSPolicyInvalidCACertificateRef BackendTLSPolicyInvalidKind "
        "BackendTLSPolicySANValidation GatewayFrontendClientCertificateValidation "
        "GatewayFrontendClientCertificateValidationInsecureFallback "
        "GatewayFrontendInvalidDefaultClientCertificateValidation "
        "GatewayInvalidFrontendClientCertificateValidation GatewayInvalidTLSBackendConfiguration "
        "GatewayInvalidTLSConfiguration GatewayTLSBackendClientCertificate "
        "GatewaySecretInvalidReferenceGrant GatewaySecretMissingReferenceGrant "
        "GatewaySecretReferenceGrantAllInNamespace GatewaySecretReferenceGrantSpecific"),
    "TLSRoute termination modes (optional TLS-termination features)": (
        "TLSRouteTerminateSimpleSameNamespace TLSRouteMixedTerminationSameNamespace "
        "TLSRouteListenerTerminateSupportedKinds TLSRouteListenerTerminateNotSupported "
        "TLSRouteListenerMixedTerminationNotSupported"),
    "Gateway infrastructure, addresses, parametersRef, unsupported protocols": (
        "GatewayInfrastructure GatewayStaticAddresses GatewayOptionalAddressValue "
        "GatewayInvalidParametersRef GatewayListenerUnsupportedProtocol"),
    "observedGeneration bookkeeping": (
        "GatewayClassObservedGenerationBump GatewayObservedGenerationBump "
        "HTTPRouteObservedGenerationBump BackendTLSPolicyObservedGenerationBump"),
    "objects changed or created in Go at run time (the YAML is not the asserted state)": (
        "GatewayModifyListeners TCPRouteMultipleRoutesAttachment "
        "UDPRouteMultipleRoutesAttachment"),
    "no backend asserted per rule (only status and namespace)": "HTTPRouteNamedRule",
}
for _topic, _names in _TOPICS.items():
    for _name in _names.split():
        EXCLUDED[_name] = _topic

ROUTE_KINDS = {"HTTPRoute", "GRPCRoute", "TLSRoute", "TCPRoute", "UDPRoute"}


# --- running the Go side ------------------------------------------------------------------------

def module_dir(module: str, version: str) -> Path:
    """The module's source in the Go module cache (downloaded through the module proxy)."""
    proc = subprocess.run(
        ["go", "mod", "download", "-json", f"{module}@{version}"], cwd=GENERATOR,
        env=go_env(), capture_output=True, text=True, check=False)
    info = json.loads(proc.stdout or "{}")
    if proc.returncode != 0 or "Error" in info:
        raise RuntimeError(f"go mod download {module}@{version}: "
                           f"{info.get('Error') or proc.stderr.strip()}")
    return Path(info["Dir"])


def facts(conf_dir: Path, api_dir: Path) -> dict[str, Any]:
    proc = subprocess.run(
        ["go", "run", ".", "-conformance", str(conf_dir), "-api", str(api_dir)],
        cwd=GENERATOR, env=go_env(), capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"generator failed: {proc.stderr.strip()}")
    result: dict[str, Any] = json.loads(proc.stdout)
    return result


# --- values as the Go side prints them ----------------------------------------------------------

def _sym(v: Any) -> str | None:
    return v.get("$sym") if isinstance(v, dict) else None


def _status(v: Any) -> str:
    s = _sym(v) or str(v)
    for word in ("True", "False", "Unknown"):
        if s.endswith("Condition" + word) or s == word:
            return word
    raise ValueError(f"condition status {v!r}")


def _nn(v: Any) -> dict[str, str]:
    if not isinstance(v, dict) or "Name" not in v:
        raise ValueError(f"not a NamespacedName: {v!r}")
    return {"namespace": v.get("Namespace") or "", "name": v["Name"]}


def _known(v: Any) -> bool:
    if isinstance(v, dict):
        if "$unknown" in v:
            return False
        return all(_known(x) for k, x in v.items() if k != "$args")
    if isinstance(v, list):
        return all(_known(x) for x in v)
    return True


def _cond(c: dict[str, Any]) -> dict[str, Any]:
    return {"type": c["Type"], "status": _status(c["Status"]), "reason": c.get("Reason") or None}


class Unextracted(Exception):
    """An expectation the corpus cannot state; the message is the reason."""


# --- manifests ----------------------------------------------------------------------------------

class World:
    """The objects of one case: the base manifests plus the test's own files."""

    def __init__(self, texts: list[str]) -> None:
        self.objects: list[dict[str, Any]] = []
        for text in texts:
            for doc in yaml.safe_load_all(text):
                if isinstance(doc, dict) and "kind" in doc:
                    self.objects.append(doc)

    def get(self, kind: str, namespace: str, name: str) -> dict[str, Any] | None:
        for o in self.objects:
            md = o.get("metadata", {})
            if o["kind"] == kind and md.get("name") == name and md.get("namespace") == namespace:
                return o
        return None

    def route(self, nn: dict[str, str]) -> dict[str, Any]:
        found = [o for o in self.objects if o["kind"] in ROUTE_KINDS
                 and o["metadata"].get("name") == nn["name"]
                 and o["metadata"].get("namespace") == nn["namespace"]]
        if len(found) != 1:
            raise Unextracted(f"route {nn['namespace']}/{nn['name']} is "
                              f"{'ambiguous' if found else 'not'} in the manifests")
        return found[0]

    def parent_refs(self, route: dict[str, Any], parent: dict[str, str],
                    kinds: tuple[str, ...] = ("Gateway", "ListenerSet")) -> list[dict[str, Any]]:
        """The route's parentRefs to a parent named ``parent`` (any of ``kinds``)."""
        ns = route["metadata"]["namespace"]
        out = []
        for ref in route.get("spec", {}).get("parentRefs", []):
            kind = ref.get("kind", "Gateway")
            if kind in kinds and ref["name"] == parent["name"] and (
                    ref.get("namespace") or ns) == parent["namespace"]:
                out.append({"kind": kind, "sectionName": ref.get("sectionName"),
                            "port": ref.get("port")})
        return out

    def listeners(self, gw: dict[str, str]) -> list[dict[str, Any]]:
        obj = self.get("Gateway", gw["namespace"], gw["name"])
        if obj is None:
            raise Unextracted(f"Gateway {gw['namespace']}/{gw['name']} is not in the manifests")
        result: list[dict[str, Any]] = obj["spec"].get("listeners", [])
        return result


# --- turning helper calls into expectations -----------------------------------------------------

class Case:
    def __init__(self, test: dict[str, Any], world: World) -> None:
        self.test = test
        self.world = world
        self.attachments: list[dict[str, Any]] = []
        self.listeners: list[dict[str, Any]] = []
        self.listener_status: list[dict[str, Any]] = []
        self.listener_sets: list[dict[str, Any]] = []
        self.attached_listener_sets: list[dict[str, Any]] = []
        self.requests: list[dict[str, Any]] = []
        self.unextracted: list[dict[str, Any]] = []

    # attachments ----------------------------------------------------------------------------
    def attach(self, kind: str, route_nn: dict[str, str], parent: dict[str, str],
               accepted: bool, reason: str | None, helper: str,
               parent_kinds: tuple[str, ...] = ("Gateway", "ListenerSet")) -> None:
        route = self.world.route(route_nn)
        kind = kind or route["kind"]
        if route["kind"] != kind:
            raise Unextracted(f"{helper} checks a {kind} but {route_nn['name']} is a "
                              f"{route['kind']}")
        refs = self.world.parent_refs(route, parent, parent_kinds)
        if not refs:
            raise Unextracted(f"{route_nn['name']} has no parentRef to {parent['name']}")
        for ref in refs:
            entry = {"route": {"kind": kind, **route_nn},
                     "gateway": {"kind": ref["kind"], **parent},
                     "sectionName": ref["sectionName"], "port": ref["port"],
                     "accepted": accepted, "reason": reason, "assertedBy": [helper]}
            self.add(entry)

    def add(self, entry: dict[str, Any]) -> None:
        """Record an attachment; the same fact asserted by another helper is merged, and a
        reason-less assertion is merged with one that names the reason."""
        helper = entry["assertedBy"][0]
        accepted, reason = entry["accepted"], entry["reason"]
        same = next((a for a in self.attachments
                     if {k: v for k, v in a.items() if k != "assertedBy"}
                     == {k: v for k, v in entry.items() if k != "assertedBy"}), None)
        if same is not None:
            if helper not in same["assertedBy"]:
                same["assertedBy"].append(helper)
            return
        loose = next((a for a in self.attachments
                      if a["route"] == entry["route"] and a["gateway"] == entry["gateway"]
                      and a["sectionName"] == entry["sectionName"]
                      and a["port"] == entry["port"] and a["accepted"] == accepted
                      and (a["reason"] is None or reason is None)), None)
        if loose is not None:
            loose["reason"] = loose["reason"] or reason
            if helper not in loose["assertedBy"]:
                loose["assertedBy"].append(helper)
            return
        self.attachments.append(entry)

    def no_accepted_parents(self, kind: str, route_nn: dict[str, str], helper: str) -> None:
        route = self.world.route(route_nn)
        refs = route.get("spec", {}).get("parentRefs", [])
        if len(refs) != 1:
            raise Unextracted(f"{helper}: {route_nn['name']} has {len(refs)} parentRefs")
        ref = refs[0]
        parent = {"namespace": ref.get("namespace") or route_nn["namespace"], "name": ref["name"]}
        self.attach(kind, route_nn, parent, False, None, helper,
                    (ref.get("kind", "Gateway"),))

    # listeners --------------------------------------------------------------------------------
    def listener_count(self, owner: dict[str, str], name: str, count: int, helper: str) -> None:
        self.listeners.append({"gateway": owner, "listener": name, "attachedRoutes": count,
                               "assertedBy": helper})

    def status(self, owner: dict[str, str], name: str, kinds: Any,
               conditions: list[dict[str, Any]], helper: str) -> None:
        self.listener_status.append({"gateway": owner, "listener": name,
                                     "supportedKinds": kinds, "conditions": conditions,
                                     "assertedBy": helper})

    # requests -----------------------------------------------------------------------------------
    def address(self, addr: Any) -> tuple[dict[str, str], int, str | None]:
        """The Gateway, port and listener protocol a Gateway address value stands for."""
        if not isinstance(addr, dict) or addr.get("$type") != "address":
            raise Unextracted(f"Gateway address not evaluated: {json.dumps(addr)[:120]}")
        ref = next((a for a in addr["args"] if isinstance(a, dict)
                    and a.get("$type") == "kubernetes.GatewayRef"), None)
        if ref is None:
            raise Unextracted(f"{addr['from']} without a GatewayRef")
        gw = _nn(ref["NamespacedName"])
        listeners = self.world.listeners(gw)
        names = ref["listenerNames"]
        chosen = next((li for li in listeners if names and li["name"] == names[0]), listeners[0])
        return gw, int(chosen["port"]), chosen.get("protocol")

    def request(self, r: dict[str, Any]) -> None:
        self.requests.append(r)


def _http_request(req: dict[str, Any]) -> dict[str, Any]:
    path = req.get("Path")
    out: dict[str, Any] = {"host": req.get("Host") or None, "path": path,
                           "method": req.get("Method") or None,
                           "headers": dict(req.get("Headers") or {}), "query": {}}
    if isinstance(path, str) and "?" in path:
        out["path"], qs = path.split("?", 1)
        out["rawPath"] = path
        out["query"] = dict(parse_qsl(qs, keep_blank_values=True))
    return out


def _expect_http(er: dict[str, Any]) -> dict[str, Any]:
    resp = er.get("Response") or {}
    codes = resp.get("StatusCodes") or []
    if len(codes) > 1:
        raise Unextracted(f"any of the statuses {codes}")
    status = resp.get("StatusCode") or (codes[0] if codes else 200)
    backend = er.get("Backend") or ""
    if backend:
        if status != 200:
            raise Unextracted(f"backend {backend} with status {status}")
        return {"backend": {"namespace": er.get("Namespace") or "", "name": backend}}
    if status == 200:
        raise Unextracted("status 200 without a backend: which rule serves is not asserted")
    return {"status": status}


def _base(gw: dict[str, str], port: int, protocol: str, scheme: str | None) -> dict[str, Any]:
    return {"gateway": gw, "port": port, "protocol": protocol, "scheme": scheme}


def _grpc(case: Case, ev: dict[str, Any]) -> None:
    gw, port, _ = case.address(ev["args"][3])
    er = ev["args"][4]
    method = next((m for k, m in GRPC_METHODS.items() if er.get(k) is not None), None)
    if method is None:
        raise Unextracted("gRPC request without an Echo*Request")
    md = er.get("RequestMetadata") or {}
    code = _sym((er.get("Response") or {}).get("Code"))
    expect: dict[str, Any]
    if er.get("Backend"):
        expect = {"backend": {"namespace": er.get("Namespace") or "", "name": er["Backend"]}}
    elif code and code.endswith("Unimplemented"):
        expect = {"status": 404, "grpcCode": "Unimplemented"}
    else:
        raise Unextracted(f"gRPC expectation {code}")
    path = f"/{GRPC_SERVICE}/{method}"
    case.request({**_base(gw, port, "grpc", "http"), "host": md.get("Authority") or None,
                  "path": path, "method": None, "headers": dict(md.get("Metadata") or {}),
                  "query": {}, "grpcService": GRPC_SERVICE, "grpcMethod": method,
                  "expect": expect})


def _http(case: Case, ev: dict[str, Any]) -> None:
    gw, port, protocol = case.address(ev["args"][3])
    er = ev["args"][4]
    scheme = "https" if protocol == "HTTPS" else "http"
    req = er.get("Request") or {}
    case.request({**_base(gw, port, "http", scheme), **_http_request(req),
                  "grpcService": None, "grpcMethod": None, "expect": _expect_http(er)})


def _tls(case: Case, ev: dict[str, Any]) -> None:
    gw, port, protocol = case.address(ev["args"][3])
    sni, er = ev["args"][7], ev["args"][8]
    req = er.get("Request") or {}
    if protocol == "TLS":
        case.request({**_base(gw, port, "tls", "https"), **_http_request(req), "sni": sni,
                      "grpcService": None, "grpcMethod": None, "expect": _expect_http(er)})
    else:
        case.request({**_base(gw, port, "http", "https"), **_http_request(req), "sni": sni,
                      "grpcService": None, "grpcMethod": None, "expect": _expect_http(er)})


def _tls_rejected(case: Case, ev: dict[str, Any]) -> None:
    gw, port, _ = case.address(ev["args"][2])
    case.request({**_base(gw, port, "tls", None), "host": None, "path": None, "method": None,
                  "headers": {}, "query": {}, "sni": ev["args"][3], "grpcService": None,
                  "grpcMethod": None, "expect": {"connectionRejected": True}})


def _resolve_sni(case: Case, v: Any) -> str:
    """A server name: a string, or an element of the hostnames GatewayAndTLSRoutesMustBeAccepted
    returns (the spec.hostnames of the route it checked)."""
    if isinstance(v, str):
        return v
    if (isinstance(v, dict) and v.get("$type") == "element" and isinstance(v.get("index"), int)
            and v["of"].get("index") == 1
            and v["of"]["of"].get("from") == "kubernetes.GatewayAndTLSRoutesMustBeAccepted"):
        hostnames: list[str] = []
        for nn in v["of"]["of"]["args"][5:]:
            hostnames = case.world.route(_nn(nn)).get("spec", {}).get("hostnames", [])
        if v["index"] < len(hostnames):
            return hostnames[v["index"]]
    raise Unextracted(f"server name not evaluated: {json.dumps(v)[:120]}")


def _tcp(case: Case, ev: dict[str, Any]) -> None:
    a = ev["args"]
    gw, port, _ = case.address(a[2])
    use_tls, er = a[5], a[6]
    if not er.get("Backend"):
        raise Unextracted("TCP expectation without a backend")
    r = {**_base(gw, port, "tls" if use_tls else "tcp", None), "host": None, "path": None,
         "method": None, "headers": {}, "query": {}, "grpcService": None, "grpcMethod": None}
    if use_tls:
        r["sni"] = _resolve_sni(case, a[4])
    r["expect"] = {"backend": {"namespace": er.get("Namespace") or "", "name": er["Backend"]}}
    case.request(r)


def _udp(case: Case, ev: dict[str, Any]) -> None:
    a = ev["args"]
    gw, port, _ = case.address(a[2])
    er = a[3]
    case.request({**_base(gw, port, "udp", None), "host": None, "path": None, "method": None,
                  "headers": {}, "query": {}, "grpcService": None, "grpcMethod": None,
                  "expect": {"backend": {"namespace": er.get("Namespace") or "",
                                         "name": er["Service"]}}})


HELPER_KINDS = {
    "kubernetes.GatewayAndHTTPRoutesMustBeAccepted": "HTTPRoute",
    "kubernetes.GatewayAndTLSRoutesMustBeAccepted": "TLSRoute",
    "kubernetes.GatewayAndTCPRoutesMustBeAccepted": "TCPRoute",
    "kubernetes.GatewayAndUDPRoutesMustBeAccepted": "UDPRoute",
}
CONDITION_KINDS = {
    "kubernetes.HTTPRouteMustHaveCondition": "HTTPRoute",
    "kubernetes.TLSRouteMustHaveCondition": "TLSRoute",
    "kubernetes.TCPRouteMustHaveCondition": "TCPRoute",
    "kubernetes.UDPRouteMustHaveCondition": "UDPRoute",
}
NO_PARENTS_KINDS = {
    "kubernetes.HTTPRouteMustHaveNoAcceptedParents": "HTTPRoute",
    "kubernetes.TLSRouteMustHaveNoAcceptedParents": "TLSRoute",
    "kubernetes.TCPRouteMustHaveNoAcceptedParents": "TCPRoute",
    "kubernetes.UDPRouteMustHaveNoAcceptedParents": "UDPRoute",
}
PARENTS_KINDS = {
    "kubernetes.HTTPRouteMustHaveParents": "HTTPRoute",
    "kubernetes.TLSRouteMustHaveParents": "TLSRoute",
    "kubernetes.TCPRouteMustHaveParents": "TCPRoute",
    "kubernetes.UDPRouteMustHaveParents": "UDPRoute",
}


def _route_type(v: Any) -> str:
    t = v.get("$type", "") if isinstance(v, dict) else ""
    kind = t.rsplit(".", 1)[-1]
    if kind not in ROUTE_KINDS:
        raise Unextracted(f"route type {t!r}")
    return kind


def _kinds(v: Any) -> list[dict[str, str]] | None:
    if v is None:
        return None
    return [{"group": k.get("Group") or "gateway.networking.k8s.io", "kind": k["Kind"]}
            for k in v]


def apply(case: Case, ev: dict[str, Any]) -> None:
    call, a = ev["call"], ev["args"]
    helper = call.split(".", 1)[1]
    if call in HELPER_KINDS:
        parent = _nn(a[4]["NamespacedName"])
        for nn in a[5:]:
            case.attach(HELPER_KINDS[call], _nn(nn), parent, True, "Accepted", helper)
    elif call == "kubernetes.GatewayAndRoutesMustBeAccepted":
        parent = _nn(a[4]["NamespacedName"])
        for nn in a[7:]:
            case.attach(_route_type(a[5]), _nn(nn), parent, True, "Accepted", helper)
    elif call == "kubernetes.RoutesAndParentMustBeAccepted":
        res = a[4]
        if not isinstance(res, dict) or res.get("$type") != "kubernetes.ResourceRef":
            raise Unextracted(f"{helper}: parent not evaluated")
        gk, nn = res["$args"][0], res["$args"][1]
        parent_kind = gk.get("Kind")
        if parent_kind not in ("Gateway", "ListenerSet"):
            raise Unextracted(f"{helper}: parent kind {gk!r}")
        for r in a[6:]:
            case.attach(_route_type(a[5]), _nn(r), _nn(nn), True, "Accepted", helper,
                        (parent_kind,))
    elif call in CONDITION_KINDS:
        c = a[5]
        if c.get("Type") != "Accepted":
            return
        case.attach(CONDITION_KINDS[call], _nn(a[3]), _nn(a[4]), _status(c["Status"]) == "True",
                    c.get("Reason") or None, helper)
    elif call in NO_PARENTS_KINDS:
        case.no_accepted_parents(NO_PARENTS_KINDS[call], _nn(a[3]), helper)
    elif call in PARENTS_KINDS:
        for p in a[4]:
            ref = p["ParentRef"]
            parent = {"namespace": ref.get("Namespace") or a[3]["Namespace"], "name": ref["Name"]}
            acc = next((c for c in p.get("Conditions") or [] if c["Type"] == "Accepted"), None)
            if acc is None:
                continue
            kind = ref.get("Kind") or "Gateway"
            route = case.world.route(_nn(a[3]))
            refs = case.world.parent_refs(route, parent, (kind,))
            want_section = ref.get("SectionName")
            want_port = ref.get("Port")
            for r in refs:
                if (want_section is None or r["sectionName"] == want_section) and (
                        want_port is None or r["port"] == want_port):
                    entry = {"route": {"kind": PARENTS_KINDS[call], **_nn(a[3])},
                             "gateway": {"kind": kind, **parent},
                             "sectionName": r["sectionName"], "port": r["port"],
                             "accepted": _status(acc["Status"]) == "True",
                             "reason": acc.get("Reason") or None, "assertedBy": [helper]}
                    case.add(entry)
    elif call in ("kubernetes.GatewayStatusMustHaveListeners",
                  "kubernetes.ListenerSetStatusMustHaveListeners"):
        kind = "Gateway" if "Gateway" in call else "ListenerSet"
        owner = {"kind": kind, **_nn(a[3])}
        for li in a[4]:
            case.listener_count(owner, li["Name"], int(li.get("AttachedRoutes") or 0), helper)
        for li in a[4]:
            conds = [_cond(c) for c in li.get("Conditions") or []]
            kinds = _kinds(li.get("SupportedKinds"))
            if conds or kinds is not None:
                case.status(owner, li["Name"], kinds, conds, helper)
    elif call == "kubernetes.GatewayMustHaveZeroRoutes":
        gw = _nn(a[3])
        listeners = case.world.listeners(gw)
        if len(listeners) != 1:
            raise Unextracted(f"{helper}: {gw['name']} has {len(listeners)} listeners")
        case.listener_count({"kind": "Gateway", **gw}, listeners[0]["name"], 0, helper)
    elif call in ("kubernetes.GatewayListenersMustHaveConditions",
                  "kubernetes.ListenerSetListenersMustHaveConditions"):
        kind = "Gateway" if "Gateway" in call else "ListenerSet"
        owner = {"kind": kind, **_nn(a[3])}
        names = a[5:]
        if not names:
            obj = case.world.get(kind, owner["namespace"], owner["name"])
            if obj is None:
                raise Unextracted(f"{helper}: {kind} {owner['name']} not in the manifests")
            names = [li["name"] for li in obj["spec"].get("listeners", [])]
        for name in names:
            case.status(owner, name, None, [_cond(c) for c in a[4]], helper)
    elif call == "kubernetes.GatewayListenerMustHaveConditions":
        case.status({"kind": "Gateway", **_nn(a[3])}, a[4], None, [_cond(c) for c in a[5]],
                    helper)
    elif call == "kubernetes.ListenerSetMustHaveCondition":
        c = next((x for x in a if isinstance(x, dict) and x.get("$type", "").endswith(
            "Condition")), None)
        ls = _nn(a[3])
        if c is None or c.get("Type") != "Accepted":
            return
        obj = case.world.get("ListenerSet", ls["namespace"], ls["name"])
        if obj is None:
            raise Unextracted(f"{helper}: ListenerSet {ls['name']} not in the manifests")
        pref = obj["spec"]["parentRef"]
        gw = {"namespace": pref.get("namespace") or ls["namespace"], "name": pref["name"]}
        case.listener_sets.append({"listenerSet": ls, "gateway": gw,
                                   "accepted": _status(c["Status"]) == "True",
                                   "reason": c.get("Reason") or None, "assertedBy": helper})
    elif call == "kubernetes.GatewayMustHaveAttachedListeners":
        case.attached_listener_sets.append({"gateway": _nn(a[3]), "count": int(a[4]),
                                            "assertedBy": helper})
    elif call == "http.MakeRequestAndExpectEventuallyConsistentResponse":
        _http(case, ev)
    elif call == "grpc.MakeRequestAndExpectEventuallyConsistentResponse":
        _grpc(case, ev)
    elif call == "tls.MakeTLSRequestAndExpectEventuallyConsistentResponse":
        _tls(case, ev)
    elif call == "tls.MakeTLSConnectionAndExpectEventuallyConnectionRejection":
        _tls_rejected(case, ev)
    elif call == "tcp.MakeTCPRequestAndExpectEventuallyValidResponse":
        _tcp(case, ev)
    elif call == "udp.ExpectEchoResponseFromBackend":
        _udp(case, ev)
    elif call == "udp.ExpectEchoResponse":
        raise Unextracted("asserts that an echo answer arrives, not which backend sends it")
    elif call in IGNORED:
        return
    elif not call.startswith(("kubernetes.", "http.", "grpc.", "tls.", "tcp.", "udp.")):
        raise Unextracted(f"a request made with {call}, not with a suite helper: what it "
                          "asserts is not read")
    else:
        raise Unextracted(f"helper {call} is not turned into an expectation")


# Helpers that assert nothing about attachment or routing (readiness, ResolvedRefs, TLS
# material, Gateway-level conditions) or only fetch data.
IGNORED = {
    "kubernetes.NamespacesMustBeReady", "kubernetes.GetTLSSecret", "kubernetes.GetConfigMapData",
    "kubernetes.HTTPRouteMustHaveResolvedRefsConditionsTrue",
    "kubernetes.TLSRouteMustHaveResolvedRefsConditionsTrue",
    "kubernetes.GatewayMustHaveCondition", "kubernetes.GatewayMustHaveLatestConditions",
    "kubernetes.HTTPRouteMustHaveLatestConditions", "kubernetes.DumpEchoLogs",
    "kubernetes.WaitForGatewayAddress",
}


def _walk_events(test: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield from test["events"]


def build_case(test: dict[str, Any], manifest_texts: dict[str, str]) -> dict[str, Any]:
    files = ["manifests.yaml", *(Path(m).name for m in test["manifests"] or [])]
    world = World([manifest_texts[f] for f in files if f in manifest_texts])
    case = Case(test, world)
    for ev in _walk_events(test):
        if ev["call"].startswith("tlog."):
            continue  # the suite's logging
        if not _known(ev["args"]) and ev["call"] not in IGNORED:
            case.unextracted.append({"line": ev["line"], "call": ev["call"],
                                     "reason": "arguments not evaluated"})
            continue
        if ev.get("when") and ev["call"] not in IGNORED:
            case.unextracted.append({"line": ev["line"], "call": ev["call"],
                                     "reason": "depends on: " + "; ".join(ev["when"])})
            continue
        before = len(case.requests)
        try:
            apply(case, ev)
        except (Unextracted, KeyError, IndexError, TypeError, ValueError) as exc:
            case.unextracted.append({"line": ev["line"], "call": ev["call"],
                                     "reason": str(exc) or type(exc).__name__})
            continue
        for r in case.requests[before:]:
            if ev["subtests"] and len(test["events"]) > 0:
                named = [s for s in ev["subtests"] if not s.startswith("<")]
                if named:
                    r["subtest"] = "/".join(named)
            r["sourceLine"] = _expected_line(ev)
    for p in test["problems"]:
        case.unextracted.append({"line": None, "call": None, "reason": p})
    out: dict[str, Any] = {
        "test": test["shortName"], "source": test["source"],
        "description": test["description"], "features": test["features"] or [],
        "provisional": bool(test["provisional"]), "manifests": files,
        "attachments": case.attachments, "listeners": case.listeners,
        "requests": case.requests,
    }
    if case.listener_status:
        out["listenerStatus"] = case.listener_status
    if case.listener_sets:
        out["listenerSets"] = case.listener_sets
    if case.attached_listener_sets:
        out["attachedListenerSets"] = case.attached_listener_sets
    if case.unextracted:
        out["unextracted"] = case.unextracted
    return out


def _expected_line(ev: dict[str, Any]) -> int:
    """The line of the table entry the request comes from, else of the ExpectedResponse
    literal, else of the call."""
    if ev.get("entries"):
        return int(ev["entries"][-1])
    for a in reversed(ev["args"]):
        if isinstance(a, dict) and isinstance(a.get("$line"), int):
            return int(a["$line"])
    return int(ev["line"])


# --- the corpus ---------------------------------------------------------------------------------

def manifest_texts(conf_dir: Path) -> dict[str, str]:
    out = {"manifests.yaml": (conf_dir / "base" / "manifests.yaml").read_text(encoding="utf-8")}
    for f in sorted((conf_dir / "tests").glob("*.yaml")):
        out[f.name] = f.read_text(encoding="utf-8")
    return {name: text.replace(CLASS_PLACEHOLDER, CLASS_NAME) for name, text in out.items()}


def build(version: str | None = None) -> tuple[dict[str, Any], dict[str, str]]:
    """The corpus and the manifest files it names, for a gateway-api version (default: pin)."""
    version = version or pinned_versions().gateway_api
    conf_dir = module_dir(CONF_MODULE, version)
    api_dir = module_dir(API_MODULE, version)
    raw = facts(conf_dir, api_dir)
    texts = manifest_texts(conf_dir)
    cases, excluded = [], []
    for test in raw["tests"]:
        name = test["shortName"]
        if name in EXCLUDED:
            excluded.append({"test": name, "source": test["source"], "reason": EXCLUDED[name]})
            continue
        cases.append(build_case(test, texts))
    names = {t["shortName"] for t in raw["tests"]}
    for name in sorted(set(EXCLUDED) - names):
        raw["problems"].append(f"{name} is excluded but no longer a test in {version}")
    cases.sort(key=lambda c: (c["source"], c["test"]))
    excluded.sort(key=lambda c: c["test"])
    used = sorted({m for c in cases for m in c["manifests"]})
    corpus = {
        "gatewayAPI": version,
        "modules": [f"{CONF_MODULE}@{version}", f"{API_MODULE}@{version}"],
        "generatedBy": "python -m tests.conformance generate",
        "cases": cases,
        "excluded": excluded,
        "problems": raw["problems"],
    }
    return corpus, {m: texts[m] for m in used if m in texts}


def render(corpus: dict[str, Any]) -> str:
    return json.dumps(corpus, indent=1, sort_keys=False, ensure_ascii=False) + "\n"


NOTICE = """\
These YAML files are generated by `python -m tests.conformance generate` from the Kubernetes
Gateway API conformance module {module} (conformance/base/manifests.yaml and
conformance/tests/*.yaml), Copyright The Kubernetes Authors, licensed under the Apache License,
Version 2.0 (https://www.apache.org/licenses/LICENSE-2.0). The only change is that the
placeholder {placeholder} is replaced by `{name}`. Do not edit them: regenerate.
"""


def outputs(corpus: dict[str, Any], manifests: dict[str, str]) -> dict[Path, str]:
    """Every file the generator writes, by path, with its content."""
    files = {CORPUS_FILE: render(corpus),
             MANIFEST_DIR / "NOTICE": NOTICE.format(module=corpus["modules"][0],
                                                    placeholder=CLASS_PLACEHOLDER,
                                                    name=CLASS_NAME)}
    for name, text in manifests.items():
        files[MANIFEST_DIR / name] = text
    return files


def committed() -> dict[Path, str]:
    """The generated files as they are in the working tree."""
    paths = [CORPUS_FILE, *sorted(MANIFEST_DIR.glob("*"))]
    return {p: p.read_text(encoding="utf-8") for p in paths if p.is_file()}


def write(files: dict[Path, str]) -> None:
    MANIFEST_DIR.mkdir(exist_ok=True)
    for old in MANIFEST_DIR.glob("*"):
        if old not in files:
            old.unlink()
    for path, text in files.items():
        path.write_text(text, encoding="utf-8")

