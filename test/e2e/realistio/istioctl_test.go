package realistio_test

import (
	"context"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/meshwave/meshwave/test/istiofix"
	"github.com/meshwave/meshwave/test/testenv"
)

// What meshwave does, compared with what the real istioctl does or would do.

// compareTagsWithIstioctl rewrites each tag meshwave moved with the real
// `istioctl tag set --overwrite` for the same revision, and compares the two
// objects, metadata other than labels and annotations aside.
func compareTagsWithIstioctl(ctx context.Context, t *testing.T, env *testenv.Cluster, mesh *istiofix.Mesh) {
	t.Helper()
	adm := env.Client.AdmissionregistrationV1()
	type shape struct {
		Labels, Annotations map[string]string
		Webhooks            any
	}
	mutating := func(name string) shape {
		w, err := adm.MutatingWebhookConfigurations().Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return shape{w.Labels, w.Annotations, w.Webhooks}
	}
	validating := func(name string) shape {
		w, err := adm.ValidatingWebhookConfigurations().Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return shape{w.Labels, w.Annotations, w.Webhooks}
	}
	byMeshwave := map[string]shape{
		"istio-revision-tag-prod-stable": mutating("istio-revision-tag-prod-stable"),
		"istio-revision-tag-default":     mutating("istio-revision-tag-default"),
		"istiod-default-validator":       validating("istiod-default-validator"),
	}
	for _, tag := range []string{"prod-stable", "default"} {
		if _, err := mesh.Istioctl(ctx, "tag", "set", tag, "--revision", rev31.Name, "--overwrite", "--istioNamespace", "istio-system", "--skip-confirmation"); err != nil {
			t.Fatal(err)
		}
	}
	byIstioctl := map[string]shape{
		"istio-revision-tag-prod-stable": mutating("istio-revision-tag-prod-stable"),
		"istio-revision-tag-default":     mutating("istio-revision-tag-default"),
		"istiod-default-validator":       validating("istiod-default-validator"),
	}
	names := make([]string, 0, len(byMeshwave))
	for n := range byMeshwave {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if d := cmp.Diff(byIstioctl[n], byMeshwave[n]); d != "" {
			t.Errorf("%s as meshwave wrote it differs from istioctl tag set --overwrite (-istioctl +meshwave):\n%s", n, d)
		}
	}
}

// compareWithIstioctlUninstall checks that the plan's uninstall step deletes
// what the real `istioctl uninstall --revision 1-30` would, the objects of
// the tags the plan moves to 1-31 aside.
func compareWithIstioctlUninstall(ctx context.Context, t *testing.T, mesh *istiofix.Mesh, planned []string) {
	t.Helper()
	out, err := mesh.Istioctl(ctx, "uninstall", "--revision", rev30.Name, "--dry-run", "--skip-confirmation")
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, line := range strings.Split(out, "\n") {
		obj, ok := istioctlPruned(line)
		if !ok {
			continue
		}
		if strings.Contains(obj, "revision-tag-") || strings.Contains(obj, "istiod-default-validator") {
			continue // moved by the plan's tag blocks, so kept
		}
		want = append(want, obj)
	}
	if len(want) == 0 {
		t.Fatalf("istioctl uninstall --dry-run listed nothing to prune:\n%s", out)
	}
	got := slices.Clone(planned)
	sort.Strings(want)
	sort.Strings(got)
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("uninstall objects: istioctl uninstall --revision 1-30 (-) vs meshwave's plan (+):\n%s\nistioctl said:\n%s", d, out)
	}
}

// istioctlPruned reads one object from a line of `istioctl uninstall
// --dry-run` ("Not pruning object GROUP/VERSION, Kind=KIND/NAME.NAMESPACE
// because of dry run.") as "KIND NAMESPACE/NAME".
func istioctlPruned(line string) (string, bool) {
	rest, ok := strings.CutPrefix(strings.TrimSpace(line), "Not pruning object ")
	if !ok {
		return "", false
	}
	rest, _, _ = strings.Cut(rest, " because of dry run")
	_, rest, ok = strings.Cut(rest, "Kind=")
	if !ok {
		return "", false
	}
	kind, obj, ok := strings.Cut(rest, "/")
	if !ok {
		return "", false
	}
	i := strings.LastIndex(obj, ".")
	if i < 0 {
		return "", false
	}
	return kind + " " + obj[i+1:] + "/" + obj[:i], true
}
