// Package debpkg unpacks Debian packages from the machine's apt sources into a directory tree,
// without installing them: `apt-get download` then `dpkg -x`. The artifacts builder uses it
// where the Go module proxy cannot supply a program (the iptables and nft userland the flannel
// image needs) and as the documented fallback source for a component that cannot be built.
package debpkg
