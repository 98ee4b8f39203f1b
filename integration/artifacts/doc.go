// Package artifacts builds the offline artifacts directory the scratch plan pushes to hosts in
// its air-gapped mode (the lab uses it; the machine reaches no container registry and no GitHub
// release): Kubernetes server binaries and kubectl, etcd and etcdctl, containerd, runc, the CNI
// plugins, and the pause, flannel and CoreDNS images, at the versions pinned in versions.go.
//
// Layout (VERSION with upstream's leading "v"):
//
//	DIR/kubernetes/VERSION/{kube-apiserver,kube-controller-manager,kube-scheduler,kubelet,kube-proxy,kubectl}
//	DIR/etcd/VERSION/{etcd,etcdctl}
//	DIR/containerd/VERSION/{containerd,containerd-shim-runc-v2,ctr}
//	DIR/runc/VERSION/runc
//	DIR/cni-plugins/VERSION/{bridge,host-local,loopback,portmap,flannel,...}
//	DIR/images/NAME-VERSION.tar   docker archives for `ctr -n k8s.io images import`
//	DIR/SHA256SUMS                sha256sum(1) format, paths relative to DIR
//	DIR/versions.json             versions, sources, sha256 of every file, image references
//
// Everything is built from source through the Go module proxy in scratch modules (package
// scratchmod), never in the project's go.mod; images are assembled without a registry with
// go-containerregistry (package ociimage). Debian's apt is used only for build dependencies
// (libseccomp-dev for runc) and for the iptables/nft userland inside the flannel image
// (package debpkg).
//
// A component is built only when one of its files is missing (or empty, or not executable),
// so re-runs are cheap and a version bump builds just the new directory. DIR defaults to
// /var/cache/plan-artifacts ($PLAN_ARTIFACTS_DIR); the scratch modules, GOCACHE, GOMODCACHE
// and per-component logs live in /var/cache/plan-artifacts-build ($PLAN_ARTIFACTS_WORK), so CI
// on the same machine reuses both. The command is
//
//	go run ./integration/artifacts/cmd/build-artifacts [-dir DIR] [-only kubernetes,etcd,images,...]
//
// # Tests
//
// The unit tests (image assembly from a tiny file, SHA256SUMS, "build only what is missing")
// are cheap and always run. TestArtifactCache checks a real artifacts directory: every file
// present and executable, SHA256SUMS matching, each image tarball tagged with its upstream
// name, linux/amd64, with the right entrypoint. It never starts the long build on its own:
//
//   - PLAN_ARTIFACTS_BUILD=1: it builds whatever is missing first (minutes cold, ~1 GB of
//     artifacts, ~4 GB of Go caches), then checks everything.
//   - otherwise, when DIR/versions.json exists: it checks the components that file records as
//     present at the pinned versions.
//   - otherwise it skips, saying how to build the cache.
//
// TestImagesRunInContainerd goes further and needs PLAN_ARTIFACTS_SMOKE=1, root and a complete
// cache: it starts the cache's own containerd (private socket, root and state in a temporary
// directory), imports every image with `ctr -n k8s.io images import --platform linux/amd64`
// as the scratch plan does, runs a program from each through the cache's shim and runc with
// seccomp on, and checks that pause exits on SIGTERM. About 10 s.
package artifacts
