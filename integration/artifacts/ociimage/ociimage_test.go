package ociimage

import (
	"archive/tar"
	"errors"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

func TestBuildSaveLoadRoundTrip(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "tiny")
	if err := os.WriteFile(bin, []byte("#!/bin/sh\nexit 0\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	const ref = "registry.example/tiny/tool:v1.2.3"
	img, err := Build(Spec{
		Ref:          ref,
		Files:        []File{{Path: "/opt/bin/tiny", Mode: 0o755, Source: bin}, {Path: "/bin/t", Link: "/opt/bin/tiny"}},
		Entrypoint:   []string{"/opt/bin/tiny"},
		Cmd:          []string{"--flag"},
		ExposedPorts: []string{"53/udp"},
	})
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, "tiny.tar")
	if err := Save(file, ref, img); err != nil {
		t.Fatal(err)
	}
	tags, err := Tags(file)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(tags, []string{ref}) {
		t.Errorf("tags = %v, want [%s]", tags, ref)
	}
	back, err := Load(file, ref)
	if err != nil {
		t.Fatal(err)
	}
	cf, err := back.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if cf.OS != "linux" || cf.Architecture != "amd64" {
		t.Errorf("platform = %s/%s, want linux/amd64", cf.OS, cf.Architecture)
	}
	if !reflect.DeepEqual(cf.Config.Entrypoint, []string{"/opt/bin/tiny"}) || !reflect.DeepEqual(cf.Config.Cmd, []string{"--flag"}) {
		t.Errorf("entrypoint %v cmd %v", cf.Config.Entrypoint, cf.Config.Cmd)
	}
	if _, ok := cf.Config.ExposedPorts["53/udp"]; !ok {
		t.Errorf("exposed ports = %v", cf.Config.ExposedPorts)
	}
	layers, err := back.Layers()
	if err != nil || len(layers) != 1 {
		t.Fatalf("layers = %d, %v; want one", len(layers), err)
	}
	rc, err := layers[0].Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	got := map[string]*tar.Header{}
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		got[h.Name] = h
	}
	for name, typ := range map[string]byte{"opt/": tar.TypeDir, "opt/bin/": tar.TypeDir, "opt/bin/tiny": tar.TypeReg, "bin/t": tar.TypeSymlink} {
		h, ok := got[name]
		if !ok {
			t.Errorf("layer lacks %s (has %v)", name, got)
			continue
		}
		if h.Typeflag != typ {
			t.Errorf("%s: type %c, want %c", name, h.Typeflag, typ)
		}
	}
	if h := got["opt/bin/tiny"]; h != nil && h.Mode&0o111 == 0 {
		t.Errorf("opt/bin/tiny mode %o is not executable", h.Mode)
	}

	// Same inputs, same digest: builds are reproducible, so a rebuilt cache does not change
	// the checksums the plan pins.
	again, err := Build(Spec{Ref: ref, Files: []File{{Path: "/opt/bin/tiny", Mode: 0o755, Source: bin}, {Path: "/bin/t", Link: "/opt/bin/tiny"}}, Entrypoint: []string{"/opt/bin/tiny"}, Cmd: []string{"--flag"}, ExposedPorts: []string{"53/udp"}})
	if err != nil {
		t.Fatal(err)
	}
	d1, _ := img.Digest()
	d2, _ := again.Digest()
	if d1 != d2 {
		t.Errorf("digests differ: %s vs %s", d1, d2)
	}
}

func TestFilesFromTree(t *testing.T) {
	root := t.TempDir()
	os.MkdirAll(filepath.Join(root, "usr/sbin"), 0o755)
	os.WriteFile(filepath.Join(root, "usr/sbin/tool"), []byte("x"), 0o755)
	os.Symlink("tool", filepath.Join(root, "usr/sbin/alias"))
	files, err := FilesFromTree(root, "/")
	if err != nil {
		t.Fatal(err)
	}
	byPath := map[string]File{}
	for _, f := range files {
		byPath[f.Path] = f
	}
	if f := byPath["/usr/sbin/tool"]; f.Source == "" || f.Mode != 0o755 {
		t.Errorf("tool = %+v", f)
	}
	if f := byPath["/usr/sbin/alias"]; f.Link != "tool" {
		t.Errorf("alias = %+v", f)
	}
	if f := byPath["/usr"]; !f.Dir {
		t.Errorf("/usr = %+v", f)
	}
}
