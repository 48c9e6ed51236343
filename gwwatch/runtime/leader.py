"""Leader election on a ``coordination.k8s.io/v1`` Lease, with client-go's semantics.

(``tools/leaderelection/leaderelection.go``.) Every replica runs a :class:`LeaderElector`:

- **acquire**: every ``retry_period`` (with up to 20 % jitter) read the Lease; take it when it
  does not exist, has no holder, or its record has not changed for ``leaseDurationSeconds``
  *as observed on our own clock* (no trust in other machines' clocks); a write races through
  the resourceVersion, so a ``409`` just means someone else won.
- **renew**: every ``retry_period`` write ``renewTime``; when no renewal succeeded for
  ``renew_deadline``, leadership is lost and the leader's work is cancelled. A renewal that
  fails or ends more than one retry period after it was due is *missed* and counted
  (``on_renew``; ``gwwatch_leader_renewals_missed_total``): five in a row lose the Lease, and
  one is already a sign that something (a stalled event loop) keeps us from renewing. Each
  attempt is bounded by what is left of the deadline (client-go's
  ``context.WithTimeout(renewDeadline)``), so a hanging apiserver cannot keep us leading
  after a standby may have taken the Lease.
- **release** on a clean stop: the Lease is written with no holder and
  ``leaseDurationSeconds: 1``, so a standby takes over at its next retry instead of waiting out
  the lease.

Defaults are client-go's: lease 15 s, renew deadline 10 s, retry 2 s. The elector is a state
machine over a :class:`LeaseClient` and an injected clock, so tests drive it without a server.
"""

from __future__ import annotations

import asyncio
import datetime
import random
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import structlog

from gwwatch.runtime import errors
from gwwatch.runtime.kube import Kube
from gwwatch.runtime.tasks import until_first_returns

__all__ = ["KubeLeaseClient", "LeaderElector", "LeaseClient", "LeaseConfig"]

log = structlog.get_logger("gwwatch.leader")

_JITTER = 1.2  # client-go's JitterFactor for the retry period


@dataclass(frozen=True, slots=True)
class LeaseConfig:
    name: str
    namespace: str
    identity: str
    lease_duration: float = 15.0
    renew_deadline: float = 10.0
    retry_period: float = 2.0

    def __post_init__(self) -> None:
        # client-go's checks: otherwise a healthy leader could lose its lease while renewing.
        if not self.lease_duration > self.renew_deadline > _JITTER * self.retry_period > 0:
            raise ValueError("need lease_duration > renew_deadline > 1.2 * retry_period > 0")


class LeaseClient(Protocol):
    async def get(self) -> dict[str, Any] | None: ...

    async def create(self, lease: Mapping[str, Any]) -> dict[str, Any]: ...

    async def update(self, lease: Mapping[str, Any]) -> dict[str, Any]: ...


class KubeLeaseClient:
    def __init__(self, kube: Kube, *, namespace: str, name: str) -> None:
        self.kube = kube
        self.collection = f"/apis/coordination.k8s.io/v1/namespaces/{namespace}/leases"
        self.path = f"{self.collection}/{name}"

    async def get(self) -> dict[str, Any] | None:
        try:
            return await self.kube.request("GET", self.path, timeout=5.0)
        except errors.NotFound:
            return None

    async def create(self, lease: Mapping[str, Any]) -> dict[str, Any]:
        return await self.kube.request("POST", self.collection, body=lease, timeout=5.0)

    async def update(self, lease: Mapping[str, Any]) -> dict[str, Any]:
        return await self.kube.request("PUT", self.path, body=lease, timeout=5.0)


def _micro_time(t: float) -> str:
    return datetime.datetime.fromtimestamp(t, datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _record(lease: Mapping[str, Any]) -> tuple[object, ...]:
    spec = lease.get("spec")
    spec = spec if isinstance(spec, Mapping) else {}
    return (spec.get("holderIdentity"), spec.get("leaseDurationSeconds"),
            spec.get("acquireTime"), spec.get("renewTime"), spec.get("leaseTransitions"))


class LeaderElector:
    def __init__(
        self,
        config: LeaseConfig,
        client: LeaseClient,
        *,
        on_change: Callable[[bool], None] = lambda leading: None,
        on_renew: Callable[[float, bool], None] = lambda late, missed: None,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        rand: Callable[[], float] = random.random,
    ) -> None:
        self.config = config
        self.client = client
        self.on_change = on_change
        # After each renewal attempt while leading: seconds from when it was due (one retry
        # period after the last success) to its end, and whether it missed (failed, or
        # ended more than a retry period late: a busy event loop, a slow apiserver).
        self.on_renew = on_renew
        self.renewals_missed = 0
        self._clock = clock
        self._wall_clock = wall_clock
        self._sleep = sleep
        self._rand = rand
        self._observed: tuple[object, ...] | None = None
        self._observed_at = 0.0
        self._lease: dict[str, Any] | None = None  # as last read or written
        self.is_leader = False
        self.holder: str | None = None  # who holds it, as far as we know

    # --- one attempt -----------------------------------------------------------------------

    async def try_acquire_or_renew(self) -> bool:
        """client-go's ``tryAcquireOrRenew``: True when we hold the Lease afterwards."""
        cfg = self.config
        now = self._clock()
        stamp = _micro_time(self._wall_clock())
        try:
            lease = await self.client.get()
        except errors.ApiError as exc:
            log.warning("lease_read_failed", error=str(exc))
            return False
        if lease is None:
            body = {
                "apiVersion": "coordination.k8s.io/v1",
                "kind": "Lease",
                "metadata": {"name": cfg.name, "namespace": cfg.namespace},
                "spec": {
                    "holderIdentity": cfg.identity,
                    "leaseDurationSeconds": round(cfg.lease_duration),
                    "acquireTime": stamp,
                    "renewTime": stamp,
                    "leaseTransitions": 0,
                },
            }
            try:
                self._lease = await self.client.create(body)
            except errors.ApiError as exc:
                log.info("lease_create_failed", error=str(exc))
                return False
            self._observe(self._lease, now)
            return True
        self._observe(lease, now)
        spec = dict(lease.get("spec") or {})
        holder = spec.get("holderIdentity") or ""
        duration = spec.get("leaseDurationSeconds")
        duration = duration if isinstance(duration, int | float) else cfg.lease_duration
        self.holder = holder or None
        if holder and holder != cfg.identity and self._observed_at + duration > now:
            return False  # held by someone else and not expired
        if holder != cfg.identity:
            spec["acquireTime"] = stamp
            transitions = spec.get("leaseTransitions")
            spec["leaseTransitions"] = (transitions if isinstance(transitions, int) else 0) + (
                1 if holder else 0)
        spec["holderIdentity"] = cfg.identity
        spec["leaseDurationSeconds"] = round(cfg.lease_duration)
        spec["renewTime"] = stamp
        body = {**lease, "spec": spec}
        try:
            self._lease = await self.client.update(body)
        except errors.ApiError as exc:
            log.info("lease_update_failed", error=str(exc), error_type=type(exc).__name__)
            return False
        self._observe(self._lease, now)
        self.holder = cfg.identity
        return True

    def _observe(self, lease: Mapping[str, Any], now: float) -> None:
        record = _record(lease)
        if record != self._observed:
            self._observed = record
            self._observed_at = now

    # --- the loops -------------------------------------------------------------------------

    def _retry_delay(self) -> float:
        return self.config.retry_period * (1.0 + (_JITTER - 1.0) * self._rand())

    async def acquire(self) -> None:
        """Return once we hold the Lease."""
        while not await self.try_acquire_or_renew():
            if self.holder:
                log.debug("lease_held", holder=self.holder)
            await self._sleep(self._retry_delay())
        self._set_leader(True)

    async def renew(self) -> None:
        """Renew until a renewal has failed for ``renew_deadline``; then return (lost)."""
        last_ok = self._clock()
        while True:
            await self._sleep(self.config.retry_period)
            remaining = self.config.renew_deadline - (self._clock() - last_ok)
            renewed = False
            if remaining > 0:
                try:
                    async with asyncio.timeout(remaining):
                        renewed = await self.try_acquire_or_renew()
                except TimeoutError:
                    log.warning("lease_renew_timed_out", seconds=round(remaining, 2))
            late = self._clock() - (last_ok + self.config.retry_period)
            missed = not renewed or late > self.config.retry_period
            if missed:
                self.renewals_missed += 1
                log.warning("lease_renewal_missed", late_s=round(late, 3), renewed=renewed)
            self.on_renew(late, missed)
            if renewed:
                last_ok = self._clock()
            elif remaining <= 0 or self._clock() - last_ok >= self.config.renew_deadline or (
                    self.holder not in (None, self.config.identity)):
                log.warning("leadership_lost", holder=self.holder)
                self._set_leader(False)
                return

    async def release(self) -> None:
        """Give the Lease up (client-go ``release``): no holder, a 1 s lease."""
        if not self.is_leader or self._lease is None:
            return
        try:
            try:
                await self._release(self._lease)
            except errors.Conflict:
                # Our copy is stale, e.g. a renewal cancelled mid-flight did reach the server:
                # read it again and give it up if it is still ours.
                lease = await self.client.get()
                spec = lease.get("spec") if lease is not None else None
                holder = spec.get("holderIdentity") if isinstance(spec, Mapping) else None
                if lease is not None and holder == self.config.identity:
                    await self._release(lease)
                else:
                    log.info("lease_not_ours_anymore", holder=holder)
        except errors.ApiError as exc:
            log.warning("lease_release_failed", error=str(exc))
        self._set_leader(False)

    async def _release(self, lease: Mapping[str, Any]) -> None:
        stamp = _micro_time(self._wall_clock())
        spec = dict(lease.get("spec") or {})
        spec.update(holderIdentity="", leaseDurationSeconds=1, renewTime=stamp,
                    acquireTime=stamp)
        self._lease = await self.client.update({**lease, "spec": spec})
        log.info("lease_released", lease=self.config.name)

    async def run(self, lead: Callable[[], Awaitable[None]]) -> None:
        """Campaign for ever; run ``lead()`` while leading, cancel it on loss. Releases the
        Lease when cancelled while leading."""
        try:
            while True:
                await self.acquire()
                # Renewal returns when leadership is lost: the work is cancelled with it.
                await until_first_returns(lead(), self.renew())
                self._set_leader(False)
        finally:
            await asyncio.shield(self.release())

    def _set_leader(self, leading: bool) -> None:
        if leading != self.is_leader:
            self.is_leader = leading
            log.info("leader_changed", leading=leading, identity=self.config.identity,
                     lease=f"{self.config.namespace}/{self.config.name}")
            self.on_change(leading)
