package dsl

import "testing"

func TestDidYouMean(t *testing.T) {
	known := []string{"pod_cidr", "db", "w1", "workers", "masters", "kube_proxy_mode"}
	for given, want := range map[string]string{
		"pod_cdir":       ` Did you mean "pod_cidr"?`,
		"wrkers":         ` Did you mean "workers"?`,
		"kube_proxymode": ` Did you mean "kube_proxy_mode"?`,
		"ab":             "", // two short names are not a typo of each other
		"cp":             "",
		"w2":             "",
		"W1":             ` Did you mean "w1"?`,
		"mastrs":         ` Did you mean "masters"?`,
		"xyz":            "",
		"wrokers":        ` Did you mean "workers"?`,
		"bd":             "",
		"zzzzzzz":        "",
	} {
		if got := didYouMean(given, known); got != want {
			t.Errorf("didYouMean(%q) = %q, want %q", given, got, want)
		}
	}
}
