"""Settings of ``gwwatch run``: environment ``GWWATCH_*``, overridden by command-line flags.

Grouped as kopf groups its configuration, each default with its reason. ``Settings()`` reads
the environment; ``Settings(**flags)`` lets explicit flags win (``gwwatch.cli`` passes only the
flags that were given). This module is the one place that knows where configuration comes from.
"""

from __future__ import annotations

import os
import re
import socket
import uuid
from pathlib import Path
from typing import Final, Literal

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from gwwatch.engine.ownership import DEFAULT_TENANT_LABEL

__all__ = ["Settings"]

_CONTROLLER_NAME_RE: Final = re.compile(
    r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*"
    r"/[A-Za-z0-9/\-._~%!$&'()*+,;=:]+$")
_DNS_LABEL_RE: Final = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_SA_NAMESPACE: Final = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")


def default_namespace() -> str:
    """Where gwwatch runs: ``POD_NAMESPACE`` (downward API), else the ServiceAccount's
    namespace, else ``gwwatch-system`` (the Kustomize base's)."""
    env = os.environ.get("POD_NAMESPACE")
    if env:
        return env
    try:
        return _SA_NAMESPACE.read_text().strip() or "gwwatch-system"
    except OSError:
        return "gwwatch-system"


def default_identity() -> str:
    """client-go's convention: the Pod name (``POD_NAME``, else the hostname) plus a random
    suffix, so a restarted process never mistakes its predecessor's Lease for its own."""
    return f"{os.environ.get('POD_NAME') or socket.gethostname()}_{uuid.uuid4().hex[:8]}"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="GWWATCH_", extra="forbid",
                                      validate_default=True)

    # --- connection ----------------------------------------------------------------------
    # None: $KUBECONFIG / ~/.kube/config, else the in-cluster ServiceAccount (kr8s decides).
    kubeconfig: str | None = None
    context: str | None = None

    # --- what gwwatch says, and as whom --------------------------------------------------
    # The controllerName on our status.parents entries; DOMAIN/PATH as the CRD demands.
    controller_name: str = "gwwatch.io/conflict-watcher"
    # Namespaces sharing this label's value are one tenant ("" = every namespace is one).
    tenant_label: str = DEFAULT_TENANT_LABEL
    # Claims in Namespace annotations (gwwatch.io/hostnames) count. A claim only adds findings
    # (the oldest route's are kept where they disagree), so trusting them costs at most extra
    # findings beside a ContestedClaim naming the claimant; switch off where whoever can
    # annotate a namespace should not add findings to other tenants' routes.
    trust_namespace_annotations: bool = True
    # Severity of a Hijack between namespaces of one tenant (never critical).
    intra_tenant_severity: Literal["warning", "info"] = "warning"
    # A ConfigMap in gwwatch's namespace holding platform-owned claims, which override
    # annotations: a key ending in .yaml/.yml/.json holds the `scan --ownership` file format
    # (tenant -> [hostnames]); any other key is a tenant, its value hostnames separated by
    # commas, spaces or newlines. None: no ownership ConfigMap.
    ownership_configmap: str | None = None
    # gwwatch's own namespace (its Lease and ownership ConfigMap live here).
    namespace: str = Field(default_factory=default_namespace)

    # --- leader election (client-go defaults) --------------------------------------------
    leader_election: bool = True
    lease_name: str = "gwwatch"
    lease_namespace: str | None = None  # None: ``namespace``
    identity: str = Field(default_factory=default_identity)
    # A dead leader is replaced within lease_duration + retry_period.
    lease_duration_seconds: float = Field(default=15.0, gt=0)
    # A leader that could not renew for this long stops writing (must be < lease duration).
    renew_deadline_seconds: float = Field(default=10.0, gt=0)
    retry_period_seconds: float = Field(default=2.0, gt=0)

    # --- HTTP: /metrics, /healthz, /readyz -----------------------------------------------
    metrics_bind_address: str = "0.0.0.0"  # a Pod's port, reached through a Service
    metrics_port: int = Field(default=8080, ge=0, le=65535)  # 0: any free port (tests)
    # Per-finding series carry hostname and routes; cap them so a bad day cannot flood
    # Prometheus. Critical findings are kept first.
    max_finding_series: int = Field(default=500, ge=0)

    # --- admission webhook: POST /validate over HTTPS (deploy/components/admission) -----------
    # None: no webhook server (the default; the Kustomize component sets 9443). 0: a free port.
    webhook_port: int | None = Field(default=None, ge=0, le=65535)
    webhook_bind_address: str = "0.0.0.0"  # the API server reaches it through a Service
    # PEM files, read again when they change (cert-manager renews the mounted Secret).
    webhook_cert_file: Path = Path("/etc/gwwatch/webhook/tls.crt")
    webhook_key_file: Path = Path("/etc/gwwatch/webhook/tls.key")
    # deny: refuse a new critical Hijack by the object under review; warn: never refuse, say
    # what would be refused; off: admit everything unchecked (the webhook stays answering).
    webhook_mode: Literal["off", "warn", "deny"] = "deny"
    # How long an object this replica admitted counts in its later decisions before the watch
    # delivers it (usually milliseconds; long enough for a slow watch, short enough that a
    # request refused later by someone else does not block its hostname for long).
    webhook_pending_seconds: float = Field(default=10.0, ge=0)
    # A decision analyses again every claimed hostname the change covers (a wildcard over a busy
    # domain: thousands, ~0.25 ms each at 100k routes). Over this many, the broad hostnames are
    # left unchecked (said in a warning) so no request holds the graph (and batches) for long.
    webhook_max_hostnames: int = Field(default=50, ge=1)

    # --- logging -------------------------------------------------------------------------
    log_format: Literal["auto", "json", "console"] = "auto"  # auto: console on a TTY
    log_level: Literal["debug", "info", "warning", "error"] = "info"

    # --- tuning --------------------------------------------------------------------------
    # How often to look for Gateway API CRDs that appeared, went or changed version.
    discovery_interval_seconds: float = Field(default=60.0, gt=0)
    # Concurrent status writers: each write is one PUT; a few hide round-trip latency.
    status_workers: int = Field(default=4, ge=1, le=64)
    # Server-side watch timeout is drawn from [min, max) (client-go: 5-10 min).
    watch_timeout_min_seconds: float = Field(default=300.0, ge=1)
    watch_timeout_max_seconds: float = Field(default=600.0, ge=1)
    list_page_size: int = Field(default=500, ge=1)

    @field_validator("controller_name")
    @classmethod
    def _controller_name(cls, value: str) -> str:
        if len(value) > 253 or not _CONTROLLER_NAME_RE.match(value):
            raise ValueError("must be DOMAIN/PATH, e.g. gwwatch.io/conflict-watcher")
        return value

    @field_validator("namespace", "lease_namespace")
    @classmethod
    def _namespace(cls, value: str | None) -> str | None:
        if value is not None and not _DNS_LABEL_RE.match(value):
            raise ValueError("must be a namespace name (DNS label)")
        return value

    @model_validator(mode="after")
    def _durations(self) -> Settings:
        if not (self.lease_duration_seconds > self.renew_deadline_seconds
                > 1.2 * self.retry_period_seconds):
            raise ValueError("need lease_duration > renew_deadline > 1.2 * retry_period")
        if self.watch_timeout_max_seconds < self.watch_timeout_min_seconds:
            raise ValueError("watch_timeout_max_seconds < watch_timeout_min_seconds")
        return self

    @property
    def lease_ns(self) -> str:
        return self.lease_namespace or self.namespace
