"""pytest fixtures and a report hook for tests that need the real control plane.

Import them into a conftest.py (``tests/integration/conftest.py`` does)::

    from tests.controlplane.fixtures import (  # noqa: F401
        control_plane, kubeconfig, kr8s_api, namespace, sa_kubeconfig,
        pytest_runtest_makereport,
    )

One control plane per session.  Without Go or KUBEBUILDER_ASSETS the fixtures skip the tests
outside CI and fail them in CI (``CI`` set; :mod:`tests.needs` decides): a CI run that cannot
start the control plane must never look green.
"""

from __future__ import annotations

import contextlib
import re
import secrets
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.needs import unavailable

from .build import Assets, AssetsUnavailable, ensure_built
from .controlplane import ControlPlane

CONTROL_PLANE_KEY = pytest.StashKey[ControlPlane]()


def require_assets(purpose: str = "the test control plane") -> Assets:
    """The built (or given) binaries; without them the test fails in CI and skips elsewhere
    (:func:`tests.needs.unavailable`)."""
    try:
        return ensure_built()
    except AssetsUnavailable as e:
        unavailable(purpose, str(e))


@contextlib.contextmanager
def running_control_plane() -> Iterator[ControlPlane]:
    """A started :class:`ControlPlane`, stopped on exit; failing to start fails the test."""
    cp = ControlPlane(require_assets())
    try:
        cp.start()
    except Exception as e:
        # Go (or the assets) are there, so a control plane that does not start is a bug to see.
        pytest.fail(f"test control plane did not start: {e}", pytrace=False)
    try:
        yield cp
    finally:
        cp.stop()


@pytest.fixture(scope="session")
def control_plane(request: pytest.FixtureRequest) -> Iterator[ControlPlane]:
    """The session's running :class:`ControlPlane` (etcd + kube-apiserver + Gateway API CRDs)."""
    with running_control_plane() as cp:
        request.config.stash[CONTROL_PLANE_KEY] = cp
        try:
            yield cp
        finally:
            del request.config.stash[CONTROL_PLANE_KEY]


@pytest.fixture(scope="session")
def kubeconfig(control_plane: ControlPlane) -> Path:
    """Path of the admin kubeconfig (client cert in ``system:masters``; namespace ``default``)."""
    return control_plane.kubeconfig


@pytest.fixture(scope="session")
async def kr8s_api(kubeconfig: Path) -> Any:
    """``kr8s.asyncio.Api`` authenticated as the admin."""
    import kr8s.asyncio

    return await kr8s.asyncio.api(kubeconfig=str(kubeconfig))


def _namespace_name(nodeid: str) -> str:
    test = nodeid.rsplit("::", 1)[-1]
    slug = re.sub(r"[^a-z0-9]+", "-", test.lower()).strip("-")
    slug = re.sub(r"^test-", "", slug)[:48].strip("-") or "test"
    return f"t-{slug}-{secrets.token_hex(3)}"


@pytest.fixture
def namespace(control_plane: ControlPlane, request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh namespace named after the test (``t-<test name>-<random>``).

    Teardown deletes the Gateway API objects in it, then the namespace (which stays Terminating
    for ever: no controller-manager runs, so nothing finalises it)."""
    name = _namespace_name(request.node.nodeid)
    control_plane.create_namespace(name)
    yield name
    control_plane.delete_namespace(name)


@pytest.fixture
def sa_kubeconfig(control_plane: ControlPlane, namespace: str) -> Callable[..., Path]:
    """Factory: ``sa_kubeconfig(name="tester", namespace=None) -> Path``.

    Creates the ServiceAccount (in the test's namespace unless told otherwise) and returns a
    kubeconfig that authenticates with a TokenRequest token as that SA; its context namespace
    is the SA's.  The SA has no permissions until the test binds some."""

    default_namespace = namespace

    def make(name: str = "tester", namespace: str | None = None, **kw: Any) -> Path:
        return control_plane.service_account_kubeconfig(namespace or default_namespace, name, **kw)

    return make


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Iterator[None] | Any:
    """Attach the servers' log tails to the report of a failing test that used them."""
    report = yield
    cp = item.config.stash.get(CONTROL_PLANE_KEY, None)
    if report.failed and cp is not None and "control_plane" in getattr(item, "fixturenames", ()):
        report.sections.append(("kube-apiserver log (tail)", cp.log_tail("kube-apiserver", 60)))
        report.sections.append(("etcd log (tail)", cp.log_tail("etcd", 20)))
    return report


__all__ = [
    "CONTROL_PLANE_KEY",
    "control_plane",
    "kr8s_api",
    "kubeconfig",
    "namespace",
    "pytest_runtest_makereport",
    "sa_kubeconfig",
]
