// Package scratchmod builds Go programs of other projects from the Go module proxy in a
// throw-away ("scratch") module: a directory with a go.mod that requires the upstream modules,
// optional replace directives, and a tools file that imports the main packages so that
// `go mod tidy` records every dependency.
//
// Why a scratch module and not `go install pkg@version`: `go install` refuses modules whose
// go.mod carries replace directives (etcd, Kubernetes), and Kubernetes' own go.mod points its
// k8s.io/* staging modules at ./staging, which only a replace in the main module can redirect
// to the published v0.X.Y tags.
//
// The scratch builds never touch the project's own go.mod. Their build and module caches are
// explicit directories (GOCACHE, GOMODCACHE) so that repeated runs on one machine are warm.
package scratchmod
