# modelsync — build, test and run against a real local control plane.
#
#   make run           start a local control plane, install the CRDs, sync models-config/, show the result
#   make test          unit + integration tests (builds the control plane on first use)
#   make controlplane  build kube-apiserver and etcd from the pinned module in testdata/controlplane
#   make bench         benchmarks against kubectl on the same control plane
#   make image         the release image as an OCI tarball, without a Docker daemon (.cache/image/modelsync.tar)

SHELL := /bin/bash
GO    ?= go

CP_SRC     := testdata/controlplane
K8S_VERSION := $(shell awk '$$1=="k8s.io/kubernetes"{print $$2}' $(CP_SRC)/go.mod)
K8S_MINOR   := $(word 2,$(subst ., ,$(K8S_VERSION)))
# The cache is keyed by the pinned module's content: a new pin builds a new directory.
KWOK_SRC   := testdata/kwok
CP_KEY     := $(shell cat $(CP_SRC)/go.mod $(CP_SRC)/go.sum $(CP_SRC)/etcd/main.go $(KWOK_SRC)/go.mod $(KWOK_SRC)/go.sum | sha256sum | cut -c1-12)
CP_BIN     := $(CURDIR)/.cache/controlplane/$(K8S_VERSION)-$(CP_KEY)
CP_LDFLAGS := -s -w \
	-X k8s.io/component-base/version.gitVersion=$(K8S_VERSION) \
	-X k8s.io/component-base/version.gitMajor=1 \
	-X k8s.io/component-base/version.gitMinor=$(K8S_MINOR) \
	-X k8s.io/component-base/version.gitTreeState=clean \
	-X k8s.io/component-base/version.buildDate=1970-01-01T00:00:00Z

export KUBEBUILDER_ASSETS := $(CP_BIN)

.PHONY: all build test testtools controlplane run up down bench soak clean image

all: build

# The version and commit every build carries (modelsync version, and the
# ApplySet tooling annotation). Releases are tagged 0.2.0, as the CI/CD
# Catalog wants; the binary says v0.2.0, and v0.2.0-3-g<sha> past a tag.
TAG     ?= $(shell git describe --tags --match '[0-9]*.[0-9]*.[0-9]*' --dirty 2>/dev/null || echo 0.0.0-dev)
VERSION ?= v$(patsubst v%,%,$(TAG))
COMMIT  ?= $(shell git rev-parse HEAD 2>/dev/null || echo unknown)
LDFLAGS := -s -w -X modelsync.dev/modelsync/internal/buildinfo.version=$(VERSION) -X modelsync.dev/modelsync/internal/buildinfo.commit=$(COMMIT)

# A static, stripped binary: the same file runs on a laptop, in the image and in CI.
build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o bin/modelsync ./cmd/modelsync

# The release image: the static binary, a static busybox for the shell GitLab
# jobs need, and the CA bundle, assembled by crane without a Docker daemon.
# The release job pushes the tarball with `crane push`.
IMAGE     ?= registry.gitlab.com/modelsync/modelsync
IMAGE_TAG ?= $(TAG)
TOOLS     := $(CURDIR)/.cache/tools
CRANE     := $(TOOLS)/crane
CRANE_VERSION := v0.22.1

$(CRANE):
	GOBIN=$(TOOLS) $(GO) install github.com/google/go-containerregistry/cmd/crane@$(CRANE_VERSION)

image: build $(CRANE)
	CRANE=$(CRANE) ./scripts/image.sh bin/modelsync $(IMAGE):$(IMAGE_TAG) $(VERSION) $(COMMIT) .cache/image/modelsync.tar

# The local cluster: kube-apiserver and etcd, and for a live-like cluster
# kube-controller-manager and kube-scheduler from the same pinned module (same
# version stamp), kwok and its stages.
KWOK_STAGES := node/fast/node-initialize.yaml node/heartbeat/node-heartbeat.yaml pod/fast/pod-ready.yaml pod/fast/pod-complete.yaml pod/fast/pod-delete.yaml

controlplane: $(CP_BIN)/kube-apiserver

$(CP_BIN)/kube-apiserver:
	@echo "building kube-apiserver, kube-controller-manager, kube-scheduler $(K8S_VERSION), etcd and kwok into $(CP_BIN) (several minutes on a cold cache)"
	@mkdir -p $(CP_BIN).tmp
	cd $(CP_SRC) && for c in kube-apiserver kube-controller-manager kube-scheduler; do \
		CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(CP_LDFLAGS)' -o $(CP_BIN).tmp/$$c k8s.io/kubernetes/cmd/$$c || exit 1; done
	cd $(CP_SRC) && CGO_ENABLED=0 $(GO) build -trimpath -ldflags '-s -w' -o $(CP_BIN).tmp/etcd ./etcd
	cd $(KWOK_SRC) && CGO_ENABLED=0 $(GO) build -trimpath -ldflags '-s -w' -o $(CP_BIN).tmp/kwok sigs.k8s.io/kwok/cmd/kwok
	cd $(KWOK_SRC) && dir=$$($(GO) list -m -f '{{.Dir}}' sigs.k8s.io/kwok) && \
		for f in $(KWOK_STAGES); do cat $$dir/kustomize/stage/$$f; echo "---"; done > $(CP_BIN).tmp/kwok-stages.yaml
	@rm -rf $(CP_BIN) && mv $(CP_BIN).tmp $(CP_BIN)

# The pipeline test runs gitlab-ci-local, an npm package: node and npm are
# installed when missing (scripts/testtools.sh says what it does and why).
testtools:
	@./scripts/testtools.sh

test: controlplane testtools
	$(GO) vet ./...
	$(GO) test -count=1 -timeout 40m ./...

# The local control plane for people: `make up` starts it in the background and
# writes .cache/local/kubeconfig; `make down` stops it.
LOCAL      := $(CURDIR)/.cache/local
KUBECONFIG_LOCAL := $(LOCAL)/kubeconfig

up: controlplane
	@mkdir -p $(LOCAL)
	@if [ -f $(LOCAL)/pid ] && kill -0 $$(cat $(LOCAL)/pid) 2>/dev/null && [ -f $(KUBECONFIG_LOCAL) ]; then \
		echo "control plane already running (pid $$(cat $(LOCAL)/pid))"; \
	else \
		rm -f $(KUBECONFIG_LOCAL); \
		$(GO) build -o $(LOCAL)/controlplane ./cmd/controlplane && \
		(nohup $(LOCAL)/controlplane -kubeconfig $(KUBECONFIG_LOCAL) > $(LOCAL)/controlplane.log 2>&1 & echo $$! > $(LOCAL)/pid); \
		for i in $$(seq 1 180); do [ -f $(KUBECONFIG_LOCAL) ] && break; \
			kill -0 $$(cat $(LOCAL)/pid) 2>/dev/null || { cat $(LOCAL)/controlplane.log; exit 1; }; sleep 1; done; \
		[ -f $(KUBECONFIG_LOCAL) ] || { echo "control plane did not start; see $(LOCAL)/controlplane.log"; exit 1; }; \
		cat $(LOCAL)/controlplane.log; \
	fi
	@echo "export KUBECONFIG=$(KUBECONFIG_LOCAL)"

down:
	@if [ -f $(LOCAL)/pid ]; then kill $$(cat $(LOCAL)/pid) 2>/dev/null || true; \
		for i in $$(seq 1 30); do kill -0 $$(cat $(LOCAL)/pid) 2>/dev/null || break; sleep 1; done; \
		rm -f $(LOCAL)/pid; echo "control plane stopped"; fi

# make run: the main job on the embedded default. Starts the local cluster
# (kube-apiserver, etcd, controller-manager, scheduler, kwok GPU nodes; kept
# running, `make down` stops it), installs the fence policy for the namespace
# (modelsync rbac; waits until it refuses a stale token), syncs models-config/ into the runbook's
# namespace and waits for the rollout, and shows the result: what was
# applied, a diff that now finds nothing to do, and the status of every member.
RUN_NS ?= nrp-llm

run: up build
	@set -e; export KUBECONFIG=$(KUBECONFIG_LOCAL); \
	kubectl get namespace $(RUN_NS) >/dev/null 2>&1 || kubectl create namespace $(RUN_NS); \
	./bin/modelsync rbac -n $(RUN_NS) | kubectl apply -f - >/dev/null; \
	for i in $$(seq 1 30); do \
		printf 'apiVersion: v1\nkind: Secret\nmetadata:\n  name: modelsync\n  annotations: {modelsync.dev/fence: "modelsync-lock:stale/0"}\n' | \
			kubectl -n $(RUN_NS) apply --dry-run=server -f - 2>&1 | grep -q "modelsync fence" && break; sleep 1; done; \
	./bin/modelsync sync -n $(RUN_NS) --wait --timeout 3m; \
	./bin/modelsync diff -n $(RUN_NS); \
	./bin/modelsync status -n $(RUN_NS); \
	echo "The cluster is simulated (testdata/cluster/nrp.yaml): kube-controller-manager, kube-scheduler, and kwok for the GPU nodes."; \
	echo "control plane still running: export KUBECONFIG=$(KUBECONFIG_LOCAL); make down stops it"

clean: down
	rm -rf bin .cache/local

# Benchmarks: the no-op diff of ~400 and ~4000 objects against kubectl diff on
# the same control plane, and the load of a 1000-model tree; then whole
# processes of the built binary beside kubectl (first sync, no-op diff,
# --full, render), written to .cache/bench.json.
bench: controlplane
	$(GO) test -run '^$$' -bench . -benchtime 3x -timeout 60m ./diff
	$(GO) test -run '^$$' -bench . -benchmem ./tree/desired
	$(GO) test -run '^$$' -bench Fence -benchtime 200x ./sync
	MODELSYNC_BENCH_OUT=$(CURDIR)/.cache/bench.json $(GO) test -run '^$$' -bench BenchmarkProcess -benchtime 1x -timeout 60m ./cmd/modelsync

# The invariant soak (sync/soak_test.go): `make test` runs 3 seeds of 12 steps;
# this runs SOAK_SEEDS seeds of SOAK_STEPS steps. A failing seed prints its
# schedule; MODELSYNC_SOAK_SEED=<n> replays it.
SOAK_SEEDS ?= 50
SOAK_STEPS ?= 30

# The update soak (test/live/updatesoak_test.go) runs on the simulated
# cluster with the availability prober: UPDATE_SOAK_SEEDS seeds.
UPDATE_SOAK_SEEDS ?= 10

soak: controlplane
	MODELSYNC_SOAK_SEEDS=$(SOAK_SEEDS) MODELSYNC_SOAK_STEPS=$(SOAK_STEPS) $(GO) test -count=1 -run '^TestSoak$$' -v -timeout 120m ./sync | grep -E '^(---|    ---|ok|FAIL|.*soak:)'
	MODELSYNC_UPDATE_SOAK_SEEDS=$(UPDATE_SOAK_SEEDS) $(GO) test -count=1 -run '^TestUpdateSoak$$' -v -timeout 120m ./test/live | grep -E '^(---|    ---|ok|FAIL|.*soak:)'

