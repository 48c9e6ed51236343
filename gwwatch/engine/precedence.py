"""Which route match serves a request, and why: the Gateway API's precedence rules.

One implementation serves ``gwwatch explain``, the findings' messages, conditions and Events.
A :class:`Candidate` is one match of one rule of one route as attached to one listener, with the
route hostname that applies. ``rank`` orders candidates, highest precedence first; ``compare``
names the first criterion on which two candidates differ.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Final

from gwwatch.engine import hostnames, regex
from gwwatch.engine.model import HeaderMatch, Match, Route
from gwwatch.engine.vocabulary import HOSTNAME_KINDS, MATCH_KINDS, RouteKind, age_key

__all__ = [
    "Candidate",
    "Comparison",
    "Request",
    "applies",
    "best_hostname",
    "compare",
    "contains",
    "involves_regex",
    "path_overlap",
    "rank",
    "select",
    "witnesses",
]

PROBE_SEGMENT: Final = "gwwatch-probe"  # a path element no route is expected to name
# Bound once: reading an Enum member off its class costs ~10x a plain comparison in 3.11, and
# these are compared for every candidate ranked and every match tried.
_HTTP: Final = RouteKind.HTTP
_GRPC: Final = RouteKind.GRPC


@dataclass(frozen=True, slots=True)
class Request:
    """A request as routing sees it. ``method=None``: a method that no match names.

    ``host=None``: a request without a hostname (by IP), served only by listeners and routes
    without hostnames. Header names are lower-cased.
    """

    host: str | None
    path: str = "/"
    method: str | None = "GET"
    headers: tuple[tuple[str, str], ...] = ()
    query: tuple[tuple[str, str], ...] = ()
    service: str | None = None  # gRPC
    grpc_method: str | None = None


@dataclass(frozen=True, slots=True)
class Candidate:
    route: Route
    hostname: str  # the route's hostname on this listener that matches (hostnames.ANY if none)
    rule: int
    match_index: int
    match: Match


@dataclass(frozen=True, slots=True)
class Comparison:
    """Why ``winner`` outranks ``loser``: the first criterion on which they differ."""

    step: str  # stable identifier, e.g. "path-prefix-length"
    basis: str  # the winner's side: "longer path prefix"
    lost_on: str  # the loser's side: "shorter path prefix than ns/name"
    implementation_specific: bool  # the order rests on RegularExpression precedence


def _full(pattern: str, value: str) -> bool:
    """Whether ``pattern`` (RE2 syntax) matches all of ``value``: linear in the value, never
    backtracking; a pattern RE2 refuses (backreferences, lookaround) matches nothing."""
    return regex.full_match(pattern, value)


def prefix_matches(prefix: str, path: str) -> bool:
    """Element-wise prefix: ``/abc`` matches ``/abc`` and ``/abc/def``, never ``/abcd``."""
    if prefix == "/":
        return True
    return path == prefix or path.startswith(prefix + "/")


def _path_applies(match: Match, path: str) -> bool:
    if match.path_type is None or match.path is None:
        return True
    if match.path_type == "Exact":
        return path == match.path
    if match.path_type == "PathPrefix":
        return prefix_matches(match.path, path)
    return _full(match.path, path)


def _values_apply(conditions: tuple[HeaderMatch, ...], given: tuple[tuple[str, str], ...]) -> bool:
    values: dict[str, str] = {}
    for name, value in given:
        values.setdefault(name, value)
    for cond in conditions:
        actual = values.get(cond.name)
        if actual is None:
            return False
        if cond.type == "Exact" and actual != cond.value:
            return False
        if cond.type == "RegularExpression" and not _full(cond.value, actual):
            return False
    return True


def applies(kind: str, match: Match, request: Request) -> bool:
    """Whether ``match`` (of a route of ``kind``) accepts ``request``; hostnames aside."""
    if kind == _GRPC:
        for want, got in ((match.service, request.service), (match.method, request.grpc_method)):
            if want is None:
                continue
            if got is None:
                return False
            if match.grpc_type == "RegularExpression":
                if not _full(want, got):
                    return False
            elif want != got:
                return False
        return _values_apply(match.headers, request.headers)
    if kind != _HTTP:
        return True
    if match.method is not None and match.method != request.method:
        return False
    return (
        _path_applies(match, request.path)
        and _values_apply(match.headers, request.headers)
        and _values_apply(match.query, request.query)
    )


_PATH_RANK: Final = {"Exact": 0, "PathPrefix": 1, "RegularExpression": 2}


def rank(c: Candidate) -> tuple[object, ...]:
    """Sort key: ascending order is descending precedence (the Gateway API's route precedence)."""
    host = (-hostnames.precise_length(c.hostname),
            -(0 if c.hostname == hostnames.ANY else len(c.hostname)))
    tail = (age_key(c.route.created, c.route.ref), c.rule, c.match_index)
    m = c.match
    kind = c.route.kind
    if kind == _HTTP:
        return (*host, _PATH_RANK.get(m.path_type or "PathPrefix", 3), -len(m.path or ""),
                0 if m.method else 1, -len(m.headers), -len(m.query), *tail)
    if kind == _GRPC:
        return (*host, -len(m.service or ""), -len(m.method or ""), -len(m.headers), *tail)
    if kind in HOSTNAME_KINDS:
        return (*host, *tail)
    return tail


def select(candidates: Iterable[Candidate]) -> list[Candidate]:
    """Candidates in precedence order, the winner first."""
    return sorted(candidates, key=rank)


def _criteria(c: Candidate) -> list[tuple[str, object, str, str]]:
    """(step, value, winner's words, loser's words); lower value wins. Mirrors ``rank``."""
    m = c.match
    kind = c.route.kind
    out: list[tuple[str, object, str, str]] = []
    if kind in HOSTNAME_KINDS:
        out += [
            ("hostname-precise", -hostnames.precise_length(c.hostname),
             "more specific hostname", "less specific hostname"),
            ("hostname-length", -(0 if c.hostname == hostnames.ANY else len(c.hostname)),
             "longer hostname", "shorter hostname"),
        ]
    if kind == _HTTP:
        out += [
            ("path-type", _PATH_RANK.get(m.path_type or "PathPrefix", 3),
             "stronger path match type", "weaker path match type"),
            ("path-length", -len(m.path or ""), "longer path", "shorter path"),
            ("method", 0 if m.method else 1, "method match", "no method match"),
            ("headers", -len(m.headers), "more header matches", "fewer header matches"),
            ("query", -len(m.query), "more query-param matches", "fewer query-param matches"),
        ]
    elif kind == _GRPC:
        out += [
            ("grpc-service", -len(m.service or ""), "longer service match",
             "shorter service match"),
            ("grpc-method", -len(m.method or ""), "longer method match", "shorter method match"),
            ("headers", -len(m.headers), "more header matches", "fewer header matches"),
        ]
    out += [
        ("age", age_key(c.route.created), "older route", "newer route"),
        ("name", str(c.route.ref), "namespace/name first in alphabetical order",
         "namespace/name later in alphabetical order"),
        ("rule", c.rule, "earlier rule", "later rule"),
        ("match", c.match_index, "earlier match", "later match"),
    ]
    return out


def _path_words(c: Candidate) -> str:
    return {"Exact": "exact path match", "PathPrefix": "path prefix",
            "RegularExpression": "regular-expression path"}.get(c.match.path_type or "", "path")


def compare(winner: Candidate, loser: Candidate) -> Comparison:
    """The step on which ``winner`` beats ``loser`` (given rank(winner) < rank(loser))."""
    regex = involves_regex(winner.match) or involves_regex(loser.match)
    who = str(winner.route.ref)
    for (step, wv, basis, lost), (_, lv, _, _) in zip(
        _criteria(winner), _criteria(loser), strict=True
    ):
        if wv == lv:
            continue
        if step == "path-type":
            basis = f"{_path_words(winner)} over {_path_words(loser)}"
            lost = f"{_path_words(loser)} loses to {_path_words(winner)}"
        elif step == "path-length" and winner.match.path_type == "PathPrefix":
            basis, lost = "longer path prefix", "shorter path prefix"
        specific = regex and step in ("path-type", "path-length")
        return Comparison(step, basis, f"{lost} than {who}", specific)
    return Comparison("same", "identical", f"identical to {who}", regex)


def involves_regex(match: Match) -> bool:
    return (
        match.path_type == "RegularExpression"
        or match.grpc_type == "RegularExpression"
        or any(h.type == "RegularExpression" for h in (*match.headers, *match.query))
    )


# --- request spaces: overlap witnesses and containment ---------------------------------------


def _merge_values(
    a: tuple[HeaderMatch, ...], b: tuple[HeaderMatch, ...]
) -> tuple[tuple[str, str], ...] | None:
    """Values satisfying both condition sets, or None when they contradict (or cannot be built)."""
    out: dict[str, str] = {}
    by_name: dict[str, list[HeaderMatch]] = {}
    for cond in (*a, *b):
        by_name.setdefault(cond.name, []).append(cond)
    for name, conds in by_name.items():
        exact = {c.value for c in conds if c.type == "Exact"}
        if len(exact) > 1:
            return None
        value = exact.pop() if exact else _sample(conds[0].value)
        if value is not None and not all(c.type == "Exact" or _full(c.value, value)
                                         for c in conds):
            value = None if exact else _common_value([c.value for c in conds])
        elif value is None and not exact:
            value = _common_value([c.value for c in conds])
        if value is None:
            return None
        out[name] = value
    return tuple(sorted(out.items()))


def _common_value(patterns: list[str]) -> str | None:
    """A value every one of ``patterns`` matches, from their automata (the first two decide;
    a third must accept the witness)."""
    first = regex.Space("regex", patterns[0])
    second = regex.Space("regex", patterns[1]) if len(patterns) > 1 else first
    found = regex.intersect(first, second, regex.VALUE_CHARS).witness
    if found is None or not all(_full(p, found) for p in patterns):
        return None
    return found


def _sample(pattern: str) -> str | None:
    """A string a simple regular expression matches, when its literal text is one."""
    literal = re.sub(r"\\(.)", r"\1", pattern)
    for guess in (literal, literal.replace(".*", ""), literal.replace(".*", "x")):
        if _full(pattern, guess):
            return guess
    return None


def _space(m: Match) -> regex.Space | None:
    kind = {"Exact": "exact", "PathPrefix": "prefix", "RegularExpression": "regex"}.get(
        m.path_type or "")
    return None if kind is None or m.path is None else regex.Space(kind, m.path)


def path_overlap(a: Match, b: Match) -> regex.Overlap | None:
    """The automata's answer on two path spaces when one is a RegularExpression (else None)."""
    if "RegularExpression" not in (a.path_type, b.path_type):
        return None
    sa, sb = _space(a), _space(b)
    if sa is None or sb is None:
        return None
    return regex.intersect(sa, sb)


def _paths(a: Match, b: Match) -> list[str]:
    """Paths both matches accept, most telling first; empty when their path spaces are disjoint."""
    out: list[str] = []
    for m, other in ((a, b), (b, a)):
        if m.path_type == "Exact" and m.path is not None:
            out.append(m.path)
        elif m.path_type == "PathPrefix" and m.path is not None:
            base = "" if m.path == "/" else m.path
            out += [m.path, f"{base}/{PROBE_SEGMENT}"]
        elif m.path_type == "RegularExpression" and m.path is not None:
            sample = _sample(m.path)
            if sample is not None:
                out.append(sample)
        if other.path_type is None:
            out.append("/")
    overlap = path_overlap(a, b)
    if overlap is not None and overlap.witness is not None:
        out.append(overlap.witness)  # in both, decided by their automata
    seen: list[str] = []
    for p in out:
        if p not in seen and _path_applies(a, p) and _path_applies(b, p):
            seen.append(p)
    # the deeper paths first: they stay clear of shorter exact matches of third routes
    return sorted(seen, key=lambda p: (PROBE_SEGMENT not in p, -len(p)))


def witnesses(kind: str, a: Match, b: Match, host: str | None) -> list[Request]:
    """Concrete requests that both ``a`` and ``b`` accept (none when they cannot overlap)."""
    if kind not in MATCH_KINDS:
        return [Request(host=host)]
    headers = _merge_values(a.headers, b.headers)
    if headers is None:
        return []
    if kind == _GRPC:
        fields: list[str | None] = []
        for want_a, want_b in ((a.service, b.service), (a.method, b.method)):
            choice = want_a if want_a is not None else want_b
            fields.append(choice if choice is not None else PROBE_SEGMENT)
        req = Request(host=host, headers=headers, service=fields[0], grpc_method=fields[1],
                      method="POST")
        if req.service and req.grpc_method:
            sample_a = _grpc_fix(a, req)
            req = _grpc_fix(b, sample_a)
        ok = applies(kind, a, req) and applies(kind, b, req)
        if not ok and "RegularExpression" in (a.grpc_type, b.grpc_type):
            req = Request(host=host, headers=headers, method="POST",
                          service=_grpc_value(a, b, "service"),
                          grpc_method=_grpc_value(a, b, "method"))
            ok = applies(kind, a, req) and applies(kind, b, req)
        return [req] if ok else []
    query = _merge_values(a.query, b.query)
    if query is None:
        return []
    if a.method is not None and b.method is not None and a.method != b.method:
        return []
    method = a.method or b.method
    out = []
    for path in _paths(a, b):
        req = Request(host=host, path=path, method=method, headers=headers, query=query)
        if applies(kind, a, req) and applies(kind, b, req):
            out.append(req)
    return out


def _grpc_value(a: Match, b: Match, field: str) -> str:
    """A gRPC service (or method) name both matches accept, from their automata when either
    is a RegularExpression (``PROBE_SEGMENT`` when neither names one, or none is found)."""
    spaces = [regex.Space("regex" if m.grpc_type == "RegularExpression" else "exact", value)
              for m in (a, b) if (value := getattr(m, field)) is not None]
    if not spaces:
        return PROBE_SEGMENT
    found = regex.intersect(spaces[0], spaces[-1], regex.VALUE_CHARS).witness
    return PROBE_SEGMENT if found is None else found


def _grpc_fix(m: Match, req: Request) -> Request:
    """Replace probe values by samples of ``m``'s regular expressions where needed."""
    if m.grpc_type != "RegularExpression":
        return req
    service, method = req.service, req.grpc_method
    if m.service is not None and service is not None and not _full(m.service, service):
        service = _sample(m.service) or service
    if m.method is not None and method is not None and not _full(m.method, method):
        method = _sample(m.method) or method
    return Request(host=req.host, headers=req.headers, service=service, grpc_method=method,
                   method=req.method)


def _values_contain(outer: tuple[HeaderMatch, ...], inner: tuple[HeaderMatch, ...]) -> bool:
    """Every request meeting ``inner`` meets ``outer``: each outer condition is an inner one."""
    return all(cond in inner for cond in outer)


def contains(kind: str, outer: Match, inner: Match) -> bool:
    """Whether ``outer`` accepts every request ``inner`` accepts (decided conservatively)."""
    if not _values_contain(outer.headers, inner.headers):
        return False
    if kind == _GRPC:
        if outer.grpc_type == "RegularExpression" or inner.grpc_type == "RegularExpression":
            return outer == inner
        return all(o is None or o == i for o, i in ((outer.service, inner.service),
                                                    (outer.method, inner.method)))
    if kind != _HTTP:
        return True
    if not _values_contain(outer.query, inner.query):
        return False
    if outer.method is not None and outer.method != inner.method:
        return False
    if outer.path_type == "PathPrefix" and outer.path is not None:
        if inner.path_type in ("Exact", "PathPrefix") and inner.path is not None:
            return prefix_matches(outer.path, inner.path)
        return outer.path == "/"
    return (outer.path_type, outer.path) == (inner.path_type, inner.path)


def best_hostname(route_hostnames: Sequence[str], host: str | None) -> str | None:
    """The most specific of a route's hostnames on a listener that matches ``host``."""
    if host is None:
        return hostnames.ANY if hostnames.ANY in route_hostnames else None
    fitting = [h for h in route_hostnames if hostnames.matches(h, host)]
    return max(fitting, key=hostnames.specificity) if fitting else None
