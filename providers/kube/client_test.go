package kube

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"

	"github.com/meshwave/meshwave/plan"
)

// A watch asks for its events uncompressed; a list keeps the transport's
// gzip.
func TestWatchesAskForNoCompression(t *testing.T) {
	var (
		mu   sync.Mutex
		seen = map[string]string{} // "watch" or "list" -> Accept-Encoding
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		kind := "list"
		if r.URL.Query().Get("watch") == "true" {
			kind = "watch"
		}
		mu.Lock()
		seen[kind] = r.Header.Get("Accept-Encoding")
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		if kind == "list" {
			_, _ = w.Write([]byte(`{"kind":"PodList","apiVersion":"v1","metadata":{},"items":[]}`))
		}
	}))
	defer srv.Close()

	p, err := New(&rest.Config{Host: srv.URL}, plan.FlavorIstio)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := p.cs.CoreV1().Pods("").List(ctx, metav1.ListOptions{}); err != nil {
		t.Fatal(err)
	}
	w, err := p.cs.CoreV1().Pods("").Watch(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	w.Stop()

	mu.Lock()
	defer mu.Unlock()
	if got := seen["watch"]; got != "identity" {
		t.Errorf("a watch sent Accept-Encoding %q; want identity", got)
	}
	if got := seen["list"]; got != "gzip" {
		t.Errorf("a list sent Accept-Encoding %q; want gzip (the transport's own)", got)
	}
}
