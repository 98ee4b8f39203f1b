package artifacts

import (
	"context"
	_ "embed"
	"path/filepath"

	"github.com/plan-dev/plan/integration/artifacts/ociimage"
	"github.com/plan-dev/plan/integration/artifacts/scratchmod"
)

// The probe image is for tests only: the Kubernetes proof (integration/e2e_scratch_test.go)
// runs it in pods to check pod-to-pod traffic, DNS and Services, because the cluster's own
// images have no shell or client. It is deliberately not part of Components(): the scratch
// plan never pushes it, build-artifacts does not build it and versions.json does not list it.
// A test builds it with Builder.Build(ctx, []Component{ProbeComponent()}), which, as for
// every component, builds only when the tarball is missing.
const (
	// ProbeVersion follows the program's own version (probe/main.go).
	ProbeVersion = "v1"
	// ProbeImage is the reference the tarball is tagged with. The registry name is one that
	// cannot resolve, so a kubelet can only ever use the imported copy.
	ProbeImage = "plan.invalid/probe:" + ProbeVersion
)

//go:embed probe/main.go
var probeSource string

// ProbeComponent is the probe image: images/probe-VERSION.tar, one static Go binary /probe
// (serve, get, lookup; see probe/main.go) running as nobody.
func ProbeComponent() Component {
	return Component{
		Name: "probe", Version: ProbeVersion,
		Dir:    "images",
		Files:  []string{imageFile("probe", ProbeVersion)},
		Image:  &ImageInfo{Ref: ProbeImage, Entrypoint: []string{"/probe"}},
		Source: "integration/artifacts/probe (a static Go HTTP server and client for tests), one layer",
		build:  buildProbe,
	}
}

func buildProbe(ctx context.Context, bc buildContext, stage string) ([]string, error) {
	mod := scratchmod.Module{Path: "plan-artifacts/probe", GoVersion: goDirective, Mains: []string{"plan-artifacts/probe"},
		Files: map[string]string{"main.go": probeSource}}
	if err := mod.Prepare(ctx, bc.env, bc.workDir); err != nil {
		return nil, err
	}
	bin := filepath.Join(bc.workDir, "probe.bin")
	if err := bc.env.Run(ctx, bc.workDir, scratchmod.Build{Packages: []string{"plan-artifacts/probe"}, Out: bin, LDFlags: "-s -w"}); err != nil {
		return nil, err
	}
	return nil, saveImage(stage, ProbeComponent(), ociimage.Spec{
		Files: []ociimage.File{{Path: "/probe", Mode: 0o755, Source: bin}},
		Cmd:   []string{"serve"},
		User:  "65534:65534",
	})
}
