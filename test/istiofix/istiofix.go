// Package istiofix installs real upstream Istio revisions on a testenv
// cluster with the real `istioctl install` (CRDs, ConfigMaps, RBAC, webhooks,
// the istiod Deployment, whose pods then run on the kwok node), with the real
// istiod (pilot-discovery) running as a local process that serves the
// revision's injection and validation webhooks. Each webhook's service
// reference is rewritten to the process's https://127.0.0.1:PORT address and
// a test CA; nothing else of the installed revision is changed.
//
// What it does not cover: istiod's xDS serving to real proxies (the kwok
// node runs no containers, so no Envoy connects), and cluster networking
// (webhooks are called by URL, not through the istiod Service).
package istiofix

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/meshwave/meshwave/test/testenv"
)

// EnvBinDir names the environment variable that holds the directory of the
// Istio binaries (what test/testenv/build-istio.sh prints).
const EnvBinDir = "MESHWAVE_ISTIO_BIN"

// Hub is the image registry the rendered revisions name.
const Hub = "docker.io/istio"

// Revision is one control-plane revision to install.
type Revision struct {
	// Name is the revision, e.g. "1-30".
	Name string
	// Tag is the image tag of its istiod and proxies, e.g. "1.30.0".
	Tag string
}

// ProxyImage is the sidecar image the revision injects.
func (r Revision) ProxyImage() string { return Hub + "/proxyv2:" + r.Tag }

// Mesh is a cluster with real Istio revisions installed.
type Mesh struct {
	env    *testenv.Cluster
	dir    string
	bin    string
	caPEM  []byte
	cert   string
	key    string
	caFile string
	// mu guards procs, which a watch for a revision's Deployment
	// (StartWhenDeployed) changes too.
	mu    sync.Mutex
	procs map[string]*exec.Cmd
	// Ports maps a revision to the port of its webhook server.
	Ports map[string]int
	// ports are every port of a revision's istiod, to start it again on
	// the ports its webhooks call.
	ports map[string][]int
}

// New prepares a mesh on env: a test CA and a serving certificate for
// 127.0.0.1 in dir. binDir holds istioctl and pilot-discovery.
func New(env *testenv.Cluster, dir, binDir string) (*Mesh, error) {
	for _, b := range []string{"istioctl", "pilot-discovery"} {
		if _, err := os.Stat(filepath.Join(binDir, b)); err != nil {
			return nil, fmt.Errorf("istiofix: %s missing in %s (run `make test`, which builds it with test/testenv/build-istio.sh): %w", b, binDir, err)
		}
	}
	m := &Mesh{env: env, dir: dir, bin: binDir, procs: map[string]*exec.Cmd{}, Ports: map[string]int{}, ports: map[string][]int{}}
	if err := m.writeCerts(); err != nil {
		return nil, err
	}
	return m, nil
}

// Istioctl runs the real istioctl against the cluster.
func (m *Mesh) Istioctl(ctx context.Context, args ...string) (string, error) {
	full := append([]string{"--kubeconfig", m.env.Kubeconfig}, args...)
	cmd := exec.CommandContext(ctx, filepath.Join(m.bin, "istioctl"), full...)
	cmd.Env = append(os.Environ(), "HOME="+m.dir)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	if err != nil {
		return out.String(), fmt.Errorf("istioctl %s: %w\n%s", strings.Join(args, " "), err, out.String())
	}
	return out.String(), nil
}

// Install installs revision r with the real `istioctl install` (the minimal
// profile, as a canary revision is installed: the control plane without
// gateways), points its webhooks at a new local istiod process, starts that
// process and waits until it serves.
func (m *Mesh) Install(ctx context.Context, r Revision) error {
	ports, err := testenv.FreePorts(6)
	if err != nil {
		return err
	}
	m.Ports[r.Name], m.ports[r.Name] = ports[0], ports
	if _, err := m.Istioctl(ctx, "install", "--set", "profile=minimal", "--set", "revision="+r.Name,
		"--set", "values.global.tag="+r.Tag, "--set", "values.global.hub="+Hub, "--skip-confirmation"); err != nil {
		return err
	}
	if err := m.pointWebhooks(ctx, r.Name, ports[0]); err != nil {
		return err
	}
	return m.startIstiod(ctx, r, ports)
}

// pointWebhooks rewrites the service reference of every webhook of revision
// rev to the local istiod's URL, with the test CA: the one change the
// fixture makes to what istioctl installed.
func (m *Mesh) pointWebhooks(ctx context.Context, rev string, port int) error {
	adm := m.env.Client.AdmissionregistrationV1()
	sel := metav1.ListOptions{LabelSelector: "istio.io/rev=" + rev}
	url := func(cc admissionregistrationv1.WebhookClientConfig) admissionregistrationv1.WebhookClientConfig {
		return m.localClientConfig(cc, port)
	}
	mwcs, err := adm.MutatingWebhookConfigurations().List(ctx, sel)
	if err != nil {
		return err
	}
	for i := range mwcs.Items {
		w := &mwcs.Items[i]
		for j := range w.Webhooks {
			w.Webhooks[j].ClientConfig = url(w.Webhooks[j].ClientConfig)
		}
		if _, err := adm.MutatingWebhookConfigurations().Update(ctx, w, metav1.UpdateOptions{}); err != nil {
			return fmt.Errorf("point %s at istiod %s: %w", w.Name, rev, err)
		}
	}
	vwcs, err := adm.ValidatingWebhookConfigurations().List(ctx, sel)
	if err != nil {
		return err
	}
	for i := range vwcs.Items {
		w := &vwcs.Items[i]
		for j := range w.Webhooks {
			w.Webhooks[j].ClientConfig = url(w.Webhooks[j].ClientConfig)
		}
		if _, err := adm.ValidatingWebhookConfigurations().Update(ctx, w, metav1.UpdateOptions{}); err != nil {
			return fmt.Errorf("point %s at istiod %s: %w", w.Name, rev, err)
		}
	}
	return nil
}

// localClientConfig is a webhook's client config pointed at the local
// istiod listening on port: its service's path on https://127.0.0.1:PORT,
// trusted through the test CA.
func (m *Mesh) localClientConfig(cc admissionregistrationv1.WebhookClientConfig, port int) admissionregistrationv1.WebhookClientConfig {
	path := "/"
	if cc.Service != nil && cc.Service.Path != nil {
		path = *cc.Service.Path
	}
	u := fmt.Sprintf("https://127.0.0.1:%d%s", port, path)
	return admissionregistrationv1.WebhookClientConfig{URL: &u, CABundle: m.caPEM}
}

// startIstiod runs pilot-discovery for revision r as a local process and
// waits until it is ready.
func (m *Mesh) startIstiod(ctx context.Context, r Revision, ports []int) error {
	addr := func(p int) string { return fmt.Sprintf("127.0.0.1:%d", p) }
	logFile, err := os.Create(filepath.Join(m.dir, "istiod-"+r.Name+".log"))
	if err != nil {
		return err
	}
	cmd := exec.Command(filepath.Join(m.bin, "pilot-discovery"), "discovery",
		"--kubeconfig", m.env.Kubeconfig,
		"--httpsAddr", addr(ports[0]),
		"--httpAddr", addr(ports[1]),
		"--grpcAddr", addr(ports[2]),
		"--secureGRPCAddr", addr(ports[3]),
		"--monitoringAddr", addr(ports[4]),
		"--ctrlz_address", "127.0.0.1", "--ctrlz_port", fmt.Sprint(ports[5]),
		"--tlsCertFile", m.cert, "--tlsKeyFile", m.key, "--caCertFile", m.caFile,
		"--domain", "cluster.local",
	)
	cmd.Dir = m.dir
	cmd.Env = append(os.Environ(), "REVISION="+r.Name, "POD_NAMESPACE=istio-system", "POD_NAME=istiod-"+r.Name+"-local",
		"HOME="+m.dir, "ISTIOD_CUSTOM_HOST=127.0.0.1", "PILOT_ENABLE_ANALYSIS=false")
	cmd.Stdout, cmd.Stderr = logFile, logFile
	// The process dies with the test binary, whatever kills it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return fmt.Errorf("start istiod %s: %w", r.Name, err)
	}
	logFile.Close()
	m.mu.Lock()
	m.procs[r.Name] = cmd
	m.mu.Unlock()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	ready := fmt.Sprintf("http://%s/ready", addr(ports[1]))
	client := &http.Client{Timeout: 2 * time.Second}
	err = wait.PollUntilContextTimeout(ctx, 250*time.Millisecond, 2*time.Minute, true, func(ctx context.Context) (bool, error) {
		select {
		case err := <-done:
			return false, fmt.Errorf("istiod %s exited: %v", r.Name, err)
		default:
		}
		resp, err := client.Get(ready)
		if err != nil {
			return false, nil
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK, nil
	})
	if err != nil {
		return fmt.Errorf("istiod %s not ready: %w\n%s", r.Name, err, m.Log(r.Name, 30))
	}
	return nil
}

// Log returns the last lines of a revision's istiod log.
func (m *Mesh) Log(rev string, lines int) string {
	b, _ := os.ReadFile(filepath.Join(m.dir, "istiod-"+rev+".log"))
	all := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(all) > lines {
		all = all[len(all)-lines:]
	}
	return strings.Join(all, "\n")
}

// Stop ends every istiod process this mesh started, by pid.
func (m *Mesh) Stop() {
	m.mu.Lock()
	var revs []string
	for rev := range m.procs {
		revs = append(revs, rev)
	}
	m.mu.Unlock()
	for _, rev := range revs {
		m.StopRevision(rev)
	}
}

// StopRevision ends one revision's istiod process, by pid, as deleting its
// Deployment would on a real cluster.
func (m *Mesh) StopRevision(rev string) {
	m.mu.Lock()
	cmd := m.procs[rev]
	delete(m.procs, rev)
	m.mu.Unlock()
	if cmd != nil && cmd.Process != nil {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
}

// running reports whether the istiod process of rev was started and not
// stopped.
func (m *Mesh) running(rev string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.procs[rev] != nil
}

// StartRevision starts again the istiod of revision r, stopped by
// StopRevision, on the ports its webhooks call, and waits until it serves.
func (m *Mesh) StartRevision(ctx context.Context, r Revision) error {
	ports := m.ports[r.Name]
	if ports == nil {
		return fmt.Errorf("istiofix: revision %s was never installed", r.Name)
	}
	return m.startIstiod(ctx, r, ports)
}

// writeCerts makes a CA and a serving certificate for 127.0.0.1 signed by
// it; the API server trusts the CA through each webhook's caBundle.
func (m *Mesh) writeCerts() error {
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "istiofix CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		IsCA: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature, BasicConstraintsValid: true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return err
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		return err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "istiod.istio-system.svc"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		DNSNames:    []string{"localhost", "istiod.istio-system.svc"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		return err
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return err
	}
	m.caPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER})
	m.caFile = filepath.Join(m.dir, "ca.pem")
	m.cert = filepath.Join(m.dir, "tls.crt")
	m.key = filepath.Join(m.dir, "tls.key")
	for path, data := range map[string][]byte{
		m.caFile: m.caPEM,
		m.cert:   pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		m.key:    pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}),
	} {
		if err := os.WriteFile(path, data, 0o600); err != nil {
			return err
		}
	}
	return nil
}

// ErrNoBinaries says the Istio binaries were not built.
var ErrNoBinaries = errors.New("istiofix: " + EnvBinDir + " is not set: run `make test`, which builds istioctl and pilot-discovery once (test/testenv/build-istio.sh) and sets it")
