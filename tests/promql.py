"""What a PromQL expression selects, and which metric names gwwatch exports.

Dashboards and alert rules must only query series gwwatch exports. Rather than trust a
hand-written list, :func:`exported_names` asks the registry of :class:`gwwatch.metrics.Metrics`
(every family, expanded to the sample names its type exposes), and :func:`selectors` reads the
vector selectors out of an expression with a small lexer: enough PromQL to tell metric names
from functions, aggregation clauses, label lists, strings, durations and Grafana variables.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

__all__ = ["TARGET_LABELS", "Selector", "exported_labels", "exported_names", "family_of",
           "grouping_labels", "metric_names", "selectors", "unknown_labels"]

# Labels Prometheus (and the Prometheus Operator) add to every scraped series.
TARGET_LABELS: Final = frozenset({"job", "instance", "namespace", "pod", "service",
                                  "endpoint", "container"})

_TOKEN: Final = re.compile(r"""
      (?P<ws>\s+)
    | (?P<string>"(?:\\.|[^"\\])*"|'(?:\\.|[^'\\])*'|`[^`]*`)
    | (?P<var>\$\{[^}]*\}|\$\w+|\[\[\w+\]\])
    | (?P<number>0x[0-9a-fA-F]+
                 |(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?(?:ms|[smhdwy])?(?:\d+(?:ms|[smhdwy]))*)
    | (?P<ident>[A-Za-z_:][A-Za-z0-9_:]*)
    | (?P<punct>=~|!~|!=|==|>=|<=|[{}()\[\],=<>+\-*/%^@])
""", re.VERBOSE)
# Followed by a parenthesised list of label names, not by an expression.
_LABEL_LISTS: Final = frozenset({"by", "without", "on", "ignoring", "group_left", "group_right"})
_AGGREGATIONS: Final = frozenset({"sum", "min", "max", "avg", "group", "stddev", "stdvar", "count",
                                  "count_values", "bottomk", "topk", "quantile", "limitk",
                                  "limit_ratio"})
_KEYWORDS: Final = frozenset({"and", "or", "unless", "bool", "offset", "inf", "nan", "atan2",
                              "start", "end"})


@dataclass(frozen=True)
class Selector:
    """One vector selector: ``name{label op "value", ...}``."""

    name: str
    matchers: tuple[tuple[str, str, str], ...]

    def matcher(self, label: str) -> tuple[str, str] | None:
        for name, op, value in self.matchers:
            if name == label:
                return op, value
        return None


def _tokens(expr: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    pos = 0
    while pos < len(expr):
        m = _TOKEN.match(expr, pos)
        if m is None:
            raise ValueError(f"cannot read PromQL at {pos}: {expr[pos:pos + 20]!r} in {expr!r}")
        pos = m.end()
        kind = m.lastgroup or ""
        if kind != "ws":
            out.append((kind, m.group()))
    return out


def _unquote(text: str) -> str:
    if text[0] == "`":
        return text[1:-1]
    return bytes(text[1:-1], "utf-8").decode("unicode_escape")


def selectors(expr: str) -> list[Selector]:
    """The vector selectors of ``expr``, in order (ValueError on what it cannot read)."""
    return _read(expr)[0]


def grouping_labels(expr: str) -> set[str]:
    """Labels named in ``by``/``without``/``on``/``ignoring``/``group_left``/``group_right``."""
    return set(_read(expr)[1])


def _read(expr: str) -> tuple[list[Selector], list[str]]:
    toks = _tokens(expr)
    found: list[Selector] = []
    grouping: list[str] = []
    i = 0

    def matchers(start: int) -> tuple[tuple[tuple[str, str, str], ...], int]:
        got: list[tuple[str, str, str]] = []
        j = start + 1  # past "{"
        while toks[j][1] != "}":
            if toks[j][1] == ",":
                j += 1
                continue
            label, op, value = toks[j], toks[j + 1], toks[j + 2]
            if label[0] != "ident" or op[1] not in ("=", "!=", "=~", "!~") or value[0] != "string":
                raise ValueError(f"bad label matcher in {expr!r}")
            got.append((label[1], op[1], _unquote(value[1])))
            j += 3
        return tuple(got), j + 1

    while i < len(toks):
        kind, text = toks[i]
        nxt = toks[i + 1][1] if i + 1 < len(toks) else ""
        if kind == "punct" and text == "[":  # a range or subquery: durations, variables
            while toks[i][1] != "]":
                i += 1
            i += 1
        elif kind == "ident" and text in _LABEL_LISTS and nxt == "(":
            i += 2
            while toks[i][1] != ")":
                if toks[i][0] == "ident":
                    grouping.append(toks[i][1])
                i += 1
            i += 1
        elif kind == "ident" and (nxt == "(" or (text in _AGGREGATIONS
                                                 and nxt in ("by", "without"))):
            i += 1  # a function or an aggregation
        elif kind == "ident" and text.lower() in _KEYWORDS:
            i += 1
        elif kind == "ident":
            if nxt == "{":
                ms, i = matchers(i + 1)
            else:
                ms, i = (), i + 1
            found.append(Selector(text, ms))
        elif kind == "punct" and text == "{":  # {__name__="..."}
            ms, i = matchers(i)
            name = next((v for n, op, v in ms if n == "__name__" and op == "="), "")
            found.append(Selector(name, ms))
        else:
            i += 1
    return found, grouping


def metric_names(expr: str) -> set[str]:
    return {s.name for s in selectors(expr)}


_SUFFIXES: Final = {
    "counter": ("_total", "_created"),
    "histogram": ("_bucket", "_sum", "_count", "_created"),
    "summary": ("", "_sum", "_count", "_created"),
    "gauge": ("",),
    "info": ("_info",),
    "stateset": ("",),
    "unknown": ("",),
}


def exported_names() -> set[str]:
    """Every sample name a gwwatch ``/metrics`` can expose, read from a fresh registry of
    :class:`gwwatch.metrics.Metrics` (families whose series do not exist yet included)."""
    from gwwatch.metrics import Metrics

    names: set[str] = set()
    m = Metrics()
    m.enable_admission()  # the webhook's families: only replicas serving it export them
    for family in m.registry.collect():
        names.update(family.name + s for s in _SUFFIXES[family.type])
        names.update(s.name for s in family.samples)
    return names


def exported_labels() -> dict[str, frozenset[str]]:
    """Family name → its label names, for every family of a fresh registry."""
    from gwwatch.metrics import Metrics

    m = Metrics()
    m.enable_admission()
    out: dict[str, frozenset[str]] = {}
    for family in m.registry.collect():
        out[family.name] = frozenset(getattr(family, "_labelnames", ()))
    for attr in vars(m).values():  # Counter/Gauge/Histogram objects know theirs
        name, labels = getattr(attr, "_name", None), getattr(attr, "_labelnames", None)
        if isinstance(name, str) and labels is not None:
            out[name] = frozenset(labels)
    return out


def family_of(sample_name: str) -> str:
    """``gwwatch_watch_events_total`` → ``gwwatch_watch_events`` (the family's name)."""
    for suffix in ("_total", "_bucket", "_sum", "_count", "_created"):
        if sample_name.endswith(suffix):
            return sample_name[: -len(suffix)]
    return sample_name


def unknown_labels(expr: str, known: dict[str, frozenset[str]] | None = None) -> set[str]:
    """Labels ``expr`` matches on or groups by that none of its metrics carries (neither
    gwwatch's own labels nor the scrape target's). Metrics outside ``known`` (default:
    gwwatch's registry, plus Prometheus' ``up``) count as having only target labels."""
    families = known if known is not None else {**exported_labels(), "up": frozenset()}
    sels, grouping = _read(expr)
    allowed_all: set[str] = set(TARGET_LABELS)
    unknown: set[str] = set()
    for sel in sels:
        allowed = families.get(family_of(sel.name), frozenset()) | TARGET_LABELS
        if sel.name.endswith("_bucket"):
            allowed |= {"le"}
        unknown |= {label for label, _, _ in sel.matchers if label != "__name__"} - allowed
        allowed_all |= allowed
    return unknown | (set(grouping) - allowed_all)
