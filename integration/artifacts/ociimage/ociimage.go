package ociimage

import (
	"archive/tar"
	"bytes"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"sort"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// File is one entry of the image's single layer.
type File struct {
	// Path inside the image, absolute ("/pause").
	Path string
	// Mode is the permission bits (0o755 for programs).
	Mode fs.FileMode
	// Source is a file on disk to copy; Content is used when Source is empty.
	Source  string
	Content []byte
	// Link, when set, makes the entry a symbolic link to this target.
	Link string
	// Dir makes the entry a directory.
	Dir bool
}

// Spec is everything an image is made of.
type Spec struct {
	// Ref is the name the image is tagged with, e.g. "registry.k8s.io/pause:3.10.1".
	Ref        string
	Files      []File
	Entrypoint []string
	Cmd        []string
	Env        []string
	WorkingDir string
	User       string
	// ExposedPorts such as "53/udp".
	ExposedPorts []string
}

// epoch is the timestamp of every layer entry and of the image: fixed so that building the
// same inputs twice gives the same digest.
var epoch = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)

// Build assembles the image described by s.
func Build(s Spec) (v1.Image, error) {
	layerTar, err := layerTarball(s.Files)
	if err != nil {
		return nil, fmt.Errorf("image %s: layer: %w", s.Ref, err)
	}
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(layerTar)), nil
	})
	if err != nil {
		return nil, fmt.Errorf("image %s: layer: %w", s.Ref, err)
	}
	img, err := mutate.AppendLayers(empty.Image, layer)
	if err != nil {
		return nil, fmt.Errorf("image %s: %w", s.Ref, err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, fmt.Errorf("image %s: config: %w", s.Ref, err)
	}
	cf = cf.DeepCopy()
	cf.Architecture, cf.OS = "amd64", "linux"
	cf.Created = v1.Time{Time: epoch}
	cf.Config.Entrypoint = s.Entrypoint
	cf.Config.Cmd = s.Cmd
	cf.Config.Env = s.Env
	cf.Config.WorkingDir = s.WorkingDir
	cf.Config.User = s.User
	if len(s.ExposedPorts) > 0 {
		cf.Config.ExposedPorts = map[string]struct{}{}
		for _, p := range s.ExposedPorts {
			cf.Config.ExposedPorts[p] = struct{}{}
		}
	}
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		return nil, fmt.Errorf("image %s: config: %w", s.Ref, err)
	}
	return img, nil
}

// Save writes img as a docker-archive tarball tagged ref, through a temporary file so that a
// crash never leaves a truncated archive under the final name.
func Save(file, ref string, img v1.Image) error {
	tag, err := name.NewTag(ref, name.StrictValidation)
	if err != nil {
		return fmt.Errorf("image reference %q: %w", ref, err)
	}
	tmp := file + ".tmp"
	if err := tarball.WriteToFile(tmp, tag, img); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("write image %s to %s: %w", ref, file, err)
	}
	if err := os.Rename(tmp, file); err != nil {
		return fmt.Errorf("write image %s: %w", ref, err)
	}
	return nil
}

// Load reads back the image tagged ref from a tarball written by Save (or any docker archive).
func Load(file, ref string) (v1.Image, error) {
	tag, err := name.NewTag(ref, name.StrictValidation)
	if err != nil {
		return nil, fmt.Errorf("image reference %q: %w", ref, err)
	}
	img, err := tarball.ImageFromPath(file, &tag)
	if err != nil {
		return nil, fmt.Errorf("read image %s from %s: %w", ref, file, err)
	}
	return img, nil
}

// Tags lists the repository tags recorded in a docker-archive tarball.
func Tags(file string) ([]string, error) {
	m, err := tarball.LoadManifest(func() (io.ReadCloser, error) { return os.Open(file) })
	if err != nil {
		return nil, fmt.Errorf("read manifest of %s: %w", file, err)
	}
	var tags []string
	for _, d := range m {
		tags = append(tags, d.RepoTags...)
	}
	return tags, nil
}

// layerTarball renders files as an uncompressed tar, parents first, owned by root.
func layerTarball(files []File) ([]byte, error) {
	entries := map[string]File{}
	for _, f := range files {
		p := path.Clean("/" + f.Path)
		if p == "/" {
			return nil, fmt.Errorf("file with empty path")
		}
		// Every parent directory gets an entry of its own, so the layer unpacks the same
		// way whatever the unpacker does about implicit directories.
		for dir := path.Dir(p); dir != "/"; dir = path.Dir(dir) {
			if _, ok := entries[dir]; !ok {
				entries[dir] = File{Path: dir, Dir: true, Mode: 0o755}
			}
		}
		f.Path = p
		entries[p] = f
	}
	paths := make([]string, 0, len(entries))
	for p := range entries {
		paths = append(paths, p)
	}
	sort.Strings(paths)

	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, p := range paths {
		f := entries[p]
		h := &tar.Header{Name: strings.TrimPrefix(p, "/"), ModTime: epoch, Mode: int64(f.Mode.Perm()), Format: tar.FormatPAX}
		var body []byte
		switch {
		case f.Dir:
			h.Typeflag, h.Name = tar.TypeDir, h.Name+"/"
			if h.Mode == 0 {
				h.Mode = 0o755
			}
		case f.Link != "":
			h.Typeflag, h.Linkname, h.Mode = tar.TypeSymlink, f.Link, 0o777
		default:
			h.Typeflag = tar.TypeReg
			body = f.Content
			if f.Source != "" {
				b, err := os.ReadFile(f.Source)
				if err != nil {
					return nil, err
				}
				body = b
			}
			h.Size = int64(len(body))
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, fmt.Errorf("%s: %w", p, err)
		}
		if _, err := tw.Write(body); err != nil {
			return nil, fmt.Errorf("%s: %w", p, err)
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// FilesFromTree lists every regular file, directory and symlink under root as layer files
// placed under prefix ("/" for the image root). It is how an unpacked Debian package tree goes
// into an image.
func FilesFromTree(root, prefix string) ([]File, error) {
	var files []File
	err := fs.WalkDir(os.DirFS(root), ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == "." {
			return err
		}
		full := root + "/" + p
		info, err := os.Lstat(full)
		if err != nil {
			return err
		}
		f := File{Path: path.Join(prefix, p), Mode: info.Mode().Perm()}
		switch {
		case info.Mode()&fs.ModeSymlink != 0:
			if f.Link, err = os.Readlink(full); err != nil {
				return err
			}
		case info.IsDir():
			f.Dir = true
		case info.Mode().IsRegular():
			f.Source = full
		default:
			return nil // devices and sockets have no place in an image
		}
		files = append(files, f)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", root, err)
	}
	return files, nil
}
