"""``parse`` never raises, however deeply a value nests (issue 11, item 5).

Python's ``str``/``repr`` recurse on lists and maps, and so did the parser when it wrote a value
into a label or a message: a value nested ~1,000 deep raised ``RecursionError``. Values nested
deeper than any valid object are now refused as malformed.
"""

from __future__ import annotations

import sys
from typing import Any

import pytest

from gwwatch.engine import parse
from gwwatch.engine.model import Invalid, NamespaceInfo, Route
from tests import builders as b

# Past the interpreter's recursion limit: what a JSON document or a YAML file can hold.
DEPTH = sys.getrecursionlimit() + 10


def _deep(depth: int, leaf: object = "x", *, mapping: bool = False) -> object:
    value = leaf
    for _ in range(depth):
        value = {"k": value} if mapping else [value]
    return value


def _namespace_label(value: object) -> dict[str, Any]:
    obj = b.namespace("team-a")
    obj["metadata"]["labels"] = {"team": value}
    return obj


def _name(value: object) -> dict[str, Any]:
    obj = b.http_route("r")
    obj["metadata"]["name"] = value
    return obj


def _path_type(value: object) -> dict[str, Any]:
    return b.http_route("r", matches=[{"path": {"type": value, "value": "/"}}])


def _backend_kind(value: object) -> dict[str, Any]:
    obj = b.http_route("r")
    obj["spec"]["rules"] = [{"backendRefs": [{"name": "svc", "kind": value}]}]
    return obj


def _allowed_kind_group(value: object) -> dict[str, Any]:
    return b.gateway(listeners=[b.listener(kinds=[{"kind": "HTTPRoute", "group": value}])])


def _selector_label(value: object) -> dict[str, Any]:
    return b.gateway(listeners=[b.listener(from_="Selector",
                                           selector={"matchLabels": {"a": value}})])


def _unknown_field(value: object) -> dict[str, Any]:
    obj = b.http_route("r")
    obj["spec"]["x-unknown"] = value
    return obj


WHERE = {
    "namespace label": _namespace_label,
    "metadata.name": _name,
    "path type": _path_type,
    "backendRef kind": _backend_kind,
    "allowedRoutes kind group": _allowed_kind_group,
    "selector label": _selector_label,
    "unknown spec field": _unknown_field,
}


@pytest.mark.parametrize("mapping", [False, True], ids=["lists", "maps"])
@pytest.mark.parametrize("where", sorted(WHERE))
def test_a_value_nested_past_the_recursion_limit_is_invalid_not_an_exception(
        where: str, mapping: bool) -> None:
    obj = WHERE[where](_deep(DEPTH, mapping=mapping))
    result = parse(obj, source="deep.yaml")
    assert isinstance(result, Invalid), result
    assert "nested deeper than" in result.reason
    assert result.source == "deep.yaml"


def test_the_invalid_record_names_the_object() -> None:
    result = parse(_namespace_label(_deep(DEPTH)))
    assert isinstance(result, Invalid)
    assert (result.kind, result.name) == ("Namespace", "team-a")


def test_ordinary_nesting_still_parses() -> None:
    # The deepest valid route field sits a few levels down; the bound leaves them all alone.
    ns = parse(_namespace_label("x"))
    assert isinstance(ns, NamespaceInfo) and ns.labels["team"] == "x"
    route = parse(_unknown_field(_deep(20, mapping=True)))
    assert isinstance(route, Route)


def test_nesting_past_32_levels_is_refused() -> None:
    # spec is the first level: an unknown field's value 31 maps deep reaches 32 levels
    assert isinstance(parse(_unknown_field(_deep(31, mapping=True))), Route)
    result = parse(_unknown_field(_deep(32, mapping=True)))
    assert isinstance(result, Invalid)
    assert result.reason == "a value is nested deeper than 32 levels"


class _CountingMap(dict[str, object]):
    """A map that counts how often its values are asked for: the depth walk's work, measured
    without a clock."""

    asked = 0

    def values(self):  # type: ignore[override]
        _CountingMap.asked += 1
        return super().values()


def test_shared_values_are_walked_a_bounded_number_of_times_a_level_not_once_a_path() -> None:
    # YAML aliases (and any caller re-using a value) give a graph, not a tree: 18 levels of
    # two references to the same map are 2**18 paths. Walking each path took a fuzz input
    # (a list repeating one value) past a second; a shared map is now walked a bounded number
    # of times a level (a level is de-duplicated once it is more than 64 wide).
    shared = _CountingMap(leaf="x")
    for _ in range(18):
        shared = _CountingMap(left=shared, right=shared)
    _CountingMap.asked = 0
    result = parse(_unknown_field(shared))
    assert isinstance(result, Route)
    assert _CountingMap.asked <= 64 * 19  # 2**18 = 262,144 before


class _Counted:
    """A leaf that counts how often it is rendered: the work of turning a value into text."""

    shown = 0

    def __repr__(self) -> str:
        _Counted.shown += 1
        return "c"


def _wide() -> object:
    # a million leaves behind 1,001 objects, as a list of aliases builds it
    row = [_Counted()] * 1000
    return [row] * 1000


@pytest.mark.parametrize("where", ["namespace label", "metadata.name", "path type",
                                   "backendRef kind", "allowedRoutes kind group",
                                   "selector label"])
def test_a_huge_value_is_rendered_within_bounds(where: str) -> None:
    # Found by the fuzz run (input 7:561563): a label holding a list of aliased lists cost 7
    # CPU-s in str(). Labels, kinds and messages now render a value a bounded amount.
    _Counted.shown = 0
    result = parse(WHERE[where](_wide()), source="wide.yaml")
    assert result is not None
    assert _Counted.shown <= 1000, _Counted.shown  # 1,000,000 before
