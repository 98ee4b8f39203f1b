package artifacts

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// fakeComponent is a component whose "build" writes tiny files and counts how often it ran.
func fakeComponent(name string, files []string, runs *int) Component {
	return Component{
		Name: name, Version: "v1.0.0", Dir: name + "/v1.0.0", Files: files, Source: "test",
		build: func(ctx context.Context, bc buildContext, stage string) ([]string, error) {
			*runs++
			for _, f := range files {
				if err := os.WriteFile(filepath.Join(stage, f), []byte("#!/bin/true\n"), 0o600); err != nil {
					return nil, err
				}
			}
			return []string{"fake"}, nil
		},
	}
}

func TestBuildOnlyWhatIsMissing(t *testing.T) {
	dir, work := t.TempDir(), t.TempDir()
	var aRuns, bRuns int
	a := fakeComponent("alpha", []string{"one", "two"}, &aRuns)
	b := fakeComponent("beta", []string{"three"}, &bRuns)
	builder := &Builder{Dir: dir, WorkDir: work}

	results, err := builder.Build(context.Background(), []Component{a, b})
	if err != nil {
		t.Fatal(err)
	}
	if aRuns != 1 || bRuns != 1 {
		t.Fatalf("first build ran alpha %d, beta %d times; want 1 each", aRuns, bRuns)
	}
	for _, r := range results {
		if r.Cached {
			t.Errorf("%s reported cached on an empty directory", r.Component)
		}
	}
	info, err := os.Stat(filepath.Join(dir, "alpha/v1.0.0/one"))
	if err != nil || info.Mode().Perm()&0o111 == 0 {
		t.Fatalf("installed binary: %v, mode %v; want executable", err, info.Mode())
	}

	// Nothing missing: nothing built.
	if _, err := builder.Build(context.Background(), []Component{a, b}); err != nil {
		t.Fatal(err)
	}
	if aRuns != 1 || bRuns != 1 {
		t.Fatalf("second build ran alpha %d, beta %d times; want no new builds", aRuns, bRuns)
	}

	// One file of alpha gone (or no longer executable): only alpha is built again.
	if err := os.Chmod(filepath.Join(dir, "alpha/v1.0.0/two"), 0o644); err != nil {
		t.Fatal(err)
	}
	missing, err := Missing(dir, []Component{a, b})
	if err != nil {
		t.Fatal(err)
	}
	if got := Names(missing); !reflect.DeepEqual(got, []string{"alpha"}) {
		t.Fatalf("Missing = %v, want [alpha]", got)
	}
	if _, err := builder.Build(context.Background(), []Component{a, b}); err != nil {
		t.Fatal(err)
	}
	if aRuns != 2 || bRuns != 1 {
		t.Fatalf("third build ran alpha %d, beta %d times; want alpha rebuilt only", aRuns, bRuns)
	}

	// A new version is a new directory: built although the old one is present.
	a2 := fakeComponent("alpha", []string{"one", "two"}, &aRuns)
	a2.Version, a2.Dir = "v1.1.0", "alpha/v1.1.0"
	if ok, _ := Present(dir, a2); ok {
		t.Fatal("a new version counts as present")
	}
}

func TestBuildFailureKeepsGoingAndInstallsNothingPartial(t *testing.T) {
	dir, work := t.TempDir(), t.TempDir()
	var runs int
	bad := fakeComponent("bad", []string{"made", "never-made"}, &runs)
	bad.build = func(ctx context.Context, bc buildContext, stage string) ([]string, error) {
		return nil, os.WriteFile(filepath.Join(stage, "made"), []byte("x"), 0o755)
	}
	good := fakeComponent("good", []string{"ok"}, &runs)
	_, err := (&Builder{Dir: dir, WorkDir: work}).Build(context.Background(), []Component{bad, good})
	if err == nil || !strings.Contains(err.Error(), "never-made") {
		t.Fatalf("err = %v, want a failure naming the missing output", err)
	}
	if ok, _ := Present(dir, good); !ok {
		t.Error("a failed component stopped the next one")
	}
	if ok, _ := Present(dir, bad); ok {
		t.Error("a failed component counts as present")
	}
}

func TestSelect(t *testing.T) {
	all := Components()
	sel, err := Select(all, []string{"etcd", "images"})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := Names(sel), []string{"etcd", "pause", "flannel", "coredns"}; !reflect.DeepEqual(got, want) {
		t.Errorf("Select(etcd,images) = %v, want %v", got, want)
	}
	if _, err := Select(all, []string{"kubernetez"}); err == nil {
		t.Error("an unknown name was accepted")
	}
	if sel, _ := Select(all, nil); len(sel) != len(all) {
		t.Error("no names did not select everything")
	}
}

func TestLayoutMatchesThePlansExpectations(t *testing.T) {
	want := map[string][]string{
		"kubernetes":  {"kubernetes/" + KubernetesVersion + "/kube-apiserver", "kubernetes/" + KubernetesVersion + "/kubectl"},
		"etcd":        {"etcd/" + EtcdVersion + "/etcd", "etcd/" + EtcdVersion + "/etcdctl"},
		"containerd":  {"containerd/" + ContainerdVersion + "/containerd", "containerd/" + ContainerdVersion + "/containerd-shim-runc-v2", "containerd/" + ContainerdVersion + "/ctr"},
		"runc":        {"runc/" + RuncVersion + "/runc"},
		"cni-plugins": {"cni-plugins/" + CNIPluginsVersion + "/bridge", "cni-plugins/" + CNIPluginsVersion + "/host-local", "cni-plugins/" + CNIPluginsVersion + "/loopback", "cni-plugins/" + CNIPluginsVersion + "/portmap", "cni-plugins/" + CNIPluginsVersion + "/flannel"},
		"pause":       {"images/pause-" + PauseVersion + ".tar"},
		"flannel":     {"images/flannel-" + FlannelVersion + ".tar"},
		"coredns":     {"images/coredns-" + CoreDNSVersion + ".tar"},
	}
	for _, c := range Components() {
		paths := map[string]bool{}
		for _, p := range c.Paths() {
			paths[p] = true
		}
		for _, p := range want[c.Name] {
			if !paths[p] {
				t.Errorf("%s lacks %s (has %v)", c.Name, p, c.Paths())
			}
		}
		delete(want, c.Name)
		if !strings.HasPrefix(c.Version, "v") && c.Name != "pause" {
			t.Errorf("%s version %q lacks the upstream leading v", c.Name, c.Version)
		}
	}
	for name := range want {
		t.Errorf("no component %s", name)
	}
}

func TestParseStagingReplaces(t *testing.T) {
	goMod := `module k8s.io/kubernetes

require k8s.io/api v0.0.0

replace (
	k8s.io/api => ./staging/src/k8s.io/api
	k8s.io/kubectl => ./staging/src/k8s.io/kubectl
	github.com/other/x => github.com/other/x v1.0.0
)

replace k8s.io/cri-api => ./staging/src/k8s.io/cri-api
`
	got := ParseStagingReplaces(goMod)
	if want := []string{"k8s.io/api", "k8s.io/kubectl", "k8s.io/cri-api"}; !reflect.DeepEqual(got, want) {
		t.Errorf("ParseStagingReplaces = %v, want %v", got, want)
	}
}

func TestDropImports(t *testing.T) {
	src := "package main\n\nimport (\n\t\"os\"\n\t_ \"example.com/x/backend/tencentvpc\"\n\t_ \"example.com/x/backend/vxlan\"\n)\n"
	got, dropped := DropImports(src, []string{"example.com/x/backend/tencentvpc"})
	want := "package main\n\nimport (\n\t\"os\"\n\t_ \"example.com/x/backend/vxlan\"\n)\n"
	if got != want || len(dropped) != 1 {
		t.Errorf("DropImports =\n%s\ndropped %v", got, dropped)
	}
}

// The upgrade proof starts one Kubernetes minor below the pinned one (the most the
// version-skew policy lets one upgrade move) and from older etcd and containerd patch
// releases of the same lines, each installed in its own directory next to the pinned one.
func TestPreviousComponentsAreOneStepBehind(t *testing.T) {
	current := map[string]Component{}
	for _, c := range Components() {
		current[c.Name] = c
	}
	minor := func(v string) (string, int) {
		parts := strings.Split(strings.TrimPrefix(v, "v"), ".")
		if len(parts) != 3 {
			t.Fatalf("version %q is not vX.Y.Z", v)
		}
		n := 0
		fmt.Sscan(parts[1], &n)
		return parts[0], n
	}
	for _, p := range PreviousComponents() {
		c, ok := current[p.Name]
		if !ok {
			t.Fatalf("previous component %s is not a pinned component", p.Name)
		}
		if p.Dir == c.Dir || p.Version == c.Version {
			t.Errorf("%s: previous %s shares the pinned version or directory %s", p.Name, p.Version, c.Dir)
		}
		if !reflect.DeepEqual(p.Files, c.Files) {
			t.Errorf("%s: previous files %v, pinned %v", p.Name, p.Files, c.Files)
		}
		pm, pn := minor(p.Version)
		cm, cn := minor(c.Version)
		switch {
		case pm != cm:
			t.Errorf("%s: previous %s and pinned %s differ in major version", p.Name, p.Version, c.Version)
		case p.Name == "kubernetes" && pn != cn-1:
			t.Errorf("kubernetes: previous %s is not one minor below %s", p.Version, c.Version)
		case p.Name != "kubernetes" && (pn != cn || p.Version >= c.Version):
			t.Errorf("%s: previous %s is not an older patch of %s", p.Name, p.Version, c.Version)
		}
	}
	if !strings.HasSuffix(PreviousKubernetesStagingVersion, strings.TrimPrefix(PreviousKubernetesVersion, "v1")) {
		t.Errorf("staging %s does not belong to %s", PreviousKubernetesStagingVersion, PreviousKubernetesVersion)
	}
}
