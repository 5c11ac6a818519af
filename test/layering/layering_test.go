// Package layering_test keeps the import rules of STYLE.md true: plan is
// pure, the state packages sit beside it and know no runner, the executor
// knows no Kubernetes client, and providers/kube is the only product package
// that imports client-go.
package layering_test

import (
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

func goList(t *testing.T, args ...string) []string {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	cmd := exec.Command("go", append([]string{"list"}, args...)...)
	cmd.Dir = filepath.Join(filepath.Dir(file), "..", "..")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list %v: %v", args, err)
	}
	return strings.Fields(string(out))
}

func TestImportRules(t *testing.T) {
	const module = "github.com/meshwave/meshwave/"
	forbidden := map[string][]string{
		"./plan/...":      {"k8s.io/client-go", module + "executor", module + "providers", module + "cmd"},
		"./plan":          {module + "states"},
		"./states/...":    {"k8s.io/client-go", "k8s.io/api/", module + "executor", module + "providers", module + "cmd"},
		"./executor/...":  {"k8s.io/client-go", "k8s.io/api/", module + "providers", module + "cmd"},
		"./providers/...": {module + "executor", module + "cmd"},
	}
	for pkgs, bad := range forbidden {
		for _, dep := range goList(t, "-deps", pkgs) {
			for _, b := range bad {
				if strings.HasPrefix(dep, b) {
					t.Errorf("%s depends on %s", pkgs, dep)
				}
			}
		}
	}
	// client-go is imported directly only by providers/kube among the
	// shipped packages.
	for _, line := range goList(t, "-f", `{{.ImportPath}}|{{join .Imports ","}}`, "./cmd/...", "./plan/...", "./states/...", "./executor/...", "./providers/...") {
		pkg, imports, _ := strings.Cut(line, "|")
		if strings.Contains(imports, "k8s.io/client-go") && pkg != module+"providers/kube" {
			t.Errorf("%s imports client-go; only providers/kube may", pkg)
		}
	}
}
