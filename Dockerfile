# syntax=docker/dockerfile:1
#
# gwwatch controller image.  Build from the repository root (no engine is needed to change it;
# tests/unit/test_dockerfile.py lints it with hadolint and rehearses its install steps):
#
#   docker build -t ghcr.io/gwwatch/gwwatch:0.1.0 \
#     --build-arg REVISION="$(git rev-parse HEAD)" \
#     --build-arg CREATED="$(date -u +%Y-%m-%dT%H:%M:%SZ)" .
#
# Dependencies come only from requirements.lock / requirements-build.lock (exact versions with
# hashes, wheels only; regenerate with deploy/image/update-locks.sh).  For reproducible builds
# pin the base by digest too: --build-arg PYTHON_IMAGE=python:3.12-slim@sha256:<digest>.

ARG PYTHON_IMAGE=python:3.12-slim

# ---------------------------------------------------------------------------------------------
# builder: a throw-away venv with the build backend, and the runtime venv /opt/gwwatch.
FROM ${PYTHON_IMAGE} AS builder

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore \
    PYTHONDONTWRITEBYTECODE=1

WORKDIR /src

# Dependencies first: this layer is reused until a lock file changes.
COPY requirements.lock requirements-build.lock ./
RUN python -m venv /opt/build \
    && /opt/build/bin/pip install --require-hashes --no-deps --only-binary=:all: \
        -r requirements-build.lock \
    && python -m venv --without-pip /opt/gwwatch \
    && /opt/build/bin/pip --python /opt/gwwatch/bin/python install \
        --require-hashes --no-deps --only-binary=:all: -r requirements.lock

# Then gwwatch itself, as a wheel built against the pinned backend, installed without deps
# (they are all in the venv already, at the locked versions).
COPY pyproject.toml README.md ./
COPY gwwatch ./gwwatch
RUN /opt/build/bin/pip wheel --no-deps --no-build-isolation --no-index --wheel-dir /wheels . \
    && /opt/build/bin/pip --python /opt/gwwatch/bin/python install \
        --no-deps --no-index --find-links /wheels gwwatch \
    && /opt/build/bin/pip --python /opt/gwwatch/bin/python check \
    && /opt/gwwatch/bin/gwwatch --version

# ---------------------------------------------------------------------------------------------
# runtime: the same base (the venv's interpreter is /usr/local/bin/python3.12 in both), the venv,
# nothing else: no compiler, no build backend, no pip in the venv, no source tree.
FROM ${PYTHON_IMAGE}

ARG VERSION=0.1.0
ARG REVISION=unknown
ARG CREATED=unknown

LABEL org.opencontainers.image.title="gwwatch" \
      org.opencontainers.image.description="Finds hostname hijacks between tenants sharing Kubernetes Gateway API Gateways" \
      org.opencontainers.image.source="https://github.com/gwwatch/gwwatch" \
      org.opencontainers.image.url="https://github.com/gwwatch/gwwatch" \
      org.opencontainers.image.documentation="https://github.com/gwwatch/gwwatch#readme" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.vendor="gwwatch" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}"

# Read-only root filesystem: no bytecode writes (the venv's .pyc were compiled at install time),
# HOME and TMPDIR on the /tmp emptyDir the Deployment mounts.
ENV PATH=/opt/gwwatch/bin:${PATH} \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOME=/tmp \
    TMPDIR=/tmp

COPY --from=builder /opt/gwwatch /opt/gwwatch

# 65532: the conventional "nonroot" id; numeric so that runAsNonRoot can verify it.
USER 65532:65532
WORKDIR /tmp

EXPOSE 8080
ENTRYPOINT ["gwwatch"]
CMD ["run"]
