// Package artifacts builds the offline artifacts directory the scratch plan pushes to hosts in
// its air-gapped mode: Kubernetes, etcd, containerd, runc and CNI plugin binaries, and the
// pause, flannel and CoreDNS images, all from the Go module proxy.
package artifacts
