"""The monitoring stack of the end-to-end tests, as real processes on loopback.

- :class:`PagerDuty`: a stand-in for PagerDuty's Events API v2 (``POST /v2/enqueue``), a
  threaded ``http.server`` that records every event it is sent.
- :func:`prometheus_config` / :func:`alertmanager_config`: the configurations the test runs,
  made from the shipped files (alerts/gwwatch-*.yaml unchanged; alerts/alertmanager.example.yml
  with only the PagerDuty URL, the routing-key file and the grouping delays changed).
- :class:`PromAPI`: the few Prometheus HTTP API calls the tests need.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, TypeVar

import yaml

__all__ = ["Event", "PagerDuty", "PromAPI", "alertmanager_config", "http_get",
           "prometheus_config", "wait_for"]

ROOT = Path(__file__).resolve().parents[2]
ALERTS = ROOT / "alerts"
JOB = "gwwatch-metrics"  # what deploy/monitoring's ServiceMonitor makes the job
T = TypeVar("T")


def wait_for(check: Callable[[], T | None], *, timeout: float, interval: float = 0.25,
             what: str) -> T:
    """Poll ``check`` until it returns something other than None/False; that value."""
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            got = check()
            if got is not None and got is not False:
                return got
        except (OSError, ValueError, KeyError) as e:  # not up yet, or not there yet
            last = e
        time.sleep(interval)
    raise AssertionError(f"{what}: not within {timeout:.0f} s" + (f" (last: {last})"
                                                                   if last else ""))


def http_get(url: str, timeout: float = 5.0) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return int(resp.status), resp.read()
    except urllib.error.HTTPError as e:
        return int(e.code), e.read()


# --- PagerDuty ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Event:
    at: float  # time.monotonic() when it arrived
    path: str
    body: dict[str, Any]

    @property
    def action(self) -> str:
        return str(self.body.get("event_action"))

    @property
    def text(self) -> str:
        return json.dumps(self.body)


class PagerDuty:
    """Records Events API v2 events and answers as PagerDuty does (202, JSON status)."""

    def __init__(self) -> None:
        self.events: list[Event] = []
        self._lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                try:
                    body = json.loads(raw)
                except ValueError:
                    self.send_response(400)
                    self.end_headers()
                    return
                with outer._lock:
                    outer.events.append(Event(time.monotonic(), self.path, body))
                reply = json.dumps({"status": "success", "message": "Event processed",
                                    "dedup_key": body.get("dedup_key", "")}).encode()
                self.send_response(202)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v2/enqueue"
        self._thread = threading.Thread(target=self.server.serve_forever, name="pagerduty",
                                        daemon=True)

    def __enter__(self) -> PagerDuty:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def received(self) -> list[Event]:
        with self._lock:
            return list(self.events)

    def wait(self, match: Callable[[Event], bool], *, timeout: float, what: str) -> Event:
        def found() -> Event | None:
            return next((e for e in self.received() if match(e)), None)

        return wait_for(found, timeout=timeout, interval=0.1, what=what)


# --- configurations -----------------------------------------------------------------------------


def rule_files() -> list[Path]:
    return sorted(ALERTS.glob("gwwatch-*.yaml"))


def prometheus_config(*, gwwatch: str, alertmanager: str, namespace: str,
                      interval: str = "1s", cluster: str | None = None) -> dict[str, Any]:
    """Scrape gwwatch and evaluate the shipped rules every ``interval``; the target gets the
    ``namespace`` label the Prometheus Operator would give it. ``cluster``: the Prometheus'
    external label ``cluster`` (one Prometheus per cluster, as most fleets run it): series do
    not carry it, alerts sent to Alertmanager do."""
    global_: dict[str, Any] = {"scrape_interval": interval, "scrape_timeout": interval,
                               "evaluation_interval": interval}
    if cluster is not None:
        global_["external_labels"] = {"cluster": cluster}
    return {
        "global": global_,
        "rule_files": [str(p) for p in rule_files()],
        "alerting": {"alertmanagers": [{"static_configs": [{"targets": [alertmanager]}]}]},
        "scrape_configs": [{
            "job_name": JOB,
            "static_configs": [{"targets": [gwwatch], "labels": {"namespace": namespace}}],
        }],
    }


def alertmanager_config(*, pagerduty_url: str, routing_key_file: Path,
                        group_wait: str = "1s", group_interval: str = "1s") -> dict[str, Any]:
    """alerts/alertmanager.example.yml with PagerDuty at ``pagerduty_url``, the routing key
    read from ``routing_key_file``, and shorter grouping delays (so a resolve is sent within
    seconds rather than at the next 1-minute group interval)."""
    config: dict[str, Any] = yaml.safe_load((ALERTS / "alertmanager.example.yml").read_text())
    for receiver in config["receivers"]:
        for pd in receiver.get("pagerduty_configs", []):
            pd["url"] = pagerduty_url
            pd["routing_key_file"] = str(routing_key_file)

    def routes(route: dict[str, Any]) -> Iterator[dict[str, Any]]:
        yield route
        for child in route.get("routes", []):
            yield from routes(child)

    for route in routes(config["route"]):
        if "group_wait" in route:
            route["group_wait"] = group_wait
        if "group_interval" in route:
            route["group_interval"] = group_interval
    return config


# --- Prometheus HTTP API ------------------------------------------------------------------------


class PromAPI:
    def __init__(self, base: str) -> None:
        self.base = base

    def _get(self, path: str, **params: str | Sequence[str]) -> Any:
        query = urllib.parse.urlencode(params, doseq=True)
        code, body = http_get(f"{self.base}{path}?{query}", timeout=10)
        doc = json.loads(body)
        if code != 200 or doc.get("status") != "success":
            raise AssertionError(f"Prometheus {path} {params}: HTTP {code} {body[:500]!r}")
        return doc["data"]

    def query(self, expr: str) -> list[dict[str, Any]]:
        data = self._get("/api/v1/query", query=expr)
        result: list[dict[str, Any]] = data["result"] if data["resultType"] == "vector" else [
            {"metric": {}, "value": data["result"]}]
        return result

    def query_range(self, expr: str, *, seconds: float, step: str = "1s"
                    ) -> list[dict[str, Any]]:
        now = time.time()
        data = self._get("/api/v1/query_range", query=expr, start=f"{now - seconds:.3f}",
                         end=f"{now:.3f}", step=step)
        result: list[dict[str, Any]] = data["result"]
        return result

    def label_values(self, label: str, match: str) -> list[str]:
        values: list[str] = self._get(f"/api/v1/label/{label}/values", **{"match[]": [match]})
        return values

    def value(self, expr: str) -> float | None:
        """The single value of an instant query; None when it returns nothing."""
        result = self.query(expr)
        if not result:
            return None
        return float(result[0]["value"][1])

    def alerts(self, name: str) -> list[dict[str, Any]]:
        data = self._get("/api/v1/alerts")
        return [a for a in data["alerts"] if a["labels"].get("alertname") == name]

    def rule_groups(self) -> list[dict[str, Any]]:
        groups: list[dict[str, Any]] = self._get("/api/v1/rules")["groups"]
        return groups

    def targets(self) -> list[dict[str, Any]]:
        active: list[dict[str, Any]] = self._get("/api/v1/targets")["activeTargets"]
        return active
