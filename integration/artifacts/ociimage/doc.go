// Package ociimage assembles container images without a registry or a container engine: one
// layer made from files on disk, a config with an entrypoint and the linux/amd64 platform, saved
// as a docker-archive tarball tagged with the image's upstream name, which
// `ctr -n k8s.io images import` loads as it is. It uses go-containerregistry as a library.
package ociimage
