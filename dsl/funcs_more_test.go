package dsl

import (
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
)

// Terraform's everyday functions, and shellquote, give Terraform's results.
func TestMoreFunctions(t *testing.T) {
	dir := writePlan(t, map[string]string{
		"plan.hcl":        "",
		"files/a.txt":     "A",
		"files/sub/b.txt": "B",
		"files/sub/c.sh":  "C",
	})
	p, diags := Load([]string{dir + "/plan.hcl"}, Options{})
	if diags.HasErrors() {
		t.Fatal(diagText(diags))
	}
	cases := map[string]string{
		`startswith("kube-proxy", "kube")`:                  "true",
		`endswith("kube-proxy", "kube")`:                    "false",
		`strcontains("kube-proxy", "e-p")`:                  "true",
		`alltrue([true, true])`:                             "true",
		`alltrue([])`:                                       "true",
		`anytrue([false, true])`:                            "true",
		`anytrue([])`:                                       "false",
		`sum([1, 2, 3.5])`:                                  "6.5",
		`one([])`:                                           "null",
		`one(["x"])`:                                        "x",
		`basename("/etc/kubernetes/pki/ca.crt")`:            "ca.crt",
		`dirname("/etc/kubernetes/pki/ca.crt")`:             "/etc/kubernetes/pki",
		`md5("hello")`:                                      "5d41402abc4b2a76b9719d911017c592",
		`sha1("hello")`:                                     "aaf4c61ddcc5e8a2dabede0f3b482cd9aea9434d",
		`substr(sha512("hello"), 0, 16)`:                    "9b71d224bd62f378",
		`yamldecode("a: 1\nb: [x, y]\n").b[1]`:              "y",
		`yamldecode("a: 1\nb: [x, y]\n").a + 1`:             "2",
		`yamlencode(yamldecode("k: v"))`:                    "k: \"v\"\n",
		`cidrnetmask("10.96.0.0/12")`:                       "255.240.0.0",
		`join(",", cidrsubnets("10.0.0.0/8", 8, 4, 8))`:     "10.0.0.0/16,10.16.0.0/12,10.32.0.0/16",
		`join(",", cidrsubnets("10.1.0.0/16", 4, 4, 8, 4))`: "10.1.0.0/20,10.1.16.0/20,10.1.32.0/24,10.1.48.0/20",
		`join(",", fileset("files", "**/*.txt"))`:           "a.txt,sub/b.txt",
		`join(",", fileset("files", "sub/*"))`:              "sub/b.txt,sub/c.sh",
		`filebase64("files/a.txt")`:                         "QQ==",
		`nonsensitive(sensitive("x"))`:                      "x",
		`shellquote("it's $HOME")`:                          `'it'\''s $HOME'`,
		`shellquote(["a b", "c"])`:                          `'a b' 'c'`,
	}
	for src, want := range cases {
		expr, d := hclsyntax.ParseExpression([]byte(src), "x.hcl", hcl.InitialPos)
		if d.HasErrors() {
			t.Fatalf("%s: %s", src, diagText(d))
		}
		v, d := expr.Value(p.staticContext(dir + "/plan.hcl"))
		if d.HasErrors() {
			t.Errorf("%s: %s", src, diagText(d))
			continue
		}
		if got := renderValue(v, nil); got != want {
			t.Errorf("%s = %q, want %q", src, got, want)
		}
	}
	for _, bad := range []string{`one(["a", "b"])`, `sum([])`, `cidrsubnets("10.0.0.0/30", 1, 1, 1)`, `cidrnetmask("::/64")`, `yamldecode("a: [")`} {
		expr, _ := hclsyntax.ParseExpression([]byte(bad), "x.hcl", hcl.InitialPos)
		if _, d := expr.Value(p.staticContext(dir + "/plan.hcl")); !d.HasErrors() {
			t.Errorf("%s: want an error", bad)
		}
	}
	// sensitive() marks: render shows (sensitive).
	expr, _ := hclsyntax.ParseExpression([]byte(`sensitive("x")`), "x.hcl", hcl.InitialPos)
	if v, _ := expr.Value(p.staticContext(dir + "/plan.hcl")); renderValue(v, nil) != "(sensitive)" {
		t.Errorf("sensitive(\"x\") renders as %q", renderValue(v, nil))
	}
}
