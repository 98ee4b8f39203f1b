package builtinplans_test

import (
	"regexp"
	"strings"
	"testing"
)

// renderNodes splits a render into its nodes: "task[host]" to the node's text.
func renderNodes(render string) map[string]string {
	nodes := map[string]string{}
	for _, part := range strings.Split(render, "\n=== ")[1:] {
		name, _, _ := strings.Cut(part, " ")
		nodes[name] = part
	}
	return nodes
}

var serverLine = regexp.MustCompile(`(?m)^\s+server: (.+)$`)

// TestScratchAPILoadBalancerModes pins how nodes reach the API in each mode: through their own
// HAProxy by default, through api_endpoint when it is set (no HAProxy), straight to the masters
// with api_lb = "none".
func TestScratchAPILoadBalancerModes(t *testing.T) {
	hosts := []string{"masters=cp1,cp2,cp3", "workers=w1"}
	all := []string{"cp1", "cp2", "cp3", "w1"}
	for _, tc := range []struct {
		name    string
		vars    []string
		lb      bool
		servers map[string]string // host => the server of its bootstrap and kube-proxy kubeconfigs
	}{
		{"default", nil, true, map[string]string{"cp1": "https://127.0.0.1:6444", "cp2": "https://127.0.0.1:6444", "cp3": "https://127.0.0.1:6444", "w1": "https://127.0.0.1:6444"}},
		{"port", []string{"api_lb_port=7443"}, true, map[string]string{"cp1": "https://127.0.0.1:7443", "w1": "https://127.0.0.1:7443"}},
		{"api_endpoint", []string{"api_endpoint=10.0.0.100"}, false, map[string]string{"cp1": "https://127.0.0.1:6443", "cp3": "https://127.0.0.1:6443", "w1": "https://<task.pki.output.api_address from cp1>:6443"}},
		{"none", []string{"api_lb=none"}, false, map[string]string{"cp2": "https://127.0.0.1:6443", "w1": "https://<task.pki.output.api_address from cp1>:6443"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			nodes := renderNodes(render(t, "scratch", hosts, tc.vars))
			for _, h := range all {
				lb := nodes["api_lb["+h+"]"]
				if lb == "" {
					t.Fatalf("no api_lb[%s] node", h)
				}
				if skipped := strings.Contains(lb, "skipped: the task's when is false"); skipped == tc.lb {
					t.Errorf("api_lb[%s]: skipped %v, want %v", h, skipped, !tc.lb)
				}
				if tc.lb {
					// every master behind every node's load balancer, health-checked with a client certificate
					for _, m := range []string{"cp1", "cp2", "cp3"} {
						if !regexp.MustCompile(`(?m)^    server ` + m + ` <task\.facts\.output\.ip from ` + m + `>:6443 check check-ssl verify required ca-file \S+ crt /etc/haproxy/kube-apiserver-lb\.pem `).MatchString(lb) {
							t.Errorf("api_lb[%s]: no health-checked server line for %s:\n%s", h, m, lb)
						}
					}
				}
				want, ok := tc.servers[h]
				if !ok {
					continue
				}
				got := serverLine.FindAllStringSubmatch(nodes["node_kubeconfigs["+h+"]"], -1)
				if len(got) != 2 {
					t.Fatalf("node_kubeconfigs[%s]: %d server lines, want 2 (bootstrap, kube-proxy)", h, len(got))
				}
				for _, g := range got {
					if g[1] != want {
						t.Errorf("node_kubeconfigs[%s]: server %s, want %s", h, g[1], want)
					}
				}
			}
			flannel := nodes["addon_files[cp1]"]
			if has := strings.Contains(flannel, "name: KUBERNETES_SERVICE_HOST"); has != tc.lb {
				t.Errorf("flannel's DaemonSet sets KUBERNETES_SERVICE_HOST: %v, want %v", has, tc.lb)
			}
		})
	}
}
