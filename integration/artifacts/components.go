package artifacts

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/plan-dev/plan/integration/artifacts/scratchmod"
)

// goDirective is the go line of every scratch module: the machine's toolchain, never newer,
// so no toolchain download is ever attempted.
const goDirective = "1.26"

// Components lists every artifact at the pinned versions, in build order: the longest build
// first, so that an interrupted run has made the most progress.
func Components() []Component {
	return []Component{
		kubernetesComponent(KubernetesVersion, KubernetesStagingVersion),
		etcdComponent(EtcdVersion),
		containerdComponent(ContainerdVersion),
		runcComponent(),
		cniPluginsComponent(),
		pauseComponent(),
		flannelComponent(),
		corednsComponent(),
	}
}

// KubernetesBinaries are the programs of the kubernetes component.
var KubernetesBinaries = []string{"kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubelet", "kube-proxy", "kubectl"}

// PreviousComponents lists the components the upgrade proof starts from (the Previous*
// versions): a cluster built from these, then upgraded to Components' versions.
func PreviousComponents() []Component {
	return []Component{
		kubernetesComponent(PreviousKubernetesVersion, PreviousKubernetesStagingVersion),
		etcdComponent(PreviousEtcdVersion),
		containerdComponent(PreviousContainerdVersion),
	}
}

func kubernetesComponent(version, staging string) Component {
	return Component{
		Name: "kubernetes", Version: version,
		Dir:    "kubernetes/" + version,
		Files:  KubernetesBinaries,
		Source: fmt.Sprintf("Go module k8s.io/kubernetes %s with its k8s.io/* staging modules at %s, CGO_ENABLED=0", version, staging),
		build: func(ctx context.Context, bc buildContext, stage string) ([]string, error) {
			return buildKubernetes(ctx, bc, stage, version, staging)
		},
	}
}

func buildKubernetes(ctx context.Context, bc buildContext, stage, version, stagingVersion string) ([]string, error) {
	// Kubernetes' go.mod requires its staging modules at v0.0.0 and replaces them with
	// ./staging/src/...; in a scratch module those replaces are ignored, so each one must be
	// redirected to its published tag. The list comes from Kubernetes' own go.mod, so a new
	// staging module in a later release is picked up without a change here.
	staging, err := kubernetesStagingModules(ctx, bc, version)
	if err != nil {
		return nil, err
	}
	replace := map[string]string{}
	for _, m := range staging {
		replace[m] = m + " " + stagingVersion
	}
	var mains []string
	for _, b := range KubernetesBinaries {
		mains = append(mains, "k8s.io/kubernetes/cmd/"+b)
	}
	mod := scratchmod.Module{
		Path: "plan-artifacts/kubernetes", GoVersion: goDirective,
		Require: map[string]string{"k8s.io/kubernetes": version},
		Replace: replace,
		Mains:   mains,
	}
	if err := mod.Prepare(ctx, bc.env, bc.workDir); err != nil {
		return nil, err
	}
	minor := strings.Split(strings.TrimPrefix(version, "v"), ".")[1]
	vars := map[string]string{}
	// What hack/lib/version.sh stamps, so `kubectl version` and /version tell the truth.
	for _, pkg := range []string{"k8s.io/component-base/version", "k8s.io/client-go/pkg/version"} {
		vars[pkg+".gitVersion"] = version
		vars[pkg+".gitMajor"] = "1"
		vars[pkg+".gitMinor"] = minor
		vars[pkg+".gitTreeState"] = "clean"
	}
	err = bc.env.Run(ctx, bc.workDir, scratchmod.Build{Packages: mains, OutDir: stage, LDFlags: "-s -w " + ldflagsX(vars)})
	return []string{fmt.Sprintf("%d staging modules replaced with %s", len(staging), stagingVersion)}, err
}

// kubernetesStagingModules reads k8s.io/kubernetes' go.mod from the module proxy and returns
// every module it redirects to ./staging.
func kubernetesStagingModules(ctx context.Context, bc buildContext, version string) ([]string, error) {
	dl, err := bc.env.Download(ctx, "k8s.io/kubernetes", version)
	if err != nil {
		return nil, err
	}
	data, err := os.ReadFile(dl.GoMod)
	if err != nil {
		return nil, fmt.Errorf("read k8s.io/kubernetes go.mod: %w", err)
	}
	mods := ParseStagingReplaces(string(data))
	if len(mods) == 0 {
		return nil, fmt.Errorf("k8s.io/kubernetes %s go.mod redirects no module to ./staging", version)
	}
	return mods, nil
}

// ParseStagingReplaces returns the modules a go.mod replaces with a ./staging/ directory, one
// per "k8s.io/x => ./staging/src/k8s.io/x" line (inside or outside a replace block).
func ParseStagingReplaces(goMod string) []string {
	var mods []string
	for _, line := range strings.Split(goMod, "\n") {
		line = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(line), "replace "))
		old, target, ok := strings.Cut(line, "=>")
		if !ok || !strings.HasPrefix(strings.TrimSpace(target), "./staging/") {
			continue
		}
		fields := strings.Fields(old)
		if len(fields) >= 1 {
			mods = append(mods, fields[0])
		}
	}
	return mods
}

func etcdComponent(version string) Component {
	return Component{
		Name: "etcd", Version: version,
		Dir:    "etcd/" + version,
		Files:  []string{"etcd", "etcdctl"},
		Source: fmt.Sprintf("Go modules go.etcd.io/etcd/server/v3 and go.etcd.io/etcd/etcdctl/v3 %s, CGO_ENABLED=0", version),
		build: func(ctx context.Context, bc buildContext, stage string) ([]string, error) {
			return buildEtcd(ctx, bc, stage, version)
		},
	}
}

// etcdMain is etcd's own main.go: the etcd binary lives in the root module go.etcd.io/etcd/v3,
// whose go.mod replaces its sibling modules with local paths, so it cannot be required from
// the proxy; the server library it wraps can.
const etcdMain = `// Command etcd is etcd's main package, as in the etcd repository's root module.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() {
	etcdmain.Main(os.Args)
}
`

func buildEtcd(ctx context.Context, bc buildContext, stage, version string) ([]string, error) {
	mod := scratchmod.Module{
		Path: "plan-artifacts/etcd", GoVersion: goDirective,
		Require: map[string]string{
			"go.etcd.io/etcd/server/v3":  version,
			"go.etcd.io/etcd/etcdctl/v3": version,
			// etcd's modules replace these with local paths in their own go.mod; pin them
			// to the same release here.
			"go.etcd.io/etcd/api/v3":        version,
			"go.etcd.io/etcd/client/pkg/v3": version,
			"go.etcd.io/etcd/client/v3":     version,
			"go.etcd.io/etcd/pkg/v3":        version,
		},
		Mains: []string{"go.etcd.io/etcd/server/v3/etcdmain", "go.etcd.io/etcd/etcdctl/v3"},
		Files: map[string]string{"cmd/etcd/main.go": etcdMain},
	}
	if err := mod.Prepare(ctx, bc.env, bc.workDir); err != nil {
		return nil, err
	}
	ld := "-s -w -X go.etcd.io/etcd/api/v3/version.GitSHA=" + version
	if err := bc.env.Run(ctx, bc.workDir, scratchmod.Build{Packages: []string{"plan-artifacts/etcd/cmd/etcd"}, Out: filepath.Join(stage, "etcd"), LDFlags: ld}); err != nil {
		return nil, err
	}
	return nil, bc.env.Run(ctx, bc.workDir, scratchmod.Build{Packages: []string{"go.etcd.io/etcd/etcdctl/v3"}, Out: filepath.Join(stage, "etcdctl"), LDFlags: ld})
}

func containerdComponent(version string) Component {
	return Component{
		Name: "containerd", Version: version,
		Dir:    "containerd/" + version,
		Files:  []string{"containerd", "containerd-shim-runc-v2", "ctr"},
		Source: fmt.Sprintf("Go module github.com/containerd/containerd/v2 %s, CGO_ENABLED=0, tags no_btrfs,no_devmapper", version),
		build: func(ctx context.Context, bc buildContext, stage string) ([]string, error) {
			return buildContainerd(ctx, bc, stage, version)
		},
	}
}

func buildContainerd(ctx context.Context, bc buildContext, stage, version string) ([]string, error) {
	const m = "github.com/containerd/containerd/v2"
	mains := []string{m + "/cmd/containerd", m + "/cmd/containerd-shim-runc-v2", m + "/cmd/ctr"}
	mod := scratchmod.Module{Path: "plan-artifacts/containerd", GoVersion: goDirective, Require: map[string]string{m: version}, Mains: mains}
	if err := mod.Prepare(ctx, bc.env, bc.workDir); err != nil {
		return nil, err
	}
	ld := "-s -w " + ldflagsX(map[string]string{
		m + "/version.Version":  version,
		m + "/version.Package":  "github.com/containerd/containerd",
		m + "/version.Revision": version,
	})
	// btrfs and devmapper snapshotters need cgo and C libraries; overlayfs is what the
	// plan uses.
	return []string{"snapshotters btrfs and devmapper left out (no cgo)"},
		bc.env.Run(ctx, bc.workDir, scratchmod.Build{Packages: mains, OutDir: stage, Tags: []string{"no_btrfs", "no_devmapper"}, LDFlags: ld})
}

func runcComponent() Component {
	return Component{
		Name: "runc", Version: RuncVersion,
		Dir:    "runc/" + RuncVersion,
		Files:  []string{"runc"},
		Source: fmt.Sprintf("Go module github.com/opencontainers/runc %s, cgo, static, with seccomp (Debian's libseccomp-dev)", RuncVersion),
		build:  buildRunc,
	}
}

func buildRunc(ctx context.Context, bc buildContext, stage string) ([]string, error) {
	// runc's nsenter is C, so cgo is required; seccomp support (needed for the RuntimeDefault
	// profile Kubernetes pods ask for) links libseccomp, statically so the binary runs on any
	// host.
	if err := ensureDebianPackages(ctx, bc, map[string]string{
		"/usr/include/seccomp.h":                 "libseccomp-dev",
		"/usr/lib/x86_64-linux-gnu/libseccomp.a": "libseccomp-dev",
		"/usr/bin/gcc":                           "gcc",
		"/usr/bin/pkg-config":                    "pkgconf",
		"/usr/lib/x86_64-linux-gnu/libc.a":       "libc6-dev",
	}); err != nil {
		return nil, err
	}
	const m = "github.com/opencontainers/runc"
	mod := scratchmod.Module{Path: "plan-artifacts/runc", GoVersion: goDirective, Require: map[string]string{m: RuncVersion}, Mains: []string{m}}
	if err := mod.Prepare(ctx, bc.env, bc.workDir); err != nil {
		return nil, err
	}
	ld := "-s -w -extldflags -static -X main.version=" + strings.TrimPrefix(RuncVersion, "v") + " -X main.gitCommit=" + RuncVersion
	err := bc.env.Run(ctx, bc.workDir, scratchmod.Build{
		Packages: []string{m}, Out: filepath.Join(stage, "runc"), CGO: true,
		Tags:    []string{"seccomp", "urfave_cli_no_docs", "netgo", "osusergo"},
		LDFlags: ld,
	})
	return []string{"static, seccomp enabled"}, err
}

// CNIPlugins are the plugins built from containernetworking/plugins (every Linux plugin of
// the release); "flannel" is added from FlannelCNIVersion.
var CNIPlugins = []string{
	"main/bridge", "main/dummy", "main/host-device", "main/ipvlan", "main/loopback", "main/macvlan", "main/ptp", "main/tap", "main/vlan",
	"ipam/dhcp", "ipam/host-local", "ipam/static",
	"meta/bandwidth", "meta/firewall", "meta/portmap", "meta/sbr", "meta/tuning", "meta/vrf",
}

func cniPluginsComponent() Component {
	var files []string
	for _, p := range CNIPlugins {
		files = append(files, filepath.Base(p))
	}
	files = append(files, "flannel")
	return Component{
		Name: "cni-plugins", Version: CNIPluginsVersion,
		Dir:   "cni-plugins/" + CNIPluginsVersion,
		Files: files,
		Source: fmt.Sprintf("Go module github.com/containernetworking/plugins %s; the flannel plugin from containernetworking/plugins %s (plugins/meta/flannel; github.com/flannel-io/cni-plugin is not on the module proxy here)",
			CNIPluginsVersion, FlannelCNIVersion),
		build: buildCNIPlugins,
	}
}

func buildCNIPlugins(ctx context.Context, bc buildContext, stage string) ([]string, error) {
	const m = "github.com/containernetworking/plugins"
	var mains []string
	for _, p := range CNIPlugins {
		mains = append(mains, m+"/plugins/"+p)
	}
	mod := scratchmod.Module{Path: "plan-artifacts/cni-plugins", GoVersion: goDirective, Require: map[string]string{m: CNIPluginsVersion}, Mains: mains}
	if err := mod.Prepare(ctx, bc.env, filepath.Join(bc.workDir, "plugins")); err != nil {
		return nil, err
	}
	ld := "-s -w -X " + m + "/pkg/utils/buildversion.BuildVersion=" + CNIPluginsVersion
	if err := bc.env.Run(ctx, filepath.Join(bc.workDir, "plugins"), scratchmod.Build{Packages: mains, OutDir: stage, LDFlags: ld}); err != nil {
		return nil, err
	}
	// The flannel plugin: a separate scratch module, since it needs an older release of the
	// same module.
	flannel := m + "/plugins/meta/flannel"
	fmod := scratchmod.Module{Path: "plan-artifacts/flannel-cni", GoVersion: goDirective, Require: map[string]string{m: FlannelCNIVersion}, Mains: []string{flannel}}
	if err := fmod.Prepare(ctx, bc.env, filepath.Join(bc.workDir, "flannel")); err != nil {
		return nil, err
	}
	fld := "-s -w -X " + m + "/pkg/utils/buildversion.BuildVersion=" + FlannelCNIVersion
	err := bc.env.Run(ctx, filepath.Join(bc.workDir, "flannel"), scratchmod.Build{Packages: []string{flannel}, Out: filepath.Join(stage, "flannel"), LDFlags: fld})
	return []string{"flannel plugin built from containernetworking/plugins " + FlannelCNIVersion}, err
}
