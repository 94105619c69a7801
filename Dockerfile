# The operator image: `llmservice-operator run` as a non-root user.
# Build from the repository root: docker build -t llmservice-operator:0.1.0 .
# The base is a build argument only so that the test kit can build this file where no
# registry can be reached (on a base assembled from Debian's packages); everyone else
# builds from the official image named here.
ARG BASE_IMAGE=python:3.11.14-slim-bookworm
FROM ${BASE_IMAGE}

# MALLOC_ARENA_MAX: the operator's API threads would each get a malloc arena of their
# own, and memory freed in one is not reused by the others; two arenas keep the resident
# size some 10 MB lower at a thousand LLMServices (benchmarks/operator_scale.py runs the
# operator with the same setting).
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    MALLOC_ARENA_MAX=2

WORKDIR /app
# Dependencies are pinned in pyproject.toml; only the runtime ones are installed here: not
# the `render` extra (the operator trusts the API server's admission and evaluates no CEL),
# and not the test kit (testkit/, a distribution of its own).
COPY pyproject.toml README.md ./
COPY operator/ ./operator/
# The user is not called "operator": Debian already has a group of that name (gid 37), and
# useradd refuses to make a user whose own group would clash with it.
RUN pip install --no-compile . \
    && useradd --uid 65532 --no-create-home --shell /usr/sbin/nologin llmservice

USER 65532:65532
# Liveness (/healthz) and Prometheus metrics (/metrics).
EXPOSE 8080 9090
ENTRYPOINT ["llmservice-operator"]
CMD ["run"]
