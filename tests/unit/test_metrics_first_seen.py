"""gwwatch_finding_first_seen_timestamp_seconds: when this process first saw each finding, one
series beside each gwwatch_finding_info series (same labels, same cap), kept across snapshots
while the finding lasts and forgotten when it clears. The dashboards show it as "First seen"."""

from __future__ import annotations

from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from gwwatch.engine import Finding, ObjectRef
from gwwatch.metrics import Metrics, Snapshot

FIRST = "gwwatch_finding_first_seen_timestamp_seconds"
INFO = "gwwatch_finding_info"


def hijack(host: str, severity: str = "critical") -> Finding:
    return Finding(kind="Hijack", reason="HijacksTraffic", severity=severity,  # type: ignore[arg-type]
                   hostname=host, gateway=ObjectRef("Gateway", "infra", "gw"), listener="https",
                   route=ObjectRef("HTTPRoute", "b", "thief"),
                   other=ObjectRef("HTTPRoute", "a", "owner"), message="m",
                   tenant="b", other_tenant="a")


def scrape(m: Metrics) -> dict[str, dict[str, float]]:
    """family -> {hostname: value}"""
    out: dict[str, dict[str, float]] = {FIRST: {}, INFO: {}}
    for fam in text_string_to_metric_families(generate_latest(m.registry).decode()):
        for s in fam.samples:
            if s.name in out:
                out[s.name][s.labels["hostname"]] = s.value
    return out


def test_first_seen_is_kept_while_the_finding_lasts_and_forgotten_after() -> None:
    m = Metrics(max_finding_series=10)
    m.publish(Snapshot(findings=(hijack("a.example.com"),), built_at=1000.0))
    assert scrape(m)[FIRST] == {"a.example.com": 1000.0}

    m.publish(Snapshot(findings=(hijack("a.example.com"), hijack("b.example.com")),
                       built_at=2000.0))
    assert scrape(m)[FIRST] == {"a.example.com": 1000.0, "b.example.com": 2000.0}

    m.publish(Snapshot(findings=(hijack("b.example.com"),), built_at=3000.0))
    assert scrape(m)[FIRST] == {"b.example.com": 2000.0}
    # a finding that clears and comes back is new again
    m.publish(Snapshot(findings=(hijack("a.example.com"), hijack("b.example.com")),
                       built_at=4000.0))
    assert scrape(m)[FIRST] == {"a.example.com": 4000.0, "b.example.com": 2000.0}


def test_one_first_seen_series_per_finding_series_under_the_same_cap() -> None:
    m = Metrics(max_finding_series=3)
    findings = tuple(hijack(f"h{i}.example.com", "warning" if i % 2 else "critical")
                     for i in range(7))
    m.publish(Snapshot(findings=findings, built_at=10.0))
    got = scrape(m)
    assert len(got[INFO]) == 3
    assert set(got[FIRST]) == set(got[INFO])
