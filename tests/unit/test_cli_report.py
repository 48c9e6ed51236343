"""``scan``'s CI outputs, offline (issue 13): SARIF 2.1.0 (valid against the OASIS schema, one
result per finding at the offending route's ``file:line``), ``--baseline``, the what-if's
overlay (creation times from the live objects) and its rendering (added / changed / removed,
``--fail-on`` on what the change adds), ``explain`` naming the finding, ``version`` and
completion, and the ``--cluster`` usage errors. The live cluster itself is exercised in
``tests/integration/test_cli_cluster.py``; here the "live" objects are parsed dicts with the
timestamps an API server gives."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from gwwatch.cli import cluster, completion, main, render, report, sarif, version
from gwwatch.cli.explain import findings_served
from gwwatch.engine import ObjectRef, Policy, analyse, parse
from gwwatch.engine.model import Parsed
from gwwatch.engine.precedence import Request
from tests.controlplane.versions import pinned_versions
from tests.sarif import sarif_schema
from tests.unit import builders as b
from tests.unit.builders import starts, write

REPO = Path(__file__).resolve().parents[2]
HOST = "api.example.com"
GATEWAY = b.gateway(listeners=[b.listener("https", port=443, protocol="HTTPS",
                                          hostname="*.example.com", from_="All")])
OWNER = b.http_route("billing", "team-a", hostnames=[HOST], matches=[b.match("/")])
TAKER = b.http_route("dash", "team-b", hostnames=[HOST], matches=[b.match("/v1/charge")])
OTHER_TAKER = b.http_route("pay", "team-c", hostnames=[HOST], matches=[b.match("/v2/pay")])


def run(capsys: pytest.CaptureFixture[str], *args: str | Path) -> tuple[int, str, str]:
    code = main([*map(str, args)])
    out, err = capsys.readouterr()
    return code, out, err


def stamped(obj: dict[str, Any], n: int) -> dict[str, Any]:
    return {**obj, "metadata": {**obj["metadata"], "creationTimestamp": b.ts(n)}}


# --- SARIF -----------------------------------------------------------------------------------


class TestSarif:
    def test_valid_and_at_the_offending_routes_line(
            self, tmp_path: Path, capsys: pytest.CaptureFixture[str],
            monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.chdir(tmp_path)
        manifest = write(tmp_path / "m" / "routes.yaml", GATEWAY, stamped(OWNER, 1),
                         stamped(TAKER, 2), stamped(OTHER_TAKER, 3))
        code, out, _ = run(capsys, "scan", "--output", "sarif", "m")
        assert code == 1
        log = json.loads(out)
        jsonschema.validate(log, sarif_schema())
        assert log["version"] == "2.1.0"
        run0 = log["runs"][0]
        results = run0["results"]
        hijacks = [r for r in results if r["ruleId"] == "Hijack/HijacksTraffic"]
        lines = starts(manifest)
        by_route = {r["properties"]["route"]: r for r in hijacks}
        assert set(by_route) == {"HTTPRoute team-b/dash", "HTTPRoute team-c/pay"}
        for route, doc in (("HTTPRoute team-b/dash", 2), ("HTTPRoute team-c/pay", 3)):
            where = by_route[route]["locations"][0]["physicalLocation"]
            assert where["artifactLocation"]["uri"] == "m/routes.yaml"
            assert where["region"]["startLine"] == lines[doc]
            related = by_route[route]["relatedLocations"][0]["physicalLocation"]
            assert related["region"]["startLine"] == lines[1]  # the owner's route
            assert by_route[route]["level"] == "error"
        rules = run0["tool"]["driver"]["rules"]
        assert [r["id"] for r in rules] == list(dict.fromkeys(r["ruleId"] for r in results))
        for r in results:
            assert rules[r["ruleIndex"]]["id"] == r["ruleId"]
        # the fingerprint follows identity: two different hijacks, two fingerprints
        assert len({r["partialFingerprints"]["gwwatchFinding/v1"] for r in hijacks}) == 2

    @pytest.mark.parametrize(("severity", "level"), [
        ("critical", "error"), ("warning", "warning"), ("info", "note")])
    def test_levels(self, severity: str, level: str) -> None:
        assert sarif.LEVELS[severity] == level  # type: ignore[index]

    def test_levels_in_a_log(self, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        shared = b.http_route("billing", "team-a", hostnames=[HOST], created=b.ts(1),
                              matches=[b.match("/billing")])
        m = write(tmp_path / "m.yaml", GATEWAY, shared, stamped(TAKER, 2))
        _, out, _ = run(capsys, "scan", "--output", "sarif", "--fail-on", "never", m)
        results = json.loads(out)["runs"][0]["results"]
        levels = {(r["ruleId"], r["level"]) for r in results}
        assert ("SharedHostname/SharesHostname", "warning") in levels
        assert ("Posture/SharedOpenListener", "note") in levels

    def test_without_a_file_a_logical_location(self) -> None:
        graph = b.scan(GATEWAY, stamped(OWNER, 1), stamped(TAKER, 2))
        log = sarif.sarif(report.entries(graph.findings()), {})
        jsonschema.validate(log, sarif_schema())
        hijack = next(r for r in log["runs"][0]["results"] if r["ruleId"].startswith("Hijack"))
        assert "physicalLocation" not in hijack["locations"][0]
        assert hijack["locations"][0]["logicalLocations"][0]["fullyQualifiedName"] == (
            "HTTPRoute team-b/dash")

    def test_stdin_has_no_file(self) -> None:
        assert sarif.location_of("<stdin>:4") is None
        assert sarif.location_of("a b/c.yaml:12 (items[3])") == ("a b/c.yaml", 12)


# --- baseline --------------------------------------------------------------------------------


class TestBaseline:
    def test_only_new_findings_reported_and_failing(
            self, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        before = write(tmp_path / "before.yaml", GATEWAY, stamped(OWNER, 1), stamped(TAKER, 2))
        code, out, _ = run(capsys, "scan", "--output", "json", before)
        assert code == 1
        baseline = tmp_path / "baseline.json"
        baseline.write_text(out, encoding="utf-8")
        # same findings, new wording cannot matter: only identity does
        code, out, err = run(capsys, "scan", "--baseline", baseline, before)
        assert code == 0
        assert out.startswith("No findings.")
        assert "in the baseline" in err and str(baseline) in err
        after = write(tmp_path / "after.yaml", GATEWAY, stamped(OWNER, 1), stamped(TAKER, 2),
                      stamped(OTHER_TAKER, 3))
        code, out, _ = run(capsys, "scan", "--output", "json", "--baseline", baseline, after)
        assert code == 1
        reported = json.loads(out)["findings"]
        assert {(f["kind"], f["route"]["name"]) for f in reported
                if f["route"] is not None} == {("Hijack", "pay")}
        assert all(f["source"].startswith(f"{after}:") for f in reported)

    @pytest.mark.parametrize(("content", "said"), [
        pytest.param("not json", "not JSON", id="not-json"),
        pytest.param('{"routes": []}', 'no "findings" list', id="no-findings"),
        pytest.param('{"findings": [1]}', 'no "findings" list', id="findings-not-objects"),
    ])
    def test_bad_baseline_is_one_line(self, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                      content: str, said: str) -> None:
        m = write(tmp_path / "m.yaml", GATEWAY, OWNER)
        bad = tmp_path / "bad.json"
        bad.write_text(content, encoding="utf-8")
        code, out, err = run(capsys, "scan", "--baseline", bad, m)
        assert code == 2 and out == ""
        assert err.startswith(f"gwwatch: error: --baseline {bad}: {said}")
        assert len(err.splitlines()) == 1

    def test_missing_baseline(self, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        m = write(tmp_path / "m.yaml", GATEWAY, OWNER)
        code, _, err = run(capsys, "scan", "--baseline", tmp_path / "nope.json", m)
        assert code == 2 and "cannot read" in err

    def test_a_what_if_report_as_baseline_skips_its_removed(self, tmp_path: Path) -> None:
        graph = b.scan(GATEWAY, stamped(OWNER, 1), stamped(TAKER, 2))
        docs = render.findings_json(graph.findings())
        path = tmp_path / "what-if.json"
        path.write_text(json.dumps({"findings": [{**d, "change": "removed"} for d in docs]}))
        base = report.load_baseline(str(path))
        kept, dropped = base.split(report.entries(graph.findings()))
        assert dropped == 0 and len(kept) == len(docs)


# --- what-if ---------------------------------------------------------------------------------


def live(*objs: dict[str, Any]) -> cluster.Live:
    parsed: list[Parsed] = []
    created: dict[ObjectRef, str | None] = {}
    for obj in objs:
        p = parse(obj, source="live")
        assert p is not None
        parsed.append(p)
        created[cluster.ref_of(p)] = obj["metadata"].get("creationTimestamp")
    return cluster.Live(parsed, created)


NS = [b.namespace(n) for n in ("infra", "team-a", "team-b", "aaa-team")]


class TestWhatIf:
    def test_overlay_times(self) -> None:
        state = live(*(stamped(n, 0) for n in NS), stamped(GATEWAY, 0), stamped(OWNER, 5))
        owner_edit = {**OWNER, "spec": {**OWNER["spec"], "rules": [b.rule(b.match("/x"))]}}
        change = cluster.overlay([(owner_edit, "f.yaml:1"), (TAKER, "f.yaml:9")], state,
                                 "2030-01-01T00:00:00Z")
        times = {cluster.ref_of(p): getattr(p, "created", None) for p in change}
        assert times == {ObjectRef("HTTPRoute", "team-a", "billing"): b.ts(5),
                         ObjectRef("HTTPRoute", "team-b", "dash"): "2030-01-01T00:00:00Z"}

    def test_ownership_follows_live_times_not_names(self) -> None:
        """The offender's namespace sorts first; files alone would make it the owner."""
        taker = b.http_route("dash", "aaa-team", hostnames=[HOST], matches=[b.match("/v1")])
        files_only = b.scan(GATEWAY, OWNER, taker)
        assert not [f for f in files_only.findings() if f.severity == "critical"]
        state = live(*(stamped(n, 0) for n in NS), stamped(GATEWAY, 0), stamped(OWNER, 5))
        graph = analyse(state.objects, Policy())
        diff = graph.what_if(upserts=cluster.overlay(
            [(OWNER, "f.yaml:1"), (taker, "f.yaml:20")], state, cluster.now()))
        assert [(f.kind, f.severity, f.route) for f in diff.added if f.kind == "Hijack"] == [
            ("Hijack", "critical", ObjectRef("HTTPRoute", "aaa-team", "dash"))]

    def test_rendering_marks_added_changed_removed(self) -> None:
        state = live(*(stamped(n, 0) for n in NS), stamped(GATEWAY, 0), stamped(OWNER, 5),
                     stamped(TAKER, 6))
        graph = analyse(state.objects, Policy())
        # The taker moves off the owner's paths (Hijack removed, SharedHostname added) and a
        # new route hijacks.
        moved = b.http_route("dash", "team-b", hostnames=[HOST], matches=[b.match("/dash")])
        owner_narrow = b.http_route("billing", "team-a", hostnames=[HOST],
                                    matches=[b.match("/v1")])
        files = [(owner_narrow, "c.yaml:1"), (moved, "c.yaml:20"),
                 (OTHER_TAKER, "c.yaml:40")]
        change = cluster.overlay(files, state, cluster.now())
        diff = graph.what_if(upserts=change)
        entries = report.entries(diff=diff)
        changes = {(e.change, e.finding.kind, e.finding.route.name if e.finding.route else "")
                   for e in entries}
        assert ("removed", "Hijack", "dash") in changes
        assert ("added", "SharedHostname", "dash") in changes
        assert report.failing(entries, "warning")  # the SharedHostname warning is new
        assert not report.failing([e for e in entries if e.change == "removed"], "info")
        graph.apply(upserts=change)
        refs = [cluster.ref_of(p) for p in change]
        sources = {r: w for r, (_, w) in zip(refs, files, strict=True)}
        rows = [(e.finding, e.change or "", e.previous) for e in entries]
        text = render.what_if_text(rows, graph, sources, refs, [refs[2]], [])
        assert "(1 new, 2 replacing live objects)" in text
        assert any(line.startswith("- removed  ") and "Hijack" in line
                   for line in text.splitlines())
        assert any(line.startswith("+ added    ") and "SharedHostname" in line
                   for line in text.splitlines())
        assert "(at c.yaml:20)" in text
        doc = render.what_if_json(rows, graph, sources, refs, [refs[2]], [])
        assert {f["change"] for f in doc["findings"]} >= {"added", "removed"}
        assert {(o["name"], o["new"]) for o in doc["whatIf"]["objects"]} == {
            ("billing", False), ("dash", False), ("pay", True)}
        assert [r["name"] for r in doc["routes"]] == ["billing", "dash", "pay"]

    def test_a_severity_that_rises_fails(self) -> None:
        f = b.scan(GATEWAY, stamped(OWNER, 1), stamped(TAKER, 2)).findings()
        hijack = next(x for x in f if x.kind == "Hijack")
        from dataclasses import replace
        was = replace(hijack, severity="warning")
        assert report.Entry(hijack, report.CHANGED, was).worse
        assert not report.Entry(was, report.CHANGED, hijack).worse
        assert report.failing([report.Entry(hijack, report.CHANGED, was)], "critical")


# --- explain names the finding ---------------------------------------------------------------


def test_explain_names_the_finding_of_the_winner() -> None:
    graph = b.scan(GATEWAY, stamped(OWNER, 1), stamped(TAKER, 2))
    gw = ObjectRef("Gateway", b.GW_NS, b.GW_NAME)
    taken = graph.explain(gateway=gw, port=443, protocol="http",
                          request=Request(host=HOST, path="/v1/charge/1"))
    named = findings_served(graph, taken)
    assert [(f.kind, f.route) for f in named] == [
        ("Hijack", ObjectRef("HTTPRoute", "team-b", "dash"))]
    text = render.explain_text(taken, Request(host=HOST, path="/v1/charge/1"), named)
    assert "finding: the winning route is the offender of [critical] Hijack/HijacksTraffic" in text
    assert render.explain_json(taken, named)["findings"][0]["kind"] == "Hijack"
    kept = graph.explain(gateway=gw, port=443, protocol="http",
                         request=Request(host=HOST, path="/other"))
    assert findings_served(graph, kept) == []  # the owner serves what is its own
    assert "finding:" not in render.explain_text(kept, Request(host=HOST, path="/other"))


# --- --cluster usage errors ------------------------------------------------------------------


@pytest.mark.parametrize("argv", [
    pytest.param(["scan", "--kubeconfig", "kc", "m.yaml"], id="kubeconfig-without-cluster"),
    pytest.param(["explain", "--context", "x", "--gateway", "a/b", "m.yaml"],
                 id="context-without-cluster"),
    pytest.param(["scan", "--ownership-configmap", "gwwatch-system/owners", "m.yaml"],
                 id="configmap-without-cluster"),
])
def test_cluster_options_need_cluster(argv: list[str],
                                      capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, *argv)
    assert code == 2 and out == ""
    assert err.endswith("reads the live cluster: add --cluster\n")


@pytest.mark.parametrize(("extra", "said"), [
    pytest.param(["--ownership", "o.yaml", "--ownership-configmap", "a/b"],
                 "--ownership and --ownership-configmap: give one of them", id="both"),
    pytest.param(["--ownership-configmap", "owners"],
                 "--ownership-configmap 'owners': expected NAMESPACE/NAME", id="no-namespace"),
])
def test_ownership_configmap_usage(extra: list[str], said: str,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "scan", "--cluster", *extra)
    assert code == 2 and out == ""
    assert err == f"gwwatch: error: {said}\n"


def test_cluster_unreachable_is_one_line(tmp_path: Path) -> None:
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    config = tmp_path / "kc.yaml"
    config.write_text(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster: {server: "
        f"'https://127.0.0.1:{port}', insecure-skip-tls-verify: true}}\nusers:\n- name: u\n"
        "  user: {token: t}\ncontexts:\n- name: x\n  context: {cluster: c, user: u}\n"
        "current-context: x\n", encoding="utf-8")
    for args in (["scan", "--cluster", "--kubeconfig", str(config)],
                 ["explain", "--cluster", "--kubeconfig", str(config), "--gateway", "a/b"],
                 ["scan", "--cluster", "--kubeconfig", str(tmp_path / "missing")],
                 ["scan", "--cluster", "--kubeconfig", str(config), "--context", "nope"]):
        done = subprocess.run([sys.executable, "-m", "gwwatch", *args], capture_output=True,
                              text=True, timeout=60, cwd=REPO, check=False,
                              env={"PATH": "/usr/bin:/bin", "HOME": "/nonexistent"})
        assert done.returncode == 2, (args, done.stderr)
        assert done.stdout == ""
        assert len(done.stderr.splitlines()) == 1, done.stderr
    assert f"API server https://127.0.0.1:{port}" in subprocess.run(
        [sys.executable, "-m", "gwwatch", "scan", "--cluster", "--kubeconfig", str(config)],
        capture_output=True, text=True, timeout=60, cwd=REPO, check=False,
        env={"PATH": "/usr/bin:/bin", "HOME": "/nonexistent"}).stderr


# --- version, completion, plugin -------------------------------------------------------------


def test_version_names_the_build(capsys: pytest.CaptureFixture[str]) -> None:
    # the release the test control plane installs
    assert pinned_versions().gateway_api == version.GATEWAY_API
    code, out, _ = run(capsys, "version", "--output", "json")
    info = json.loads(out)
    assert code == 0
    assert info["gatewayAPI"]["version"] == version.GATEWAY_API
    assert info["gatewayAPI"]["kinds"]["HTTPRoute"][0] == "v1"
    assert info["python"].endswith(".".join(map(str, sys.version_info[:3])))
    head = subprocess.run(["git", "-C", str(REPO), "rev-parse", "HEAD"], capture_output=True,
                          text=True, check=False).stdout.strip()
    if head:  # a checkout (CI clones one)
        assert info["gitCommit"] == head
    code, out, _ = run(capsys, "version")
    assert out.splitlines()[0] == f"gwwatch {info['version']}"


def bash_complete(words: list[str]) -> list[str]:
    script = main_output(["completion", "bash"])
    probe = (f"{script}\nCOMP_WORDS=({' '.join(repr(w) for w in words)}); "
             f"COMP_CWORD={len(words) - 1}; _gwwatch; printf '%s\\n' \"${{COMPREPLY[@]}}\"")
    done = subprocess.run(["bash", "-c", probe], capture_output=True, text=True, timeout=30,
                          check=True)
    return done.stdout.split()


def main_output(argv: list[str]) -> str:
    done = subprocess.run([sys.executable, "-m", "gwwatch", *argv], capture_output=True,
                          text=True, timeout=60, cwd=REPO, check=True)
    return done.stdout


@pytest.mark.parametrize(("words", "expected"), [
    (["gwwatch", "ex"], ["explain"]),
    (["gwwatch", "scan", "--output", ""], ["text", "json", "sarif"]),
    (["gwwatch", "scan", "--fail-on", "w"], ["warning"]),
    (["kubectl-gwwatch", "scan", "--clu"], ["--cluster"]),
    (["gwwatch", "explain", "--gr"], ["--grpc"]),
    (["gwwatch", "completion", ""], ["bash", "zsh"]),
    (["gwwatch", "run", "--log-format", ""], ["auto", "json", "console"]),
])
def test_bash_completion(words: list[str], expected: list[str]) -> None:
    assert bash_complete(words) == expected


def test_bash_completion_of_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "routes.yaml").write_text("")
    assert bash_complete(["gwwatch", "scan", "ro"]) == ["routes.yaml"]
    assert bash_complete(["gwwatch", "scan", "--baseline", "ro"]) == ["routes.yaml"]


@pytest.mark.parametrize(("words", "expected"), [
    (["ex"], (["explain"], completion.NO_FILES)),
    (["scan", "--fail-on", ""], (["critical", "warning", "info", "never"],
                                 completion.NO_FILES)),
    (["scan", "--baseline", "x"], ([], completion.FILES)),
    (["scan", "--tenant-label", ""], ([], completion.NO_FILES)),
    (["explain", "--gateway", "infra/gw", "--t"], (["--tenant-label", "--tls", "--tcp"],
                                                   completion.NO_FILES)),
    (["explain", ""], ([], completion.FILES)),
    (["completion", "z"], (["zsh"], completion.NO_FILES)),
])
def test_kubectl_plugin_completion(words: list[str],
                                   expected: tuple[list[str], int]) -> None:
    from gwwatch.cli import build_parser
    assert completion.complete(build_parser(), words) == expected


def test_completion_knows_every_flag() -> None:
    """Written from the parser: every option of every command is in both scripts."""
    from gwwatch.cli import build_parser
    parser = build_parser()
    bash_script = completion.bash(parser)
    zsh_script = completion.zsh(parser)
    for command in completion.commands(parser):
        for option in command.options:
            for flag in option.flags:
                assert flag in bash_script and flag in zsh_script, (command.name, flag)


def test_progress_on_stderr_for_big_clusters() -> None:
    import io

    from gwwatch.runtime.resources import NAMESPACES
    small, big = io.StringIO(), io.StringIO()
    for stream, count in ((small, 1999), (big, 10_000)):
        progress = cluster.Progress(stream)
        progress.page(NAMESPACES, count)  # not a terminal: no counter
        progress.listed(NAMESPACES, count, 3.04)
        progress.analysing()
    assert small.getvalue() == ""
    assert big.getvalue() == ("\rgwwatch: listed 10000 Namespaces (v1) in 3.0 s\n"
                              "gwwatch: analysing 10000 objects\n")


def test_kubectl_plugin_entry_point() -> None:
    import tomllib
    scripts = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts["kubectl-gwwatch"] == "gwwatch.cli:kubectl_main"
    done = subprocess.run([sys.executable, "-c", "import sys; from gwwatch.cli import "
                           "kubectl_main; sys.argv = ['kubectl-gwwatch', 'scan', '--nope']; "
                           "sys.exit(kubectl_main())"], capture_output=True, text=True,
                          timeout=60, cwd=REPO, check=False)
    assert done.returncode == 2
    assert done.stderr.startswith("usage: kubectl gwwatch scan ")
