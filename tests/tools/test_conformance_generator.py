"""The corpus generator on a small conformance module written here: what the Go walk evaluates
(constants of other packages, loops over tables, t.Run, closures, a switch on a split Host) and
what it must list as unextracted instead of guessing (a request made only under a feature
check)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.conformance import build
from tests.controlplane.build import go_missing_reason
from tests.needs import unavailable

SUITE = '''package suite
const InfrastructureNamespace = "infra"
const InfraBackendServiceNameV1 = "backend-v1"
type ConformanceTest struct{}
'''
FEATURES = '''package features
type FeatureName string
const SupportGateway FeatureName = "Gateway"
const SupportExtra FeatureName = "Extra"
'''
TEST = '''package tests

import (
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/gateway-api/conformance/utils/http"
	"sigs.k8s.io/gateway-api/conformance/utils/kubernetes"
	confsuite "sigs.k8s.io/gateway-api/conformance/utils/suite"
	"sigs.k8s.io/gateway-api/pkg/features"
)

const other = "backend-" + "v2"

var Sample = confsuite.ConformanceTest{
	ShortName:   "Sample",
	Description: "a sample",
	Features:    []features.FeatureName{features.SupportGateway},
	Manifests:   []string{"tests/sample.yaml"},
	Test: func(t *testing.T, suite *confsuite.ConformanceTestSuite) {
		ns := confsuite.InfrastructureNamespace
		gwNN := types.NamespacedName{Name: "gw", Namespace: ns}
		routes := []types.NamespacedName{{Name: "r1", Namespace: ns}}
		addr80 := kubernetes.GatewayAndHTTPRoutesMustBeAccepted(t, suite.Client,
			suite.TimeoutConfig, suite.ControllerName, kubernetes.NewGatewayRef(gwNN), routes...)
		addr8080 := kubernetes.GatewayAndHTTPRoutesMustBeAccepted(t, suite.Client,
			suite.TimeoutConfig, suite.ControllerName, kubernetes.NewGatewayRef(gwNN, "alt"),
			routes...)
		cases := []struct {
			host    string
			backend string
		}{
			{host: "a.example.com", backend: confsuite.InfraBackendServiceNameV1},
			{host: "b.example.com:8080", backend: other},
		}
		for i, tc := range cases {
			expected := http.ExpectedResponse{
				Request:   http.Request{Host: tc.host, Path: "/p?x=1"},
				Backend:   tc.backend,
				Namespace: ns,
			}
			t.Run(expected.GetTestCaseName(i), func(t *testing.T) {
				addr := addr80
				if parts := strings.Split(tc.host, ":"); len(parts) == 2 {
					switch parts[1] {
					case "8080":
						addr = addr8080
					}
				}
				http.MakeRequestAndExpectEventuallyConsistentResponse(t, suite.RoundTripper,
					suite.TimeoutConfig, addr, expected)
			})
		}
		if suite.SupportedFeatures.Has(features.SupportExtra) {
			http.MakeRequestAndExpectEventuallyConsistentResponse(t, suite.RoundTripper,
				suite.TimeoutConfig, addr80, http.ExpectedResponse{
				Request:  http.Request{Host: "c.example.com", Path: "/"},
				Response: http.Response{StatusCode: 404},
			})
		}
	},
}
'''
BASE = '''apiVersion: v1
kind: Namespace
metadata:
  name: infra
'''
SAMPLE = '''apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata:
  name: gw
  namespace: infra
spec:
  gatewayClassName: "{GATEWAY_CLASS_NAME}"
  listeners:
  - name: main
    port: 80
    protocol: HTTP
  - name: alt
    port: 8080
    protocol: HTTP
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: r1
  namespace: infra
spec:
  parentRefs:
  - name: gw
    sectionName: main
  - name: gw
    sectionName: alt
'''


def _write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


@pytest.fixture(scope="module")
def case(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    if reason := go_missing_reason():
        unavailable("Go (to run tests/conformance/generate)", reason)
    conf, api = tmp_path_factory.mktemp("conformance"), tmp_path_factory.mktemp("api")
    _write(conf, {"utils/suite/suite.go": SUITE, "tests/sample.go": TEST,
                  "tests/sample.yaml": SAMPLE, "base/manifests.yaml": BASE})
    _write(api, {"pkg/features/features.go": FEATURES})
    raw = build.facts(conf, api)
    assert [t["shortName"] for t in raw["tests"]] == ["Sample"]
    return build.build_case(raw["tests"][0], build.manifest_texts(conf))


def test_metadata_and_attachments_follow_the_code_and_the_parent_refs(case: dict[str, Any]) -> None:
    assert case["features"] == ["Gateway"]
    assert case["manifests"] == ["manifests.yaml", "sample.yaml"]
    # One entry per parentRef of r1 to gw; asserted twice, recorded once each.
    assert [(a["route"]["name"], a["sectionName"], a["accepted"], a["reason"])
            for a in case["attachments"]] == [("r1", "main", True, "Accepted"),
                                              ("r1", "alt", True, "Accepted")]


def test_table_loop_switch_and_constants_are_evaluated(case: dict[str, Any]) -> None:
    got = [(r["host"], r["port"], r["path"], r["query"], r["expect"]) for r in case["requests"]]
    assert got == [
        ("a.example.com", 80, "/p", {"x": "1"},
         {"backend": {"namespace": "infra", "name": "backend-v1"}}),
        ("b.example.com:8080", 8080, "/p", {"x": "1"},
         {"backend": {"namespace": "infra", "name": "backend-v2"}}),
    ]
    # The line of the table entry each request comes from.
    lines = [r["sourceLine"] for r in case["requests"]]
    assert lines[1] == lines[0] + 1


def test_a_request_under_a_feature_check_is_listed_not_graded(case: dict[str, Any]) -> None:
    assert [(u["call"], u["reason"]) for u in case["unextracted"]] == [
        ("http.MakeRequestAndExpectEventuallyConsistentResponse",
         "depends on: suite.SupportedFeatures.Has(features.SupportExtra)")]
    assert all(r["host"] != "c.example.com" for r in case["requests"])
