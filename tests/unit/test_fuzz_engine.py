"""Bounded fuzzing of the engine's entry points (issue 11, item 8): mutated objects of every
kind the engine reads go through ``parse``, ``ConflictGraph.what_if``/``upsert``/``delete``
and the queries; nothing may raise, ``what_if`` leaves the graph as it was, and putting the
seed objects back gives back the seed findings.

The mutations are those of ``tests/mutate.py`` (drop, replace, duplicate, move fields; wrong
types; huge, deep and wide values; unicode, lone surrogates, big integers; regular
expressions), driven by a hypothesis ``Random`` so a failure shrinks to few edits. The regular
expressions here are ones a backtracking engine matches at once: time per input is measured by
the long offline run (``python -m bench.fuzz``, which adds the backtracking patterns and
reports inputs over 1 s), never asserted here. Under a minute in all.
"""

from __future__ import annotations

import random

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gwwatch.engine import parse
from gwwatch.engine.model import (
    Gateway,
    GatewayClass,
    Invalid,
    ListenerSet,
    NamespaceInfo,
    Route,
)
from tests import mutate
from tests.needs import in_ci

SEEDS = mutate.seeds()
_SETTINGS = {
    "deadline": None,  # time per input belongs to the offline run, not to an assertion
    "derandomize": in_ci(),  # the same inputs on every CI run; new ones on a laptop
    "suppress_health_check": [HealthCheck.too_slow, HealthCheck.data_too_large],
    "database": None,
}


def test_the_seeds_cover_every_kind_the_engine_reads() -> None:
    from gwwatch.engine.vocabulary import READABLE_API_VERSIONS

    kinds = {obj["kind"] for obj in SEEDS}
    assert kinds >= {kind for kind, _ in READABLE_API_VERSIONS}
    parsed = [parse(obj) for obj in SEEDS]
    assert not [p for p in parsed if p is None or isinstance(p, Invalid)], parsed


def test_the_seed_cluster_has_a_hijack_to_lose() -> None:
    # Mutations must be able to change findings, not only to break objects.
    harness = mutate.Harness()
    assert any(f.kind == "Hijack" for f in harness.findings)


@settings(max_examples=1000, **_SETTINGS)
@given(st.sampled_from(SEEDS), st.randoms(use_true_random=False))
def test_parse_never_raises(seed: dict[str, object], rng: random.Random) -> None:
    result = parse(mutate.mutate(seed, rng), source="fuzz.yaml:1")
    assert result is None or isinstance(result, Gateway | GatewayClass | ListenerSet | Route |
                                        NamespaceInfo | Invalid)
    if isinstance(result, Invalid):
        assert result.reason and result.source == "fuzz.yaml:1"


_HARNESS: list[mutate.Harness] = []


@settings(max_examples=500, **_SETTINGS)
@given(st.sampled_from(SEEDS), st.randoms(use_true_random=False))
def test_the_graph_never_raises_and_what_if_changes_nothing(
        seed: dict[str, object], rng: random.Random) -> None:
    if not _HARNESS:  # one seed graph for every example: each puts the seeds back
        _HARNESS.append(mutate.Harness())
    harness = _HARNESS[0]
    try:
        harness.exercise(mutate.mutate(seed, rng), rng)
    except BaseException:
        _HARNESS.clear()  # the next example starts from a fresh graph
        raise
