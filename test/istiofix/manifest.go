package istiofix

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"sigs.k8s.io/yaml"

	"github.com/meshwave/meshwave/test/testenv"
)

// Manifest renders revision r with the real `istioctl manifest generate`,
// with the settings Install gives `istioctl install` (and more, appended),
// for a plan's install block. As for an installed revision, the one change
// the fixture makes is each of r's webhooks pointed at the local istiod of
// r, on ports chosen here; StartWhenDeployed starts that istiod once r's
// istiod Deployment appears.
func (m *Mesh) Manifest(ctx context.Context, r Revision, more ...string) ([]byte, error) {
	ports, err := testenv.FreePorts(6)
	if err != nil {
		return nil, err
	}
	m.Ports[r.Name], m.ports[r.Name] = ports[0], ports
	args := append([]string{"manifest", "generate", "--set", "profile=minimal", "--set", "revision=" + r.Name,
		"--set", "values.global.tag=" + r.Tag, "--set", "values.global.hub=" + Hub}, more...)
	out, err := m.Istioctl(ctx, args...)
	if err != nil {
		return nil, err
	}
	return m.pointManifestWebhooks([]byte(out), r.Name, ports[0])
}

// pointManifestWebhooks rewrites, in a rendered manifest, the client config
// of every webhook of revision rev to the local istiod on port; every other
// document is kept as rendered.
func (m *Mesh) pointManifestWebhooks(manifest []byte, rev string, port int) ([]byte, error) {
	var out bytes.Buffer
	for _, doc := range bytes.Split(manifest, []byte("\n---")) {
		doc = bytes.TrimPrefix(doc, []byte("---"))
		var head struct {
			Kind     string `json:"kind"`
			Metadata struct {
				Labels map[string]string `json:"labels"`
			} `json:"metadata"`
		}
		if err := yaml.Unmarshal(doc, &head); err != nil {
			return nil, fmt.Errorf("rendered manifest: %w", err)
		}
		if head.Metadata.Labels["istio.io/rev"] == rev {
			var err error
			switch head.Kind {
			case "MutatingWebhookConfiguration":
				doc, err = rewrite(doc, func(w *admissionregistrationv1.MutatingWebhookConfiguration) {
					for i := range w.Webhooks {
						w.Webhooks[i].ClientConfig = m.localClientConfig(w.Webhooks[i].ClientConfig, port)
					}
				})
			case "ValidatingWebhookConfiguration":
				doc, err = rewrite(doc, func(w *admissionregistrationv1.ValidatingWebhookConfiguration) {
					for i := range w.Webhooks {
						w.Webhooks[i].ClientConfig = m.localClientConfig(w.Webhooks[i].ClientConfig, port)
					}
				})
			}
			if err != nil {
				return nil, err
			}
		}
		if len(bytes.TrimSpace(doc)) == 0 {
			continue
		}
		out.WriteString("---\n")
		out.Write(bytes.TrimLeft(doc, "\n"))
		if !bytes.HasSuffix(doc, []byte("\n")) {
			out.WriteByte('\n')
		}
	}
	return out.Bytes(), nil
}

// rewrite decodes a YAML document into T, changes it and encodes it again.
func rewrite[T any](doc []byte, change func(*T)) ([]byte, error) {
	var obj T
	if err := yaml.Unmarshal(doc, &obj); err != nil {
		return nil, err
	}
	change(&obj)
	j, err := json.Marshal(&obj)
	if err != nil {
		return nil, err
	}
	return yaml.JSONToYAML(j)
}

// StartWhenDeployed runs r's istiod as a kubelet runs a Deployment's pods:
// it starts the local istiod process (on the ports Manifest chose) when r's
// istiod Deployment appears in istio-system, and stops it when the
// Deployment is deleted, until ctx ends. A start that fails is sent on the
// returned channel. Call it after Manifest rendered r.
func (m *Mesh) StartWhenDeployed(ctx context.Context, r Revision) <-chan error {
	errs := make(chan error, 8)
	ports := m.ports[r.Name] // read here: Manifest may render another revision meanwhile
	go func() {
		_ = wait.PollUntilContextCancel(ctx, 250*time.Millisecond, true, func(ctx context.Context) (bool, error) {
			_, err := m.env.Client.AppsV1().Deployments("istio-system").Get(ctx, "istiod-"+r.Name, metav1.GetOptions{})
			switch {
			case err == nil && !m.running(r.Name):
				if err := m.startIstiod(ctx, r, ports); err != nil && ctx.Err() == nil {
					select {
					case errs <- err:
					default:
					}
				}
			case apierrors.IsNotFound(err) && m.running(r.Name):
				m.StopRevision(r.Name)
			}
			return false, nil
		})
	}()
	return errs
}
