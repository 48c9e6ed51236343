"""Integration tests run against a real kube-apiserver + etcd (see tests/controlplane)."""

from tests.controlplane.fixtures import (  # noqa: F401  (fixtures and hook, by name)
    control_plane,
    kr8s_api,
    kubeconfig,
    namespace,
    pytest_runtest_makereport,
    sa_kubeconfig,
)
from tests.integration.controller_fixtures import *  # noqa: F403  (gwwatch run fixtures)
