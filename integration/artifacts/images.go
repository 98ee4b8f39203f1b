package artifacts

import (
	"context"
	_ "embed"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/plan-dev/plan/integration/artifacts/debpkg"
	"github.com/plan-dev/plan/integration/artifacts/ociimage"
	"github.com/plan-dev/plan/integration/artifacts/scratchmod"
)

//go:embed pause/main.go
var pauseSource string

// imageFile is the tarball name of an image: images/NAME-VERSION.tar.
func imageFile(name, version string) string { return name + "-" + version + ".tar" }

// defaultPath is the PATH of every image, as in Debian.
const defaultPath = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

func pauseComponent() Component {
	return Component{
		Name: "pause", Version: PauseVersion,
		Dir:    "images",
		Files:  []string{imageFile("pause", PauseVersion)},
		Image:  &ImageInfo{Ref: PauseImage, Entrypoint: []string{"/pause"}},
		Source: "integration/artifacts/pause (a static Go program that waits for SIGTERM and reaps children), one layer",
		build:  buildPause,
	}
}

func buildPause(ctx context.Context, bc buildContext, stage string) ([]string, error) {
	mod := scratchmod.Module{Path: "plan-artifacts/pause", GoVersion: goDirective, Mains: []string{"plan-artifacts/pause"},
		Files: map[string]string{"main.go": pauseSource}}
	if err := mod.Prepare(ctx, bc.env, bc.workDir); err != nil {
		return nil, err
	}
	bin := filepath.Join(bc.workDir, "pause.bin")
	if err := bc.env.Run(ctx, bc.workDir, scratchmod.Build{Packages: []string{"plan-artifacts/pause"}, Out: bin, LDFlags: "-s -w"}); err != nil {
		return nil, err
	}
	return nil, saveImage(stage, pauseComponent(), ociimage.Spec{
		Files: []ociimage.File{{Path: "/pause", Mode: 0o755, Source: bin}},
		// Upstream's pause image runs as nobody's 65535 too.
		User: "65535:65535",
	})
}

func corednsComponent() Component {
	return Component{
		Name: "coredns", Version: CoreDNSVersion,
		Dir:    "images",
		Files:  []string{imageFile("coredns", CoreDNSVersion)},
		Image:  &ImageInfo{Ref: CoreDNSImage, Entrypoint: []string{"/coredns"}},
		Source: fmt.Sprintf("Go module github.com/coredns/coredns %s (the default plugin set), CGO_ENABLED=0, one layer", CoreDNSVersion),
		build:  buildCoreDNS,
	}
}

func buildCoreDNS(ctx context.Context, bc buildContext, stage string) ([]string, error) {
	const m = "github.com/coredns/coredns"
	mod := scratchmod.Module{Path: "plan-artifacts/coredns", GoVersion: goDirective, Require: map[string]string{m: CoreDNSVersion}, Mains: []string{m}}
	if err := mod.Prepare(ctx, bc.env, bc.workDir); err != nil {
		return nil, err
	}
	bin := filepath.Join(bc.workDir, "coredns.bin")
	if err := bc.env.Run(ctx, bc.workDir, scratchmod.Build{Packages: []string{m}, Out: bin, LDFlags: "-s -w -X " + m + "/coremain.GitCommit=" + CoreDNSVersion}); err != nil {
		return nil, err
	}
	return []string{"runs as root (no file capability on /coredns as upstream sets); the manifest's NET_BIND_SERVICE suffices"},
		saveImage(stage, corednsComponent(), ociimage.Spec{
			Files:        []ociimage.File{{Path: "/coredns", Mode: 0o755, Source: bin}, {Path: "/etc/coredns", Dir: true, Mode: 0o755}},
			ExposedPorts: []string{"53/tcp", "53/udp"},
		})
}

// FlannelDebianPackages are the Debian packages whose files go into the flannel image: flanneld
// runs iptables, iptables-restore and (with EnableNFTables) nft at run time, as upstream's
// Alpine-based image provides. The list is the closure of their run-time dependencies in
// Debian 12; the build checks that the programs start inside the assembled tree.
var FlannelDebianPackages = []string{
	"iptables", "libip4tc2", "libip6tc2", "libxtables12", "libnetfilter-conntrack3", "libnfnetlink0", "libnftnl11", "libmnl0",
	"nftables", "libnftables1", "libjansson4", "libgmp10", "libedit2", "libbsd0", "libmd0", "libtinfo6",
	"libc6", "libgcc-s1", "netbase",
}

func flannelComponent() Component {
	return Component{
		Name: "flannel", Version: FlannelVersion,
		Dir:   "images",
		Files: []string{imageFile("flannel", FlannelVersion)},
		Image: &ImageInfo{Ref: FlannelImage, Entrypoint: []string{"/opt/bin/flanneld"}},
		Source: fmt.Sprintf("Go module github.com/flannel-io/flannel %s (flanneld static with cgo as upstream, install-conf) plus iptables (nft backend) and nft from Debian 12 packages, one layer",
			FlannelVersion),
		build: buildFlannel,
	}
}

func buildFlannel(ctx context.Context, bc buildContext, stage string) ([]string, error) {
	const m = "github.com/flannel-io/flannel"
	// flanneld's main package imports the Tencent VPC backend, whose SDK module the module
	// proxy here does not serve; the scratch module builds flannel's main.go without that one
	// import (the backend is for Tencent Cloud only; vxlan, host-gw, wireguard are intact).
	dl, err := bc.env.Download(ctx, m, FlannelVersion)
	if err != nil {
		return nil, err
	}
	upstreamMain, err := os.ReadFile(filepath.Join(dl.Dir, "main.go"))
	if err != nil {
		return nil, fmt.Errorf("read flannel main.go: %w", err)
	}
	flanneldMain, dropped := DropImports(string(upstreamMain), FlannelDroppedImports)
	mains := []string{"plan-artifacts/flannel/cmd/flanneld", m + "/cmd/install_conf"}
	mod := scratchmod.Module{Path: "plan-artifacts/flannel", GoVersion: goDirective, Require: map[string]string{m: FlannelVersion}, Mains: mains,
		Files: map[string]string{"cmd/flanneld/main.go": flanneldMain}}
	if err := mod.Prepare(ctx, bc.env, bc.workDir); err != nil {
		return nil, err
	}
	root := filepath.Join(bc.workDir, "rootfs")
	if err := os.RemoveAll(root); err != nil {
		return nil, err
	}
	ld := "-s -w -X " + m + "/pkg/version.Version=" + FlannelVersion
	// As upstream's Makefile on amd64: cgo on (the UDP backend's proxy is C), linked
	// statically so the image needs no libc for flanneld itself.
	if err := bc.env.Run(ctx, bc.workDir, scratchmod.Build{Packages: []string{mains[0]}, Out: filepath.Join(root, "opt/bin/flanneld"), CGO: true,
		Tags: []string{"netgo", "osusergo"}, LDFlags: ld + " -extldflags -static"}); err != nil {
		return nil, err
	}
	if err := bc.env.Run(ctx, bc.workDir, scratchmod.Build{Packages: []string{m + "/cmd/install_conf"}, Out: filepath.Join(root, "opt/bin/install-conf"), LDFlags: ld}); err != nil {
		return nil, err
	}
	debs, err := debpkg.Unpack(ctx, bc.log, bc.workDir, root, FlannelDebianPackages)
	if err != nil {
		return nil, err
	}
	if err := trimDebianTree(root); err != nil {
		return nil, err
	}
	if err := checkInTree(ctx, bc, root, []string{"/usr/sbin/iptables", "--version"}, []string{"/usr/sbin/iptables-restore", "--version"}, []string{"/usr/sbin/nft", "--version"}); err != nil {
		return nil, err
	}
	files, err := ociimage.FilesFromTree(root, "/")
	if err != nil {
		return nil, err
	}
	notes := []string{fmt.Sprintf("flanneld built without the import(s) %v (module not on the proxy)", dropped), "iptables uses the nf_tables backend (iptables-nft); Debian packages: " + strings.Join(debs, " ")}
	return notes, saveImage(stage, flannelComponent(), ociimage.Spec{Files: files, Env: []string{defaultPath}})
}

// trimDebianTree drops what an image does not need from unpacked packages and makes the
// links Debian's maintainer scripts (update-alternatives) would have made.
func trimDebianTree(root string) error {
	for _, p := range []string{"usr/share/doc", "usr/share/man", "usr/share/info", "usr/share/locale", "usr/share/lintian", "usr/share/bug", "usr/lib/x86_64-linux-gnu/gconv"} {
		if err := os.RemoveAll(filepath.Join(root, p)); err != nil {
			return err
		}
	}
	for _, name := range []string{"iptables", "iptables-save", "iptables-restore", "ip6tables", "ip6tables-save", "ip6tables-restore"} {
		link := filepath.Join(root, "usr/sbin", name)
		os.Remove(link)
		if err := os.Symlink("xtables-nft-multi", link); err != nil {
			return err
		}
	}
	return os.MkdirAll(filepath.Join(root, "run/flannel"), 0o755)
}

// checkInTree runs each command inside root with chroot, to prove the image's dynamic
// programs find their libraries. Without root privileges the check is skipped (and said so).
func checkInTree(ctx context.Context, bc buildContext, root string, cmds ...[]string) error {
	if os.Geteuid() != 0 {
		fmt.Fprintln(bc.log, "not root: skipping the chroot check of the image's programs")
		return nil
	}
	for _, c := range cmds {
		cmd := exec.CommandContext(ctx, "chroot", append([]string{root}, c...)...)
		cmd.Env = []string{defaultPath}
		out, err := cmd.CombinedOutput()
		fmt.Fprintf(bc.log, "+ chroot %s %s\n%s", root, strings.Join(c, " "), out)
		if err != nil {
			return fmt.Errorf("%s does not run inside the image tree: %w: %s", strings.Join(c, " "), err, out)
		}
	}
	return nil
}

func saveImage(stage string, c Component, s ociimage.Spec) error {
	s.Ref = c.Image.Ref
	s.Entrypoint = c.Image.Entrypoint
	if s.Env == nil {
		s.Env = []string{defaultPath}
	}
	img, err := ociimage.Build(s)
	if err != nil {
		return err
	}
	return ociimage.Save(filepath.Join(stage, c.Files[0]), s.Ref, img)
}

// FlannelDroppedImports are the imports of flannel's main.go the build leaves out: blank
// imports of backends whose dependencies the module proxy does not serve.
var FlannelDroppedImports = []string{"github.com/flannel-io/flannel/pkg/backend/tencentvpc"}

// DropImports removes the import lines of the given paths from Go source and returns the new
// source and which paths it found.
func DropImports(src string, paths []string) (string, []string) {
	var out []string
	var dropped []string
	for _, line := range strings.Split(src, "\n") {
		keep := true
		for _, p := range paths {
			f := strings.Fields(line)
			if len(f) >= 1 && strings.Trim(f[len(f)-1], "\"") == p && strings.HasSuffix(f[len(f)-1], "\"") {
				keep = false
				dropped = append(dropped, p)
			}
		}
		if keep {
			out = append(out, line)
		}
	}
	return strings.Join(out, "\n"), dropped
}
