"""A real Kubernetes control plane for the tests: kube-apiserver + etcd + Gateway API CRDs.

Built from pinned Go modules (``go/``), cached by version; see ``README.md`` here.  Entry points:

- ``python -m tests.controlplane build``  build or find the binaries, print their directory
- ``python -m tests.controlplane serve --kubeconfig PATH``  run one in the foreground
- ``tests.controlplane.fixtures``  pytest fixtures (``control_plane``, ``namespace``, ...)
"""

from .build import Assets, AssetsUnavailable, ensure_built
from .controlplane import ApiError, ControlPlane, ControlPlaneError
from .versions import Versions, pinned_versions

__all__ = [
    "ApiError",
    "Assets",
    "AssetsUnavailable",
    "ControlPlane",
    "ControlPlaneError",
    "Versions",
    "ensure_built",
    "pinned_versions",
]
