"""Findings from one slice of request space, and posture findings from Gateways and claims.

Pure functions over what the graph hands them; the graph decides *when* to call them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Final

from gwwatch.engine import hostnames, precedence
from gwwatch.engine.findings import Finding
from gwwatch.engine.model import Listener, ObjectRef, Route
from gwwatch.engine.ownership import Claims, Owner
from gwwatch.engine.precedence import Candidate, Comparison
from gwwatch.engine.vocabulary import (
    HOSTNAME_KINDS,
    HOSTNAME_PROTOCOLS,
    FindingKind,
    Reason,
    Severity,
    age_key,
    severity_rank,
)

__all__ = [
    "analyse_slice",
    "choose_listener",
    "claims_posture",
    "contested_claim",
    "describe_basis",
    "gateway_posture",
    "hostname_posture",
    "listener_hijacks",
    "merge_readings",
    "safe",
    "unreachable_claims",
]

_FIELD_LIMIT: Final = 256
_NAME_LABEL: Final = "kubernetes.io/metadata.name"
_REGEX_NOTE: Final = " (may overlap: RegularExpression precedence is implementation-specific)"
_HOSTNAME_NOTE: Final = (
    " (hostname precedence taken from the hostname the route gets on the listener; "
    "upstream gateway-api issue 5120 is still open)"
)


def safe(text: object, limit: int = _FIELD_LIMIT) -> str:
    """Tenant-supplied text made inert for a message: one line, printable, bounded."""
    value = str(text)
    if not value.isprintable():
        value = "".join(ch if ch.isprintable() else "?" for ch in value)
    return value if len(value) <= limit else value[: limit - 3] + "..."


def _route(ref: ObjectRef) -> str:
    return f"{ref.kind} {safe(ref)}"


def _ownership(owner: Owner) -> str:
    """How ``owner`` came to own the hostname, and what contests it, for a message."""
    text = f"{owner.rule} {safe(owner.claim)}"
    if owner.contested:
        text += f"; contested: {safe(owner.contested, 2 * _FIELD_LIMIT)}"
    return text


def choose_listener(listeners: Iterable[Listener], hostname: str | None) -> Listener | None:
    """The listener that requests for ``hostname`` reach: the most specific that covers it.

    ``hostname=None`` is a request without a hostname: only a listener without one serves it.
    """
    best: Listener | None = None
    for li in listeners:
        own = li.hostname or hostnames.ANY
        fits = own == hostnames.ANY if hostname is None else hostnames.covers(own, hostname)
        if fits and (best is None or hostnames.specificity(own) > hostnames.specificity(
                best.hostname or hostnames.ANY)):
            best = li
    return best


def _own_hostname(c: Candidate) -> str:
    """The route's own hostname behind the one it got on the listener (``ANY`` if none)."""
    own = [h for h in c.route.hostnames if hostnames.covers(h, c.hostname)]
    return max(own, key=hostnames.specificity) if own else hostnames.ANY


def _own_rank(c: Candidate) -> tuple[int, int]:
    """Hostname precedence by the route's own hostname; 0 for kinds without hostnames."""
    if c.route.kind not in HOSTNAME_KINDS:
        return (0, 0)
    own = _own_hostname(c)
    return (hostnames.precise_length(own), 0 if own == hostnames.ANY else len(own))


def describe_basis(cmp: Comparison, winner: Candidate, loser: Candidate) -> str:
    """Why ``winner`` beats ``loser``, in the words findings and ``explain`` share."""
    text = cmp.basis
    if cmp.step.startswith("path") or cmp.step in ("method", "headers", "query"):
        text += f" ({winner.match.describe()} over {loser.match.describe()})"
    elif cmp.step.startswith("hostname"):
        text += f" ({winner.hostname} over {loser.hostname})" + _HOSTNAME_NOTE
    if not cmp.step.startswith("hostname") and _own_rank(loser) > _own_rank(winner):
        # Ranked by the routes' own hostnames (gateway-api PR 5212) the loser would win.
        text += (f" (both get {safe(winner.hostname)} on the listener; by their own hostnames, "
                 f"{safe(_own_hostname(loser))} over {safe(_own_hostname(winner))}, the other "
                 f"route would win: upstream gateway-api issue 5120 is still open)")
    if cmp.implementation_specific or precedence.involves_regex(winner.match) or (
        precedence.involves_regex(loser.match)
    ):
        text += _REGEX_NOTE
    return text


def analyse_slice(
    *,
    kind: str,
    gateway: ObjectRef,
    listener: str,
    hostname: str,
    contenders: Sequence[tuple[str, Route]],
    owner: Owner | None,
    tenant: Callable[[str], str],
    shares: Callable[[str, str], bool],
    listener_owner: ObjectRef | None = None,
    intra_tenant_severity: Severity = Severity.WARNING,
) -> list[Finding]:
    """Hijack, Shadowed and SharedHostname findings among routes contesting ``hostname``.

    ``contenders`` are (the route's hostname on the listener, route) pairs, each covering
    ``hostname``.
    """
    ranked = precedence.select(
        Candidate(route, h, ri, mi, m)
        for h, route in contenders
        for ri, rule in enumerate(route.rules)
        for mi, m in enumerate(rule.matches)
    )
    if not ranked:
        return []
    owner_tenant = owner.tenant if owner is not None else None
    out: list[Finding] = []
    hijackers: set[ObjectRef] = set()
    where = f"on Gateway {safe(gateway)} listener {safe(listener)}"

    def tenant_of(c: Candidate) -> str:
        return tenant(c.route.ref.namespace)

    def winner(req: precedence.Request, upto: int, skip: ObjectRef | None = None,
               only_tenant: str | None = None) -> Candidate | None:
        for c in ranked[: upto + 1]:
            if c.route.ref != skip and (only_tenant is None or tenant_of(c) == only_tenant) and (
                    precedence.applies(kind, c.match, req)):
                return c
        return None

    # Hijack: a route outside the victim's namespace wins requests the owner's route would serve.
    if owner is not None and owner_tenant is not None:
        found: set[tuple[ObjectRef, ObjectRef]] = set()
        for j, victim in enumerate(ranked):
            if tenant_of(victim) != owner_tenant:
                continue
            for i in range(j):
                taker = ranked[i]
                pair = (taker.route.ref, victim.route.ref)
                if taker.route.ref.namespace == victim.route.ref.namespace or pair in found:
                    continue
                for req in precedence.witnesses(kind, victim.match, taker.match, hostname):
                    won = winner(req, i)
                    if won is None or won.route.ref != taker.route.ref:
                        continue
                    # whom the owner's routes would serve it to: other intruders don't count
                    instead = winner(req, j, skip=taker.route.ref, only_tenant=owner_tenant)
                    if instead is None or instead.route.ref != victim.route.ref:
                        continue
                    found.add(pair)
                    hijackers.add(taker.route.ref)
                    cmp = precedence.compare(won, instead)
                    out.append(_hijack(
                        gateway=gateway, listener=listener, listener_owner=listener_owner,
                        hostname=hostname,
                        taker=won.route.ref, victim=instead.route.ref,
                        space=safe(won.match.describe()), owner=owner,
                        taker_tenant=tenant_of(won), shares=shares, where=where,
                        intra_tenant_severity=intra_tenant_severity,
                        why=describe_basis(cmp, won, instead), basis=cmp.basis))
                    break
    # Shadowed: every request a rule's match accepts goes to a stronger match of another route.
    for route_ref, rules in _shadowed(kind, ranked, hostname).items():
        for other_ref, (loser, top) in rules.items():
            same = tenant_of(loser) == tenant_of(top)
            cmp = precedence.compare(top, loser)
            out.append(Finding(
                kind=FindingKind.SHADOWED, reason=Reason.SHADOWED,
                severity=Severity.INFO if same else Severity.WARNING,
                hostname=hostname, gateway=gateway, listener=listener,
                listener_owner=listener_owner, route=route_ref,
                other=other_ref,
                message=(f"{_route(route_ref)} rule {loser.rule} ({safe(loser.match.describe())})"
                         f" can never win {safe(hostname)} {where}: {_route(other_ref)} takes all "
                         f"of it with {describe_basis(cmp, top, loser)}"),
                request_space=safe(loser.match.describe()),
                basis=cmp.basis, tenant=tenant_of(loser), other_tenant=tenant_of(top)))
    # SharedHostname: another tenant serves disjoint requests on a hostname the owner serves.
    if owner is not None and owner_tenant is not None:
        owners = [c for c in ranked if tenant_of(c) == owner_tenant]
        if owners:
            owner_route = min((c.route for c in owners), key=lambda r: age_key(r.created, r.ref))
            seen: set[ObjectRef] = set()
            for c in ranked:
                t = tenant_of(c)
                ref = c.route.ref
                if t == owner_tenant or ref in hijackers or ref in seen or shares(owner_tenant, t):
                    continue
                if _serves(kind, ranked, c, hostname):
                    seen.add(ref)
                    out.append(Finding(
                        kind=FindingKind.SHARED_HOSTNAME, reason=Reason.SHARES_HOSTNAME,
                        severity=Severity.WARNING,
                        hostname=hostname, gateway=gateway, listener=listener,
                        listener_owner=listener_owner, route=ref,
                        other=owner_route.ref,
                        message=(f"{_route(ref)} (tenant {safe(t)}) serves "
                                 f"{safe(c.match.describe())} on {safe(hostname)} {where}, a "
                                 f"hostname owned by tenant {safe(owner_tenant)} (by "
                                 f"{_ownership(owner)}) whose "
                                 f"{_route(owner_route.ref)} serves the rest; no request is "
                                 f"taken, but the tenants share the hostname without an opt-in"),
                        request_space=safe(c.match.describe()), basis="disjoint request space",
                        tenant=t, other_tenant=owner_tenant))
    return out


def listener_hijacks(
    *,
    kind: str,
    gateway: ObjectRef,
    listener: Listener,
    hostname: str,
    contenders: Sequence[tuple[str, Route]],
    stranded: Sequence[tuple[Route, Listener, str]],
    owner: Owner | None,
    tenant: Callable[[str], str],
    shares: Callable[[str, str], bool],
    intra_tenant_severity: Severity = Severity.WARNING,
) -> list[Finding]:
    """Hijacks by listener specificity: requests for ``hostname`` reach ``listener`` (the most
    specific, perhaps a ListenerSet's), so the owner's routes left on a less specific listener
    (``stranded``: route, its listener, its hostname there) lose them to whoever serves them
    on ``listener``."""
    if owner is None or owner.tenant is None:
        return []
    ranked = precedence.select(
        Candidate(route, h, ri, mi, m)
        for h, route in contenders
        for ri, rule in enumerate(route.rules)
        for mi, m in enumerate(rule.matches)
    )
    out: list[Finding] = []
    for victim, attached_to, victim_host in stranded:
        if tenant(victim.ref.namespace) != owner.tenant:
            continue
        taken: set[ObjectRef] = set()
        for rule in victim.rules:
            for m in rule.matches:
                for c in ranked:
                    if c.route.ref in taken or c.route.ref.namespace == victim.ref.namespace:
                        continue
                    for req in precedence.witnesses(kind, m, c.match, hostname):
                        won = next((x for x in ranked if precedence.applies(kind, x.match, req)),
                                   None)
                        if won is None or won.route.ref != c.route.ref:
                            continue
                        taken.add(c.route.ref)
                        out.append(_hijack(
                            gateway=gateway, listener=listener.name,
                            listener_owner=listener.owner, hostname=hostname,
                            taker=c.route.ref, victim=victim.ref,
                            space=safe(c.match.describe()), owner=owner,
                            taker_tenant=tenant(c.route.ref.namespace), shares=shares,
                            intra_tenant_severity=intra_tenant_severity,
                            where=f"on Gateway {safe(gateway)}",
                            why=(f"requests for {safe(hostname)} reach listener "
                                 f"{safe(listener.name)} of {safe(listener.owner.kind)} "
                                 f"{safe(listener.owner)} "
                                 f"({safe(listener.hostname or 'no hostname')}), more specific "
                                 f"than listener {safe(attached_to.name)} "
                                 f"({safe(attached_to.hostname or 'no hostname')}) that "
                                 f"{_route(victim.ref)} is attached to with "
                                 f"{safe(victim_host)}"),
                            basis="more specific listener hostname"))
                        break
    return out


def unreachable_claims(
    *,
    claims: Iterable[tuple[ObjectRef, Listener, str]],
    gateway: ObjectRef,
    hostname: str,
    listener: Listener,
) -> list[Finding]:
    """Routes attached to a listener that never sees ``hostname``: a more specific one takes it."""
    out = []
    for route, attached_to, route_tenant in claims:
        out.append(Finding(
            kind=FindingKind.SHADOWED, reason=Reason.LISTENER_SHADOWED, severity=Severity.WARNING,
            hostname=hostname,
            gateway=gateway, listener=attached_to.name, listener_owner=attached_to.owner,
            route=route, other=None,
            message=(f"{_route(route)} is attached to listener {safe(attached_to.name)} of "
                     f"Gateway {safe(gateway)} with hostname {safe(hostname)}, but requests for "
                     f"{safe(hostname)} reach listener {safe(listener.name)} "
                     f"({safe(listener.hostname or 'no hostname')}), the more specific one: "
                     f"the route never receives them"),
            basis="more specific listener hostname", tenant=route_tenant))
    return out


def _hijack(*, gateway: ObjectRef, listener: str, listener_owner: ObjectRef | None,
            hostname: str, taker: ObjectRef,
            victim: ObjectRef, space: str, owner: Owner, taker_tenant: str,
            shares: Callable[[str, str], bool], where: str, why: str, basis: str,
            intra_tenant_severity: Severity = Severity.WARNING) -> Finding:
    """The one way a Hijack is worded and rated, whatever decided it (``why``)."""
    owner_tenant = owner.tenant or ""
    cross = taker_tenant != owner_tenant
    shared = cross and shares(owner_tenant, taker_tenant)
    note = ""
    if not cross:
        note = " (both routes belong to one tenant)"
    elif shared:
        note = f" (tenant {safe(owner_tenant)} shares the hostname with {safe(taker_tenant)})"
    return Finding(
        kind=FindingKind.HIJACK, reason=Reason.HIJACKS_TRAFFIC,
        severity=(intra_tenant_severity if not cross
                  else Severity.WARNING if shared else Severity.CRITICAL),
        hostname=hostname,
        gateway=gateway, listener=listener, listener_owner=listener_owner, route=taker,
        other=victim,
        message=(f"{_route(taker)} (tenant {safe(taker_tenant)}) takes {safe(hostname)} {space}"
                 f" from {_route(victim)} (tenant {safe(owner_tenant)}, owner of the hostname by "
                 f"{_ownership(owner)}) {where}: {why}{note}"),
        request_space=space, basis=basis, tenant=taker_tenant, other_tenant=owner_tenant)


_BETWEEN_OWNER_AND_OTHERS: Final = (FindingKind.HIJACK, FindingKind.SHARED_HOSTNAME)


def merge_readings(readings: Sequence[Sequence[Finding]]) -> list[Finding]:
    """The findings of a slice analysed once per reading of who owns its hostname.

    What does not depend on the owner (``Shadowed``) is the same in every reading. A Hijack or
    SharedHostname is about a pair of routes: per pair, the findings of the reading that rates
    the pair most severely are kept (of each reading when they tie), so neither reading can
    lower, or hide, what the other finds.
    """
    if len(readings) == 1:
        return list(readings[0])
    per_reading: list[dict[frozenset[ObjectRef | None], int]] = []
    best: dict[frozenset[ObjectRef | None], int] = {}
    for found in readings:
        ranks: dict[frozenset[ObjectRef | None], int] = {}
        for f in found:
            if f.kind in _BETWEEN_OWNER_AND_OTHERS:
                pair = frozenset((f.route, f.other))
                rank = severity_rank(f.severity)
                ranks[pair] = min(rank, ranks.get(pair, rank))
                best[pair] = min(rank, best.get(pair, rank))
        per_reading.append(ranks)
    out: dict[tuple[object, ...], Finding] = {}
    for found, ranks in zip(readings, per_reading, strict=True):
        for f in found:
            if f.kind in _BETWEEN_OWNER_AND_OTHERS:
                pair = frozenset((f.route, f.other))
                if ranks[pair] > best[pair]:
                    continue
            kept = out.get(f.identity)
            if kept is None or severity_rank(f.severity) < severity_rank(kept.severity):
                out[f.identity] = f
    return list(out.values())


def _shadowed(kind: str, ranked: Sequence[Candidate], hostname: str
              ) -> dict[ObjectRef, dict[ObjectRef, tuple[Candidate, Candidate]]]:
    """Route → (shadowing route → (first shadowed candidate, its shadower)), own slice only."""
    out: dict[ObjectRef, dict[ObjectRef, tuple[Candidate, Candidate]]] = {}
    by_rule: dict[tuple[ObjectRef, int], list[tuple[Candidate, Candidate | None]]] = {}
    for i, c in enumerate(ranked):
        if c.hostname != hostname:
            continue
        top = next((y for y in ranked[:i] if y.route.ref != c.route.ref
                    and precedence.contains(kind, y.match, c.match)), None)
        by_rule.setdefault((c.route.ref, c.rule), []).append((c, top))
    for (route_ref, _), entries in by_rule.items():
        if any(top is None for _, top in entries):
            continue
        loser, top = entries[0]
        assert top is not None
        out.setdefault(route_ref, {}).setdefault(top.route.ref, (loser, top))
    return out


def _serves(kind: str, ranked: Sequence[Candidate], c: Candidate, hostname: str) -> bool:
    """Whether some request matching ``c`` is won by ``c``'s route."""
    for req in precedence.witnesses(kind, c.match, c.match, hostname):
        for other in ranked:
            if precedence.applies(kind, other.match, req):
                if other.route.ref == c.route.ref:
                    return True
                break
    return False


# --- posture ---------------------------------------------------------------------------------


def gateway_posture(
    *,
    gateway: ObjectRef,
    listeners: Iterable[Listener],
    tenants_by_listener: Mapping[tuple[ObjectRef, str], set[str]],
    gateway_tenant: str,
) -> list[Finding]:
    out: list[Finding] = []

    def posture(reason: Reason, severity: Severity, li: Listener, message: str) -> None:
        out.append(Finding(
            kind=FindingKind.POSTURE, reason=reason, severity=severity,
            hostname=li.hostname or hostnames.ANY, gateway=gateway, listener=li.name,
            listener_owner=li.owner,
            route=None, other=None, message=message, tenant=gateway_tenant))

    for li in listeners:
        name = f"listener {safe(li.name)} of {safe(li.owner.kind)} {safe(li.owner)}"
        tenants = tenants_by_listener.get((li.owner, li.name), set())
        open_to_others = li.allowed_from in ("All", "Selector")
        if open_to_others and li.hostname is None and li.protocol in HOSTNAME_PROTOCOLS:
            posture(Reason.OPEN_LISTENER_WITHOUT_HOSTNAME, Severity.WARNING, li,
                    f"{name} has no hostname and admits routes from other namespaces "
                    f"(from: {li.allowed_from}): any of them can claim any hostname on port "
                    f"{li.port}")
        if li.allowed_from == "All" and len(tenants) > 1:
            posture(Reason.SHARED_OPEN_LISTENER, Severity.INFO, li,
                    f"{name} admits routes from all namespaces and carries routes of "
                    f"{len(tenants)} tenants ({safe(', '.join(sorted(tenants)))}); a Selector on "
                    f"{_NAME_LABEL} would name who may attach")
        if li.allowed_from == "Selector" and li.selector is not None and (
            _NAME_LABEL not in li.selector.keys()  # noqa: SIM118
        ):
            keys = ", ".join(sorted(li.selector.keys())) or "(empty selector)"
            posture(Reason.SELECTOR_ON_CUSTOM_LABEL, Severity.INFO, li,
                    f"{name} selects namespaces by {safe(keys)}, labels a namespace's own "
                    f"admins may be able to set; {_NAME_LABEL} cannot be forged")
    return out


def hostname_posture(
    *,
    hostname: str,
    gateways: Mapping[ObjectRef, set[str]],
    gateway_tenant: Callable[[str], str],
) -> list[Finding]:
    """The same hostname served through Gateways of different tenants (per-tenant Gateways)."""
    by_tenant: dict[str, list[ObjectRef]] = {}
    for gw in gateways:
        by_tenant.setdefault(gateway_tenant(gw.namespace), []).append(gw)
    route_tenants = set().union(*gateways.values()) if gateways else set()
    if len(by_tenant) < 2 or len(route_tenants) < 2:
        return []
    listing = "; ".join(f"tenant {safe(t)}: " + ", ".join(safe(g) for g in sorted(gws))
                        for t, gws in sorted(by_tenant.items()))
    return [Finding(
        kind=FindingKind.POSTURE, reason=Reason.HOSTNAME_ACROSS_GATEWAYS,
        severity=Severity.WARNING, hostname=hostname,
        gateway=None, listener=None, route=None, other=None,
        message=(f"{safe(hostname)} is served through Gateways of {len(by_tenant)} tenants "
                 f"({listing}): no request is taken at a Gateway, but DNS automation or ACME "
                 f"HTTP-01 issuance can flip between them"))]


def claims_posture(claims: Claims) -> list[Finding]:
    out = []
    for pattern, tenants in sorted(claims.patterns().items()):
        if len(tenants) > 1:
            out.append(Finding(
                kind=FindingKind.POSTURE, reason=Reason.CONFLICTING_CLAIMS,
                severity=Severity.WARNING, hostname=pattern,
                gateway=None, listener=None, route=None, other=None,
                message=(f"{safe(pattern)} is claimed by {len(tenants)} tenants "
                         f"({safe(', '.join(sorted(tenants)))}) through {claims.source}s; "
                         f"neither claim wins until one is removed"
                         + ("" if claims.source == "ownership file" else
                            " (meanwhile the oldest route's tenant owns what it covers)"))))
    return out


def contested_claim(*, hostname: str, claimed: Owner, evidence: Owner) -> Finding:
    """A hostname whose annotation claim and oldest route name different owners: findings of
    both readings are reported, and this names the claim that contests the evidence."""
    return Finding(
        kind=FindingKind.POSTURE, reason=Reason.CONTESTED_CLAIM, severity=Severity.WARNING,
        hostname=hostname, gateway=None, listener=None, route=None, other=None,
        message=(f"{safe(hostname)} is claimed for tenant {safe(claimed.tenant)} by "
                 f"{claimed.rule} {safe(claimed.claim)}, but the oldest route claiming it, "
                 f"{safe(evidence.claim)}, belongs to tenant {safe(evidence.tenant)}: findings "
                 f"of both readings are reported (a late owner's claim makes the older route a "
                 f"squatter; a false claim cannot hide the older route's findings). A platform "
                 f"claim (ownership file or ConfigMap) decides alone"),
        tenant=claimed.tenant, other_tenant=evidence.tenant)
