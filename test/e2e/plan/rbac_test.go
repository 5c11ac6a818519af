package plan_test

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
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

func (l *requestLog) list() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.reqs...)
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
