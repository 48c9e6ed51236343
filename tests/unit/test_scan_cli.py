"""``gwwatch scan PATH...``: exit codes, input handling and the JSON contract (issue 2).

Exit 0: no finding at or above ``--fail-on`` (default ``critical``); 1: there are; 2: usage
error or unreadable input (a YAML syntax error names the file and line, and nothing is printed
on stdout). Files or directories (recursive ``*.yaml``, ``*.yml``, ``*.json``), multi-document
YAML, ``kind: List``; unrelated kinds are ignored. ``--output json`` keeps the keys
``findings`` / ``routes`` / ``invalid`` others script against.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from gwwatch.cli import main
from tests.unit import builders as b
from tests.unit.builders import starts, write

REPO = Path(__file__).resolve().parents[2]
HOST = "api.example.com"
GATEWAY = b.gateway(listeners=[b.listener("https", port=443, protocol="HTTPS",
                                          hostname="*.example.com")])
OWNER = b.http_route("billing", "team-a", hostnames=[HOST], created=b.ts(1),
                     matches=[b.match("/")])
TAKER = b.http_route("dash", "team-b", hostnames=[HOST], created=b.ts(2),
                     matches=[b.match("/v1/charge")])
DISJOINT_OWNER = b.http_route("billing", "team-a", hostnames=[HOST], created=b.ts(1),
                              matches=[b.match("/billing")])  # only a SharedHostname warning
QUIET = b.gateway(listeners=[b.listener(hostname="*.example.com", from_="Same")])
QUIET_ROUTE = b.http_route("site", "infra", hostnames=["www.example.com"])


def scan(capsys: pytest.CaptureFixture[str], *args: str | Path) -> tuple[int, str, str]:
    code = main(["scan", *map(str, args)])
    out, err = capsys.readouterr()
    return code, out, err


def scan_json(capsys: pytest.CaptureFixture[str], *args: str | Path) -> tuple[int, Any]:
    code, out, _ = scan(capsys, "--output", "json", *args)
    return code, json.loads(out)


class TestExitCodes:
    def test_clean(self, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        code, out, err = scan(capsys, write(tmp_path / "m.yaml", QUIET, QUIET_ROUTE))
        assert code == 0
        assert "No findings" in out
        assert err == ""

    def test_critical_fails_by_default(self, tmp_path: Path,
                                       capsys: pytest.CaptureFixture[str]) -> None:
        code, out, _ = scan(capsys, write(tmp_path / "m.yaml", GATEWAY, OWNER, TAKER))
        assert code == 1
        assert "CRITICAL" in out and "Hijack" in out

    @pytest.mark.parametrize(("objs", "fail_on", "code"), [
        pytest.param((GATEWAY, OWNER, TAKER), "critical", 1, id="critical-critical"),
        pytest.param((GATEWAY, OWNER, TAKER), "never", 0, id="critical-never"),
        pytest.param((GATEWAY, OWNER, TAKER), "info", 1, id="critical-info"),
        pytest.param((GATEWAY, DISJOINT_OWNER, TAKER), "critical", 0, id="warning-critical"),
        pytest.param((GATEWAY, DISJOINT_OWNER, TAKER), "warning", 1, id="warning-warning"),
        pytest.param((b.gateway(listeners=[b.listener(
            hostname="*.example.com", from_="Selector", selector={"matchLabels": {"gw": "1"}})]),),
            "warning", 0, id="info-warning"),
        pytest.param((b.gateway(listeners=[b.listener(
            hostname="*.example.com", from_="Selector", selector={"matchLabels": {"gw": "1"}})]),),
            "info", 1, id="info-info"),
    ])
    def test_fail_on(self, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                     objs: tuple[object, ...], fail_on: str, code: int) -> None:
        path = write(tmp_path / "m.yaml", *objs)
        assert scan(capsys, "--fail-on", fail_on, path)[0] == code

    def test_missing_path(self, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        code, out, err = scan(capsys, tmp_path / "nope.yaml")
        assert code == 2
        assert out == ""
        assert "nope.yaml" in err

    def test_no_paths_and_no_cluster(self, capsys: pytest.CaptureFixture[str]) -> None:
        code, out, err = scan(capsys)
        assert code == 2
        assert out == ""
        assert err == ("gwwatch: error: nothing to read: give manifest PATHs (or - for standard "
                       "input), or --cluster to read the live cluster\n")

    @pytest.mark.parametrize("argv", [
        pytest.param(["scan", "--fail-on", "sometimes", "x.yaml"], id="bad-fail-on"),
        pytest.param(["scan", "--output", "xml", "x.yaml"], id="bad-output"),
        pytest.param([], id="no-command"),
    ])
    def test_usage_errors(self, argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
        with pytest.raises(SystemExit) as exc:
            main(argv)
        assert exc.value.code == 2
        assert capsys.readouterr().out == ""


class TestBadInput:
    def test_yaml_syntax_error_names_file_and_line(
            self, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        good = write(tmp_path / "a-good.yaml", GATEWAY, OWNER, TAKER)
        bad = tmp_path / "b-bad.yaml"
        bad.write_text("apiVersion: v1\nkind: Namespace\nmetadata: {name: [x\n", encoding="utf-8")
        code, out, err = scan(capsys, good, bad)
        assert code == 2
        assert out == ""  # nothing half-printed, not even the good file's findings
        assert f"{bad}:3" in err or f"{bad}:4" in err

    def test_yaml_error_in_later_document(self, tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
        bad = tmp_path / "m.yaml"
        bad.write_text("apiVersion: v1\nkind: Namespace\nmetadata: {name: a}\n---\n"
                       "kind: Namespace\n  bad: indent\n", encoding="utf-8")
        code, out, err = scan(capsys, bad)
        assert (code, out) == (2, "")
        assert f"{bad}:6" in err

    def test_json_syntax_error(self, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        bad = tmp_path / "m.json"
        bad.write_text('{\n  "kind": "Namespace",\n  "metadata": {\n}}}\n', encoding="utf-8")
        code, out, err = scan(capsys, bad)
        assert (code, out) == (2, "")
        assert f"{bad}:4" in err

    def test_malformed_object_is_reported_not_fatal(
            self, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        broken = b.http_route("broken", "team-c", hostnames=["not_a_hostname"])
        path = write(tmp_path / "m.yaml", GATEWAY, OWNER, TAKER, broken)
        code, doc = scan_json(capsys, path)
        assert code == 1
        (inv,) = doc["invalid"]
        assert (inv["kind"], inv["namespace"], inv["name"]) == ("HTTPRoute", "team-c", "broken")
        assert "hostname" in inv["reason"]
        assert inv["source"].startswith(f"{path}:")
        assert [f["kind"] for f in doc["findings"]].count("Hijack") == 1

    def test_every_malformed_document_is_reported(
            self, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        """Documents nothing names (not a mapping, no metadata.name) are reported one by one."""
        nameless = {"apiVersion": b.V1, "kind": "HTTPRoute", "metadata": {"namespace": "a"},
                    "spec": {}}
        path = write(tmp_path / "m.yaml", ["a", "list"], "a string", nameless, nameless,
                     GATEWAY)
        code, doc = scan_json(capsys, path)
        assert code == 0
        sources = {i["source"] for i in doc["invalid"]}
        assert len(doc["invalid"]) == len(sources) == 4
        assert all(src.startswith(f"{path}:") for src in sources)
        assert all(i["reason"] for i in doc["invalid"])

    def test_source_points_at_the_document(self, tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
        path = tmp_path / "m.yaml"
        path.write_text("# comment\napiVersion: v1\nkind: Namespace\nmetadata: {name: a}\n---\n"
                        "apiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\n"
                        "metadata: {name: r, namespace: a}\nspec: 7\n", encoding="utf-8")
        _, doc = scan_json(capsys, path)
        (inv,) = doc["invalid"]
        assert inv["source"] == f"{path}:6"

    def test_bad_ownership_file(self, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        own = tmp_path / "owners.yaml"
        own.write_text("team-a: api.example.com\n", encoding="utf-8")
        code, out, err = scan(capsys, "--ownership", own, write(tmp_path / "m.yaml", GATEWAY))
        assert (code, out) == (2, "")
        assert "owners.yaml" in err


class TestInputs:
    def test_kind_list(self, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        lst = {"apiVersion": "v1", "kind": "List", "items": [GATEWAY, OWNER, TAKER]}
        code, doc = scan_json(capsys, write(tmp_path / "list.yaml", lst))
        assert code == 1
        assert {r["name"] for r in doc["routes"]} == {"billing", "dash"}

    def test_directories_recursive(self, tmp_path: Path,
                                   capsys: pytest.CaptureFixture[str]) -> None:
        write(tmp_path / "gw.yaml", GATEWAY)
        write(tmp_path / "teams" / "a" / "route.yml", OWNER)
        (tmp_path / "teams" / "b").mkdir(parents=True)
        (tmp_path / "teams" / "b" / "route.json").write_text(json.dumps(TAKER),
                                                             encoding="utf-8")
        (tmp_path / "teams" / "notes.txt").write_text("not: [yaml", encoding="utf-8")
        code, doc = scan_json(capsys, tmp_path)
        assert code == 1
        (hijack,) = [f for f in doc["findings"] if f["kind"] == "Hijack"]
        assert hijack["route"]["name"] == "dash"

    def test_several_paths(self, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        gw = write(tmp_path / "gw.yaml", GATEWAY)
        routes = write(tmp_path / "routes" / "r.yaml", OWNER, TAKER)
        assert scan(capsys, gw, routes.parent)[0] == 1

    def test_unrelated_kinds_ignored(self, tmp_path: Path,
                                     capsys: pytest.CaptureFixture[str]) -> None:
        others = [
            {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"},
             "data": {"x": "y"}},
            {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"},
             "spec": "whatever"},
            {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s"}},
        ]
        code, doc = scan_json(capsys, write(tmp_path / "m.yaml", QUIET, QUIET_ROUTE, *others))
        assert code == 0
        assert doc["invalid"] == []
        assert [r["name"] for r in doc["routes"]] == ["site"]

    def test_empty_documents(self, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        """Nothing to analyse is an error: a CI job pointed at the wrong path must not pass."""
        path = tmp_path / "m.yaml"
        path.write_text("---\n---\n# nothing\n", encoding="utf-8")
        code, out, err = scan(capsys, path)
        assert (code, out) == (2, "")
        assert err == ("gwwatch: error: no Gateway API object (Gateway, ListenerSet or route) "
                       f"in {path}\n")


class TestOptions:
    def test_tenant_label(self, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        label = {"example.io/tenant": "acme"}
        path = write(tmp_path / "m.yaml", GATEWAY, b.namespace("team-a", labels=label),
                     b.namespace("team-b", labels=label), OWNER, TAKER)
        assert scan(capsys, path)[0] == 1
        assert scan(capsys, "--tenant-label", "example.io/tenant", path)[0] == 0

    def test_default_tenant_label_and_none(self, tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
        """Capsule's label groups namespaces by default; ``--tenant-label ''`` turns it off."""
        label = {"capsule.clastix.io/tenant": "acme"}
        path = write(tmp_path / "m.yaml", GATEWAY, b.namespace("team-a", labels=label),
                     b.namespace("team-b", labels=label), OWNER, TAKER)
        assert scan(capsys, path)[0] == 0
        assert scan(capsys, "--tenant-label", "", path)[0] == 1

    def test_intra_tenant_severity(self, tmp_path: Path,
                                   capsys: pytest.CaptureFixture[str]) -> None:
        """A Hijack inside one tenant is a warning by default, info when asked."""
        label = {"capsule.clastix.io/tenant": "acme"}
        path = write(tmp_path / "m.yaml", GATEWAY, b.namespace("team-a", labels=label),
                     b.namespace("team-b", labels=label), OWNER, TAKER)
        assert scan(capsys, "--fail-on", "warning", path)[0] == 1
        assert scan(capsys, "--fail-on", "warning", "--intra-tenant-severity", "info",
                    path)[0] == 0
        assert scan(capsys, "--fail-on", "info", "--intra-tenant-severity", "info",
                    path)[0] == 1

    def test_ownership_file_and_annotation_trust(
            self, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        """team-b's annotation claims the hostname team-a's older route serves: a claim adds,
        never subtracts (issue 11), so team-b's hijack still fails the scan, as with the
        platform's file or with annotations distrusted."""
        path = write(tmp_path / "m.yaml", GATEWAY, b.namespace("team-b", hostnames=HOST),
                     OWNER, TAKER)
        own = tmp_path / "owners.yaml"
        own.write_text(f"team-a: [{HOST}]\n", encoding="utf-8")
        assert scan(capsys, path)[0] == 1
        assert scan(capsys, "--ownership", own, path)[0] == 1
        assert scan(capsys, "--no-trust-annotations", path)[0] == 1

    def test_a_contested_hostname_still_notes_the_name_order(
            self, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        """Manifests without creationTimestamp: "oldest" follows names. A claim that contests
        the oldest route does not decide alone, so the note that names decide is still due."""
        owner = b.http_route("billing", "team-a", hostnames=[HOST], matches=[b.match("/")])
        taker = b.http_route("dash", "team-b", hostnames=[HOST],
                             matches=[b.match("/v1/charge")])
        path = write(tmp_path / "m.yaml", GATEWAY, b.namespace("team-b", hostnames=HOST),
                     owner, taker)
        code, _, err = scan(capsys, path)
        assert code == 1
        assert "without creationTimestamp" in err
        own = tmp_path / "owners.yaml"
        own.write_text(f"team-a: [{HOST}]\n", encoding="utf-8")
        assert "without creationTimestamp" not in scan(capsys, "--ownership", own, path)[2]


class TestJSONContract:
    def test_shape(self, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        refused = b.http_route("lost", "team-c", parents=[b.parent(section="nope")])
        path = write(tmp_path / "m.yaml", GATEWAY, OWNER, TAKER, refused)
        code, doc = scan_json(capsys, path)
        assert code == 1
        assert {"findings", "routes", "invalid"} <= set(doc)
        finding_keys = {"kind", "severity", "hostname", "gateway", "listener", "route", "other",
                        "message"}
        for f in doc["findings"]:
            assert finding_keys <= set(f)
            assert f["kind"] in ("Hijack", "Shadowed", "SharedHostname", "Posture")
            assert f["severity"] in ("critical", "warning", "info")
            for key in ("route", "other"):
                assert f[key] is None or set(f[key]) >= {"kind", "namespace", "name"}
            assert f["gateway"] is None or set(f["gateway"]) >= {"namespace", "name"}
        (hijack,) = [f for f in doc["findings"] if f["kind"] == "Hijack"]
        assert hijack["severity"] == "critical"
        assert hijack["hostname"] == HOST
        assert hijack["gateway"] == {"namespace": "infra", "name": "gw"}
        assert hijack["listener"] == "https"
        assert hijack["route"] == {"kind": "HTTPRoute", "namespace": "team-b", "name": "dash"}
        assert hijack["other"] == {"kind": "HTTPRoute", "namespace": "team-a", "name": "billing"}
        assert "PathPrefix /v1/charge" in hijack["message"]
        routes = {(r["namespace"], r["name"]): r for r in doc["routes"]}
        for r in doc["routes"]:
            assert {"kind", "namespace", "name", "parents"} <= set(r)
            for p in r["parents"]:
                assert {"gateway", "listener", "accepted", "reason"} <= set(p)
                assert set(p["gateway"]) >= {"namespace", "name"}
                assert isinstance(p["accepted"], bool)
        (ok,) = routes[("team-a", "billing")]["parents"]
        assert (ok["gateway"], ok["listener"], ok["accepted"], ok["reason"]) == (
            {"namespace": "infra", "name": "gw"}, None, True, "Accepted")
        (no,) = routes[("team-c", "lost")]["parents"]
        assert (no["listener"], no["accepted"], no["reason"]) == ("nope", False,
                                                                  "NoMatchingParent")
        assert doc["invalid"] == []

    def test_posture_has_no_routes(self, tmp_path: Path,
                                   capsys: pytest.CaptureFixture[str]) -> None:
        gw = b.gateway(listeners=[b.listener("open")])
        _, doc = scan_json(capsys, write(tmp_path / "m.yaml", gw))
        (f,) = doc["findings"]
        assert (f["kind"], f["route"], f["other"], f["listener"]) == ("Posture", None, None,
                                                                       "open")


def test_python_dash_m(tmp_path: Path) -> None:
    """``python -m gwwatch scan`` runs as a program, with the same exit codes."""
    proc = subprocess.run(
        [sys.executable, "-m", "gwwatch", "scan", "--output", "json",
         str(REPO / "examples" / "techresolve")],
        capture_output=True, text=True, cwd=tmp_path, timeout=60, check=False)
    assert proc.returncode == 1, proc.stderr
    doc = json.loads(proc.stdout)
    assert any(f["kind"] == "Hijack" and f["severity"] == "critical" for f in doc["findings"])


def one_error_line(err: str, *names: str | Path) -> str:
    """The single ``gwwatch: error:`` line, naming each of ``names``; no traceback."""
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("gwwatch: error: "), err
    assert "Traceback" not in err
    for name in names:
        assert str(name) in lines[0], err
    return lines[0]


BOMB = "\n".join(
    [f"a0: &a0 [{', '.join(['lol'] * 9)}]"]
    + [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, 10)]) + "\n"


class TestHostileInput:
    """Whatever a file holds, ``scan`` ends in one line naming it and exit 2, fast."""

    @pytest.mark.parametrize(("name", "text", "line", "words"), [
        pytest.param("bomb.yaml", BOMB, 1, "aliases expand", id="alias-bomb"),
        pytest.param("loop.yaml", "&a [1, *a]\n", 1, "refers to the node that contains it",
                     id="recursive-alias"),
        pytest.param("deep.yaml", "x:\n  " + "[" * 150 + "]" * 150 + "\n", 2,
                     "nested deeper than", id="deep-yaml"),
        pytest.param("stacked.yaml", "".join(  # each line 11 deep, the last one 132
            f"l{i}: &l{i} [[[[[[[[[[[{'*l' + str(i - 1) if i else 1}]]]]]]]]]]]\n"
            for i in range(12)), 3, "nested deeper than", id="deep-through-aliases"),
        pytest.param("int.yaml", "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: a\n"
                     "  uid: " + "7" * 5000 + "\n", 5, "5000 digits", id="long-int-yaml"),
        pytest.param("surrogate.yaml", 'apiVersion: v1\nkind: Namespace\nmetadata:\n'
                     '  name: "a\\ud800"\n', 4, "", id="lone-surrogate"),
        pytest.param("joined.yaml", "apiVersion: v1\nkind: Namespace\nmetadata: {name: a}\n"
                     "apiVersion: v1\nkind: Namespace\nmetadata: {name: b}\n", 4,
                     "key 'apiVersion' twice in one mapping (two documents without ---",
                     id="duplicate-key"),
        pytest.param("nul.yaml", "kind: Namespace\nmetadata: {name: \"a\0b\"}\n", 2,
                     "not allowed", id="nul-character"),
    ])
    def test_yaml(self, tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str,
                  text: str, line: int, words: str) -> None:
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        code, out, err = scan(capsys, path)
        assert (code, out) == (2, "")
        assert words in one_error_line(err, f"{path}:{line}:")

    @pytest.mark.parametrize(("text", "words"), [
        pytest.param('{"kind": "Namespace", "metadata": {"name": "a", "x": '
                     + "[" * 5000 + "]" * 5000 + "}}", "nested too deep", id="5000-deep"),
        pytest.param('{"kind": "Namespace", "n": ' + "9" * 5000 + "}", "4300 digits",
                     id="long-int"),
        pytest.param('{"kind": "Namespace", "metadata": {"name": "a\\ud800"}}',
                     "lone surrogate", id="lone-surrogate"),
        pytest.param('{"a": ' * 150 + "1" + "}" * 150, "nested deeper than", id="150-deep"),
        pytest.param('{"kind": "Namespace", "metadata": {"name": "a", "name": "b"}}',
                     "key 'name' twice in one object", id="duplicate-key"),
    ])
    def test_json(self, tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str,
                  words: str) -> None:
        path = tmp_path / "m.json"
        path.write_text(text, encoding="utf-8")
        code, out, err = scan(capsys, path)
        assert (code, out) == (2, "")
        assert words in one_error_line(err, path)

    def test_binary_manifest(self, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        path = tmp_path / "m.yaml"
        path.write_bytes(b"kind: Namespace\n\x89PNG\r\n\x1a\n\x00\xff\xfe")
        code, out, err = scan(capsys, path)
        assert (code, out) == (2, "")
        assert "not UTF-8" in one_error_line(err, f"{path}:2:")

    @pytest.mark.parametrize("data", [
        pytest.param(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\xff\xfe", id="png"),
        pytest.param(b"team-a: [a.example.com]\x00\x01\x02\n", id="nul-bytes"),
        pytest.param(BOMB.encode(), id="alias-bomb"),
    ])
    def test_binary_ownership_file(self, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                   data: bytes) -> None:
        own = tmp_path / "owners.yaml"
        own.write_bytes(data)
        code, out, err = scan(capsys, "--ownership", own, write(tmp_path / "m.yaml", GATEWAY))
        assert (code, out) == (2, "")
        one_error_line(err, f"{own}:1:")

    @pytest.mark.parametrize(("text", "line"), [
        pytest.param("team-a: api.example.com\n", 1, id="not-a-list"),
        pytest.param("team-a:\n- api.example.com\n- [x]\n", 3, id="not-a-hostname"),
        pytest.param("- team-a\n", 1, id="not-a-mapping"),
    ])
    def test_ownership_file_is_strict(self, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                      text: str, line: int) -> None:
        own = tmp_path / "owners.yaml"
        own.write_text(text, encoding="utf-8")
        code, out, err = scan(capsys, "--ownership", own, write(tmp_path / "m.yaml", GATEWAY))
        assert (code, out) == (2, "")
        assert "tenant -> list of hostnames" in one_error_line(err, f"{own}:{line}:")

    def test_too_big(self, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                     monkeypatch: pytest.MonkeyPatch) -> None:
        from gwwatch import manifests
        monkeypatch.setattr(manifests, "MAX_BYTES", 1000)
        path = write(tmp_path / "m.yaml", *[QUIET_ROUTE] * 10)
        code, out, err = scan(capsys, path)
        assert (code, out) == (2, "")
        assert "larger than" in one_error_line(err, path)

    def test_unreadable_file(self, capsys: pytest.CaptureFixture[str]) -> None:
        """Reading fails (EIO here, whoever runs the test): an error, not an empty input."""
        code, out, err = scan(capsys, "/proc/self/mem")
        assert (code, out) == (2, "")
        assert "cannot read" in one_error_line(err, "/proc/self/mem")

    def test_unreadable_directory(self) -> None:
        """A directory gwwatch may not list is an error, not an empty directory (exit 0)."""
        import shutil
        import tempfile

        top = Path(tempfile.mkdtemp(prefix="gwwatch-test-", dir="/tmp"))  # reachable by all
        top.chmod(0o755)
        write(top / "ok.yaml", GATEWAY)
        locked = top / "locked"
        write(locked / "route.yaml", OWNER, TAKER)
        locked.chmod(0)
        try:
            code, out, err = unprivileged(lambda: main(["scan", str(top)]))
        finally:
            locked.chmod(0o755)
            shutil.rmtree(top)
        assert (code, out) == (2, "")
        assert "cannot read" in one_error_line(err, locked)

    def test_unquoted_creation_timestamp(self, tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
        """A YAML timestamp is a time: the older route owns the hostname whatever the names
        (as strings they would be skipped and name order would make the victim the taker)."""
        victim = b.http_route("zz-billing", "zz-team", hostnames=[HOST], matches=[b.match("/")])
        taker = b.http_route("aa-dash", "aa-team", hostnames=[HOST],
                             matches=[b.match("/v1/charge")])
        path = tmp_path / "m.yaml"
        text = yaml.safe_dump_all([GATEWAY, victim, taker], sort_keys=False)
        docs = text.split("---\n") if "---\n" in text else [text]
        assert len(docs) == 3
        stamp = "  creationTimestamp: {}\n"
        docs[1] = docs[1].replace("metadata:\n", "metadata:\n" + stamp.format(
            "2024-01-01T00:00:00Z"), 1)
        docs[2] = docs[2].replace("metadata:\n", "metadata:\n" + stamp.format(
            "2024-06-01 12:00:00 +02:00"), 1)
        path.write_text("---\n".join(docs), encoding="utf-8")
        code, doc = scan_json(capsys, path)
        assert code == 1
        (hijack,) = [f for f in doc["findings"] if f["kind"] == "Hijack"]
        assert hijack["route"]["name"] == "aa-dash"
        assert hijack["other"]["name"] == "zz-billing"

    def test_control_characters_are_escaped(self, tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
        """A name cannot paint lines of its own (here a fake "No findings." over a hijack)."""
        fake = "\x1b[2J\x1b[H\rNo findings.\n\n0 routes"
        taker = b.http_route("dash", "team-b", hostnames=[HOST], created=b.ts(2),
                             matches=[b.match("/v1/charge")])
        broken = b.http_route(f"x{fake}", "team-c", hostnames=["a.example.com"])
        code, out, _ = scan(capsys, write(tmp_path / "m.yaml", GATEWAY, OWNER, taker, broken))
        assert code == 1
        assert "\x1b" not in out and "\r" not in out
        assert "\nNo findings." not in out
        assert "\\x1b[2J\\x1b[H\\rNo findings.\\n\\n0 routes" in out
        assert "CRITICAL" in out


def unprivileged(call: Any) -> tuple[int, str, str]:
    """``call()``'s exit code, stdout and stderr, run as a user file modes apply to: as is, or
    in a child process switched to ``nobody`` when the tests run as root (for whom mode 000
    changes nothing)."""
    import io
    import os

    def captured() -> tuple[int, str, str]:
        out, err = io.StringIO(), io.StringIO()
        saved = sys.stdout, sys.stderr
        sys.stdout, sys.stderr = out, err
        try:
            code = call()
        finally:
            sys.stdout, sys.stderr = saved
        return code, out.getvalue(), err.getvalue()

    if os.geteuid() != 0:
        return captured()
    read, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        try:
            os.close(read)
            os.setgid(65534)
            os.setuid(65534)
            result = json.dumps(captured())
        except BaseException as exc:  # reported to the parent
            result = json.dumps([99, "", repr(exc)])
        with os.fdopen(write_end, "w") as f:
            f.write(result)
        os._exit(0)
    os.close(write_end)
    with os.fdopen(read) as f:
        data = f.read()
    os.waitpid(pid, 0)
    code, out, err = json.loads(data)
    return int(code), str(out), str(err)


class TestPipelineInputs:
    def test_stdin(self, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                   monkeypatch: pytest.MonkeyPatch) -> None:
        """``-`` reads a stream: ``kubectl kustomize overlay | gwwatch scan -``."""
        import io
        text = yaml.safe_dump_all([GATEWAY, OWNER, TAKER]).encode()
        monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(text)))
        code, doc = scan_json(capsys, "-")
        assert code == 1
        assert all(r["source"].startswith("<stdin>:") for r in doc["routes"])
        (hijack,) = [f for f in doc["findings"] if f["kind"] == "Hijack"]
        assert hijack["route"]["name"] == "dash"

    def test_process_substitution(self, tmp_path: Path) -> None:
        """A pipe named as a path (``<(...)``, ``/dev/stdin``) is read like a file."""
        text = yaml.safe_dump_all([GATEWAY, OWNER, TAKER])
        proc = subprocess.run([sys.executable, "-m", "gwwatch", "scan", "/dev/stdin"],
                              input=text, capture_output=True, text=True, cwd=REPO,
                              timeout=60, check=False)
        assert proc.returncode == 1, proc.stderr
        assert "CRITICAL" in proc.stdout

    @pytest.mark.parametrize("name", ["kustomization.yaml", "kustomization.yml", "Kustomization"])
    def test_kustomize_directory_is_refused(self, tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str],
                                            name: str) -> None:
        """An overlay's files are patches, not objects: taking them for the route hid the
        hijack. Render it first."""
        overlay = tmp_path / "overlays" / "prod"
        write(tmp_path / "base" / "routes.yaml", GATEWAY, OWNER, TAKER)
        write(overlay / name, {"resources": ["../../base"]})
        code, out, err = scan(capsys, tmp_path)
        assert (code, out) == (2, "")
        assert one_error_line(err, overlay).endswith(
            f"run `kubectl kustomize {overlay} | gwwatch scan -`")
        code, _, err = scan(capsys, overlay / name)
        assert code == 2 and f"kubectl kustomize {overlay} |" in err

    def test_same_object_twice(self, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        """Last one wins would make argument order decide the verdict: name both places."""
        first = write(tmp_path / "a.yaml", GATEWAY, OWNER, TAKER)
        changed = dict(TAKER, spec={**TAKER["spec"], "hostnames": ["other.example.com"]})
        second = write(tmp_path / "b.yaml", QUIET_ROUTE, changed)
        code, out, err = scan(capsys, first, second)
        assert (code, out) == (2, "")
        assert one_error_line(err).endswith(
            f"HTTPRoute team-b/dash is in the input twice, at {first}:{starts(first)[2]} and "
            f"{second}:{starts(second)[1]}")

    def test_one_path_named_twice_is_read_once(self, tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
        path = write(tmp_path / "m.yaml", GATEWAY, OWNER, TAKER)
        assert scan(capsys, path, path, tmp_path)[0] == 1

    @pytest.mark.parametrize("objs", [
        pytest.param((), id="empty"),
        pytest.param(({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}},),
                     id="unrelated"),
        pytest.param((b.namespace("team-a"),), id="namespaces-only"),
    ])
    def test_no_gateway_api_object(self, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                   objs: tuple[object, ...]) -> None:
        (tmp_path / "d").mkdir()
        if objs:
            write(tmp_path / "d" / "m.yaml", *objs)
        code, out, err = scan(capsys, tmp_path / "d")
        assert (code, out) == (2, "")
        assert "no Gateway API object" in one_error_line(err, tmp_path / "d")

    def test_name_order_note(self, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        """Without timestamps the older route is the first by namespace/name: said once, with
        how to make it exact; not said when timestamps or the ownership file decide."""
        untimed = [dict(r, metadata={k: v for k, v in r["metadata"].items()
                                     if k != "creationTimestamp"})
                   for r in (OWNER, TAKER, dict(TAKER, metadata={**TAKER["metadata"],
                                                                  "name": "dash2"}))]
        path = write(tmp_path / "m.yaml", GATEWAY, *untimed)
        code, _, err = scan(capsys, path)
        assert code == 1
        assert err.count("gwwatch: note: ") == 1 and "--ownership FILE" in err
        assert "namespace/name order" in err
        assert scan(capsys, write(tmp_path / "t.yaml", GATEWAY, OWNER, TAKER))[2] == ""
        own = tmp_path / "owners.yaml"
        own.write_text(f"team-a: [{HOST}]\n", encoding="utf-8")
        assert scan(capsys, "--ownership", own, path)[2] == ""

    def test_plurals(self, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        gw = b.gateway(listeners=[b.listener("open")])
        _, out, _ = scan(capsys, write(tmp_path / "m.yaml", gw, QUIET_ROUTE))
        assert out.endswith("\n1 route, 1 finding (0 critical, 1 warning, 0 info), "
                            "0 invalid objects\n")

    def test_unknown_flag_prints_the_commands_usage(
            self, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        with pytest.raises(SystemExit) as exc:
            main(["scan", "--fail-on-warning", str(tmp_path)])
        assert exc.value.code == 2
        err = capsys.readouterr().err
        assert err.startswith("usage: gwwatch scan ")
        assert err.rstrip().endswith("gwwatch scan: error: unrecognized arguments: "
                                     "--fail-on-warning")
