package plan_test

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/meshwave/meshwave/plan"
	"github.com/meshwave/meshwave/plan/config"
	"github.com/meshwave/meshwave/providers/kube"
	"github.com/meshwave/meshwave/test/e2e/harness"
	"github.com/meshwave/meshwave/test/testenv"
)

// requestLog records every request a client sends.
type requestLog struct {
	mu   sync.Mutex
	reqs []string
}

func (l *requestLog) wrap(cfg *rest.Config) *rest.Config {
	cfg = rest.CopyConfig(cfg)
	cfg.WrapTransport = func(rt http.RoundTripper) http.RoundTripper {
		return roundTripper(func(r *http.Request) (*http.Response, error) {
			l.mu.Lock()
			l.reqs = append(l.reqs, r.Method+" "+r.URL.Path)
			l.mu.Unlock()
			return rt.RoundTrip(r)
		})
	}
	return cfg
}

// list is every request sent, sorted: plan sends its lists several at a
// time, so their order is not its own.
func (l *requestLog) list() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Sorted(slices.Values(l.reqs))
}

type roundTripper func(*http.Request) (*http.Response, error)

func (f roundTripper) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

const viewer = "meshwave-e2e-viewer"

// grantView lets the user viewer get, list and watch everything, and
// nothing else.
func grantView(ctx context.Context, t *testing.T, env *testenv.Cluster) {
	t.Helper()
	rbac := env.Client.RbacV1()
	role := &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: viewer},
		Rules: []rbacv1.PolicyRule{{APIGroups: []string{"*"}, Resources: []string{"*"}, Verbs: []string{"get", "list", "watch"}}}}
	if _, err := rbac.ClusterRoles().Create(ctx, role, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	binding := &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: viewer},
		RoleRef:  rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: viewer},
		Subjects: []rbacv1.Subject{{APIGroup: "rbac.authorization.k8s.io", Kind: "User", Name: viewer}}}
	if _, err := rbac.ClusterRoleBindings().Create(ctx, binding, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = rbac.ClusterRoleBindings().Delete(context.Background(), viewer, metav1.DeleteOptions{})
		_ = rbac.ClusterRoles().Delete(context.Background(), viewer, metav1.DeleteOptions{})
	})
}

// viewerKubeconfig writes a kubeconfig that acts as the viewer user.
func viewerKubeconfig(t *testing.T, env *testenv.Cluster) string {
	t.Helper()
	cfg, err := clientcmd.LoadFromFile(env.Kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	for _, ai := range cfg.AuthInfos {
		ai.Impersonate = viewer
	}
	path := filepath.Join(t.TempDir(), "viewer.kubeconfig")
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		t.Fatal(err)
	}
	return path
}

// A user who may read everything but patch nothing gets a plan error that
// names the missing permission, and plan sends no request that changes
// anything.
func TestPlanNamesMissingPermissionsAndMutatesNothing(t *testing.T) {
	env, _ := harness.Backyards(t)
	ctx := context.Background()
	grantView(ctx, t, env)
	dir := harness.CopyExample(t, "backyards-1.6-to-1.7")

	r := harness.Meshwave(t, env, dir, append([]string{"plan", "-json", "--kubeconfig", viewerKubeconfig(t, env)}, exampleVars...)...)
	if r.Code != 1 {
		t.Fatalf("exit %d, want 1\n%s\n%s", r.Code, r.Stdout, r.Stderr)
	}
	var p planJSON
	if err := json.Unmarshal([]byte(r.Stdout), &p); err != nil {
		t.Fatalf("plan -json: %v\n%s", err, r.Stdout)
	}
	var denied []string
	for _, c := range p.Checks {
		if c.Code == plan.CodeForbidden && c.Severity == "error" {
			denied = append(denied, c.Message)
		}
	}
	for _, want := range []string{"patch namespaces", "patch deployments.apps", "patch meshgateways.istio.banzaicloud.io", "delete istios.istio.banzaicloud.io"} {
		found := false
		for _, d := range denied {
			found = found || strings.Contains(d, want)
		}
		if !found {
			t.Errorf("no MW012 error names %q; got %q", want, denied)
		}
	}

	// The same read, in process, with every request recorded.
	log := &requestLog{}
	cfg := rest.CopyConfig(env.Config)
	cfg.Impersonate = rest.ImpersonationConfig{UserName: viewer}
	prov, err := kube.New(log.wrap(cfg), plan.FlavorBackyards)
	if err != nil {
		t.Fatal(err)
	}
	pc, _, diags := config.Load([]string{filepath.Join(dir, "upgrade.mw.hcl")}, config.VarInput{Vars: []string{"health_url=http://x/", "canary_soak=1m"}, Environ: os.Environ()})
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	if _, err := prov.Observe(ctx, pc); err != nil {
		t.Fatal(err)
	}
	for _, req := range log.list() {
		if strings.HasPrefix(req, "GET ") || req == "POST /apis/authorization.k8s.io/v1/selfsubjectaccessreviews" {
			continue
		}
		t.Errorf("plan sent a request that may change the cluster: %s", req)
	}
}

// applier is an identity bound to what apply needs; the viewer plans on its
// behalf.
const applier = "meshwave-e2e-applier"

// grantApplyAndReviews binds the user applier to a role that may do
// everything (what apply needs and more), and lets the viewer create
// SubjectAccessReviews, which is how plan asks the API server about
// another identity.
func grantApplyAndReviews(ctx context.Context, t *testing.T, env *testenv.Cluster) {
	t.Helper()
	rbac := env.Client.RbacV1()
	grants := []struct {
		name, user string
		rule       rbacv1.PolicyRule
	}{
		{applier, applier, rbacv1.PolicyRule{APIGroups: []string{"*"}, Resources: []string{"*"}, Verbs: []string{"*"}}},
		{viewer + "-reviews", viewer, rbacv1.PolicyRule{APIGroups: []string{"authorization.k8s.io"}, Resources: []string{"subjectaccessreviews"}, Verbs: []string{"create"}}},
	}
	for _, g := range grants {
		role := &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: g.name}, Rules: []rbacv1.PolicyRule{g.rule}}
		if _, err := rbac.ClusterRoles().Create(ctx, role, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		binding := &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: g.name},
			RoleRef:  rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: g.name},
			Subjects: []rbacv1.Subject{{APIGroup: "rbac.authorization.k8s.io", Kind: "User", Name: g.user}}}
		if _, err := rbac.ClusterRoleBindings().Create(ctx, binding, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		name := g.name
		t.Cleanup(func() {
			_ = rbac.ClusterRoleBindings().Delete(context.Background(), name, metav1.DeleteOptions{})
			_ = rbac.ClusterRoles().Delete(context.Background(), name, metav1.DeleteOptions{})
		})
	}
}

// A read-only identity that may create SubjectAccessReviews plans for the
// identity that will apply (-permissions-for): the preflight asks about
// that one, so the plan is not blocked and is saved. Asked about the viewer
// itself, the same preflight reports MW012, naming the viewer.
func TestPlanPermissionsForTheApplyIdentity(t *testing.T) {
	env, _ := harness.Backyards(t)
	ctx := context.Background()
	grantView(ctx, t, env)
	grantApplyAndReviews(ctx, t, env)
	dir := harness.CopyExample(t, "backyards-1.6-to-1.7")
	kubeconfig := viewerKubeconfig(t, env)

	mw012 := func(stdout string) []string {
		t.Helper()
		var p planJSON
		if err := json.Unmarshal([]byte(stdout), &p); err != nil {
			t.Fatalf("plan -json: %v\n%s", err, stdout)
		}
		var denied []string
		for _, c := range p.Checks {
			if c.Code == plan.CodeForbidden {
				denied = append(denied, c.Message)
			}
		}
		return denied
	}

	saved := filepath.Join(t.TempDir(), "upgrade.plan")
	r := harness.Meshwave(t, env, dir, append([]string{"plan", "-json", "-detailed-exitcode", "-out", saved,
		"--kubeconfig", kubeconfig, "-permissions-for", applier}, exampleVars...)...)
	if r.Code != 0 && r.Code != 2 {
		t.Fatalf("plan -permissions-for %s: exit %d, want 0 or 2\n%s\n%s", applier, r.Code, r.Stdout, r.Stderr)
	}
	if denied := mw012(r.Stdout); len(denied) > 0 {
		t.Errorf("plan -permissions-for %s reports MW012: %q", applier, denied)
	}
	if _, err := os.Stat(saved); err != nil {
		t.Errorf("the plan was not saved: %v", err)
	}

	blocked := filepath.Join(t.TempDir(), "blocked.plan")
	r = harness.Meshwave(t, env, dir, append([]string{"plan", "-json", "-detailed-exitcode", "-out", blocked,
		"--kubeconfig", kubeconfig, "-permissions-for", viewer}, exampleVars...)...)
	if r.Code != 1 {
		t.Fatalf("plan -permissions-for %s: exit %d, want 1\n%s\n%s", viewer, r.Code, r.Stdout, r.Stderr)
	}
	denied := mw012(r.Stdout)
	for _, want := range []string{"patch namespaces", "patch deployments.apps", "patch meshgateways.istio.banzaicloud.io", "delete istios.istio.banzaicloud.io"} {
		found := false
		for _, d := range denied {
			found = found || strings.HasPrefix(d, "user "+viewer+" may not ") && strings.Contains(d, want)
		}
		if !found {
			t.Errorf("no MW012 error says user %s may not %s; got %q", viewer, want, denied)
		}
	}
	if _, err := os.Stat(blocked); !os.IsNotExist(err) {
		t.Errorf("a blocked plan was saved: %v", err)
	}
}
