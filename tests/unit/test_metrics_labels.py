"""Label values longer than Prometheus' practical 253-character cut stay unique and are counted.

A namespace/name reference can be 63 + 1 + 253 characters: two routes whose references share
their first 253 characters used to share one ``gwwatch_finding_info`` series (the second one
vanished from every alert) while ``gwwatch_findings_dropped`` said 0."""

from __future__ import annotations

from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from gwwatch.engine import Finding, ObjectRef
from gwwatch.metrics import Metrics, Snapshot

INFO = "gwwatch_finding_info"
CUT = "gwwatch_label_values_cut"


def hijack(thief: str) -> Finding:
    return Finding(kind="Hijack", reason="HijacksTraffic", severity="critical",  # type: ignore[arg-type]
                   hostname="api.example.com", gateway=ObjectRef("Gateway", "infra", "gw"),
                   listener="https", route=ObjectRef("HTTPRoute", "t" * 63, thief),
                   other=ObjectRef("HTTPRoute", "a", "owner"), message="m",
                   tenant="t", other_tenant="a")


def samples(m: Metrics, name: str) -> list[dict[str, str]]:
    text = generate_latest(m.registry).decode()
    return [dict(s.labels, value=str(s.value))
            for fam in text_string_to_metric_families(text) for s in fam.samples
            if s.name == name]


def test_two_findings_sharing_a_253_character_prefix_keep_two_series() -> None:
    common = "x" * 240
    a, b = hijack(common + "-a" + "y" * 10), hijack(common + "-b" + "y" * 10)
    m = Metrics(max_finding_series=10)
    m.publish(Snapshot(findings=(a, b), built_at=1.0))
    info = samples(m, INFO)
    assert len(info) == 2
    routes = {s["route"] for s in info}
    assert len(routes) == 2
    assert all(len(r) <= 253 for r in routes)
    # the cut value still starts like the name, so a reader can find the route
    assert all(r.startswith("t" * 63 + "/" + common[:150]) for r in routes)
    cut = {s["metric"]: float(s["value"]) for s in samples(m, CUT)}
    assert cut["gwwatch_finding_info"] == 2


def test_short_values_are_not_touched_and_nothing_is_counted() -> None:
    m = Metrics(max_finding_series=10)
    m.publish(Snapshot(findings=(hijack("thief"),), built_at=1.0))
    info = samples(m, INFO)
    assert [s["route"] for s in info] == ["t" * 63 + "/thief"]
    cut = {s["metric"]: float(s["value"]) for s in samples(m, CUT)}
    assert cut == {"gwwatch_finding_info": 0.0, "gwwatch_attachments": 0.0}


def test_cut_value_is_stable_and_differs_for_a_different_tail() -> None:
    from gwwatch.metrics import label_value

    long = "n" * 300
    assert label_value(long) == label_value(long)
    assert label_value(long) != label_value(long[:-1] + "m")
    assert len(label_value(long)) == 253
    assert label_value("short") == "short"
