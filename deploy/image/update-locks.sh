#!/bin/sh
# Regenerate the image's pinned, hashed requirements from pyproject.toml:
#   requirements.lock        [project].dependencies (what the image runs)
#   requirements-build.lock  [build-system].requires (what builds the gwwatch wheel)
# Universal resolution (every platform and Python >= 3.11), so one lock serves amd64 and arm64
# images and the test that rehearses the image's install steps on this machine's Python.
# Needs uv (`pip install uv`).  Run after any change to either table, then commit both files;
# tests/unit/test_dockerfile.py fails while a lock disagrees with pyproject.toml.
#   UPGRADE=1 deploy/image/update-locks.sh   # also move every pin to its newest release
set -eu
cd "$(dirname "$0")/../.."
command -v uv >/dev/null || { echo "update-locks: needs uv on PATH (pip install uv)" >&2; exit 2; }
upgrade=""
[ "${UPGRADE:-}" = 1 ] && upgrade="--upgrade"
compile() {
    uv pip compile --quiet --universal --python-version 3.11 --generate-hashes \
        --custom-compile-command "deploy/image/update-locks.sh" $upgrade "$@"
}
compile pyproject.toml --output-file requirements.lock
python3 -c 'import tomllib; print("\n".join(tomllib.load(open("pyproject.toml", "rb"))["build-system"]["requires"]))' \
    | compile - --output-file requirements-build.lock
