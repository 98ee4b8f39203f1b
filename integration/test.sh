#!/usr/bin/env bash
# The project's test command (see README.md): checks the tree, prepares the caches the lab and
# the Kubernetes proof use (each built only when missing), then runs every test. As root, the
# lab tests run against real sshd/systemd hosts; otherwise they skip.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { echo "== $* ($(date -u +%H:%M:%S))"; }

if [ "$(id -u)" -eq 0 ]; then
	./integration/prereqs.sh # apt packages the lab and the tests need, only those missing
fi

step "go build, go vet"
go build ./...
go vet ./...
unformatted=$(gofmt -l . 2>/dev/null | grep -v '^vendor/' || true)
[ -z "$unformatted" ] || echo "warning: not gofmt'ed: $unformatted"

if [ "$(id -u)" -eq 0 ]; then
	step "lab rootfs cache"
	go run ./cmd/plan lab prepare
	if [ -z "${PLAN_SKIP_ARTIFACTS:-}" ]; then
		step "artifact cache (Kubernetes, etcd, containerd, runc, CNI, images)"
		# A failed component is reported here and again by the tests that need it.
		go run ./integration/artifacts/cmd/build-artifacts ||
			echo "warning: the artifact cache is incomplete; the tests that need it fail"
		# The upgrade proof's starting versions (a second Kubernetes build: ~10 min of both
		# cores on a cold cache), only when that proof is asked for.
		if [ "${PLAN_TEST_K8S_UPGRADE:-}" = 1 ]; then
			step "artifact cache: the versions the upgrade starts from"
			go run ./integration/artifacts/cmd/build-artifacts -previous ||
				echo "warning: the previous-version artifacts are incomplete; TestScratchUpgrade fails"
		fi
		# The cache was built here: its tests must not skip (a failed build fails them), and the
		# containerd smoke test runs.
		export PLAN_ARTIFACTS_REQUIRE=1 PLAN_ARTIFACTS_SMOKE=1
	fi
fi

# The race detector over everything that is not a lab test (the lab tests drive real sshd and
# systemd hosts; they run once, below, without it). 73 s on the 2-core machine with a warm build
# cache, about 6 min cold under heavy load.
step "go test -race (unit and in-process tests)"
go test -race -count=1 -timeout 20m -skip 'Lab|Containerd|ArtifactCache' \
	./bench ./builtin-plans ./cmd/plan ./dsl/... ./executor/... ./hosts/... ./internal/...

step "go test"
exec go test -timeout 60m -count=1 ./...
