package artifacts

// The versions every artifact is built at. The scratch plan pins the same values (its
// variables), so a change here must go together with a change there. Each one carries the
// leading "v" exactly as upstream tags it, because the directory layout is keyed by it.
//
// How they were chosen (module proxy, November 2026): the newest patch release of each line
// that this machine can build from the Go module proxy.
const (
	// KubernetesVersion is the newest 1.36 patch release. v1.37.x exists on the proxy, but
	// 1.36.3 is the release measured building and running on this kind of machine (cgroup v1
	// hosts need failCgroupV1=false, which 1.36 still honours).
	KubernetesVersion = "v1.36.3"

	// KubernetesStagingVersion is the tag of the k8s.io/* staging modules (k8s.io/api, ...)
	// that belongs to KubernetesVersion: v1.X.Y ↔ v0.X.Y.
	KubernetesStagingVersion = "v0.36.3"

	// EtcdVersion is the newest 3.6 release (Kubernetes 1.36 supports 3.5.x and 3.6.x).
	EtcdVersion = "v3.6.16"

	// ContainerdVersion is the newest containerd 2 release.
	ContainerdVersion = "v2.4.2"

	// RuncVersion is the newest runc release.
	RuncVersion = "v1.5.3"

	// CNIPluginsVersion is the newest containernetworking/plugins release (bridge,
	// host-local, loopback, portmap, ...).
	CNIPluginsVersion = "v1.10.0"

	// FlannelCNIVersion is the version of the "flannel" CNI plugin binary. Upstream now ships
	// it from github.com/flannel-io/cni-plugin, which the module proxy here does not serve;
	// containernetworking/plugins v0.9.1 is the last release that still carried
	// plugins/meta/flannel, so the binary is built from there. It delegates to the bridge
	// plugin, which speaks CNI spec 0.3.1/0.4.0 as well as 1.x.
	FlannelCNIVersion = "v0.9.1"

	// FlannelVersion is the flanneld daemon (the flannel image).
	FlannelVersion = "v0.28.10"

	// CoreDNSVersion is the newest CoreDNS release (the coredns image).
	CoreDNSVersion = "v1.15.0"

	// PauseVersion is the tag of the pause image, the one Kubernetes 1.36 expects as its
	// sandbox image (registry.k8s.io/pause:3.10.1). Upstream tags pause without a "v".
	PauseVersion = "3.10.1"
)

// The versions the upgrade proof (integration TestScratchUpgrade) builds a cluster at before
// upgrading it to the versions above: the newest patch release of the previous Kubernetes
// minor (the version-skew policy allows one minor per upgrade), and the patch release before
// the pinned etcd and containerd ones. Built only on request (build-artifacts -previous).
const (
	PreviousKubernetesVersion        = "v1.35.4"
	PreviousKubernetesStagingVersion = "v0.35.4"
	PreviousEtcdVersion              = "v3.6.15"
	PreviousContainerdVersion        = "v2.4.1"
)

// Image names the scratch plan's manifests and containerd configuration refer to. The image
// tarballs are tagged with exactly these references so `ctr -n k8s.io images import` makes
// them resolvable without a registry.
const (
	PauseImage   = "registry.k8s.io/pause:" + PauseVersion
	FlannelImage = "ghcr.io/flannel-io/flannel:" + FlannelVersion
	CoreDNSImage = "registry.k8s.io/coredns/coredns:" + CoreDNSVersion
)
