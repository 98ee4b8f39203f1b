// Command probe is the one test program the Kubernetes proof runs in pods: the cluster's own
// images (pause, flannel, CoreDNS) are single static binaries with no shell, so a test pod
// needs an image of its own that can both serve and ask. It is built by the artifacts
// package into the image artifacts.ProbeImage (artifacts.ProbeComponent); nothing in the
// scratch plan uses it.
//
//	probe serve [ADDR]     HTTP server (default :8080) answering "probe HOSTNAME\n" on every path
//	probe get URL          GET URL once (5 s timeout), print the body; exit 1 on any error
//	probe lookup NAME      resolve NAME with the pod's /etc/resolv.conf, print one address a line
//	probe -v               print the version
//
// As PID 1 of a container it exits on SIGTERM (Go's default for a program that does not catch
// it), which is how the runtime stops it.
package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"time"
)

// version changes when the program's behaviour does, so a cached image is rebuilt.
const version = "probe v1"

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	var err error
	switch os.Args[1] {
	case "-v", "version":
		fmt.Println(version)
	case "serve":
		addr := ":8080"
		if len(os.Args) > 2 {
			addr = os.Args[2]
		}
		err = serve(addr)
	case "get":
		if len(os.Args) != 3 {
			usage()
		}
		err = get(os.Args[2])
	case "lookup":
		if len(os.Args) != 3 {
			usage()
		}
		err = lookup(os.Args[2])
	default:
		usage()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "probe:", err)
		os.Exit(1)
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: probe serve [ADDR] | get URL | lookup NAME | -v")
	os.Exit(2)
}

func serve(addr string) error {
	host, _ := os.Hostname()
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "probe %s\n", host)
	})
	srv := &http.Server{Addr: addr, ReadHeaderTimeout: 10 * time.Second}
	return srv.ListenAndServe()
}

func get(url string) error {
	c := &http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return fmt.Errorf("read %s: %w", url, err)
	}
	os.Stdout.Write(body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return nil
}

func lookup(name string) error {
	// The pure Go resolver (the binary is built without cgo) reads the pod's resolv.conf,
	// search list and ndots included, exactly as a pod's programs would.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	addrs, err := net.DefaultResolver.LookupHost(ctx, name)
	if err != nil {
		return err
	}
	for _, a := range addrs {
		fmt.Println(a)
	}
	return nil
}
