package kube

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	k8stesting "k8s.io/client-go/testing"

	"github.com/meshwave/meshwave/plan"
)

// connectionRefused is the error of a request to an API server that is not
// listening, as client-go returns it.
func connectionRefused() error {
	return &url.Error{Op: "Get", URL: "https://fake/api/v1/namespaces/shop",
		Err: &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}}
}

type timeoutError struct{}

func (timeoutError) Error() string   { return "i/o timeout" }
func (timeoutError) Timeout() bool   { return true }
func (timeoutError) Temporary() bool { return true }

func TestTransient(t *testing.T) {
	gr := schema.GroupResource{Resource: "namespaces"}
	tests := map[string]struct {
		err  error
		want bool
	}{
		"503 Service Unavailable":  {apierrors.NewServiceUnavailable("restarting"), true},
		"500 Internal Error":       {apierrors.NewInternalError(errors.New("etcd")), true},
		"502 from a proxy":         {apierrors.NewGenericServerResponse(502, "get", gr, "shop", "bad gateway", 0, true), true},
		"504 server timeout":       {apierrors.NewServerTimeout(gr, "get", 1), true},
		"timeout":                  {apierrors.NewTimeoutError("slow", 1), true},
		"429 Too Many Requests":    {apierrors.NewTooManyRequests("slow down", 1), true},
		"connection refused":       {connectionRefused(), true},
		"i/o timeout":              {&url.Error{Op: "Get", URL: "https://fake", Err: timeoutError{}}, true},
		"the request's deadline":   {fmt.Errorf("the API server did not answer within 5s: %w", context.DeadlineExceeded), true},
		"409 Conflict: read again": {conflict("namespaces", "shop"), false},
		"404 Not Found":            {notFound("namespaces", "shop"), false},
		"403 Forbidden":            {forbidden("namespaces", "shop"), false},
		"501 Not Implemented":      {apierrors.NewGenericServerResponse(501, "get", gr, "shop", "", 0, false), false},
		"another error":            {errors.New("invalid patch"), false},
		"none":                     {nil, false},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := transient(tc.err); got != tc.want {
				t.Errorf("transient(%v) = %v, want %v", tc.err, got, tc.want)
			}
		})
	}
}

var relabelShop = plan.Step{ID: "wave/canary/relabel/shop", Kind: plan.StepNamespaceRelabel,
	Object:    &plan.ObjectRef{Kind: "Namespace", Name: "shop"},
	SetLabels: map[string]string{plan.LabelRevision: "cp-v2.istio-system"}, RemoveLabels: []string{plan.LabelInjection}}

// A step whose requests fail for a while for a reason that passes succeeds,
// with client-go's backoff, and says once what it retried.
func TestStepRetriesTransientErrors(t *testing.T) {
	tests := map[string]struct {
		fail         failure
		wantProgress []string
	}{
		"503 on the read": {fail: failure{verb: "get", resource: "namespaces", times: 3, err: apierrors.NewServiceUnavailable("restarting")},
			wantProgress: []string{"retried 3 times after: restarting"}},
		"connection refused on the write": {fail: failure{verb: "patch", resource: "namespaces", times: 2, err: connectionRefused()},
			wantProgress: []string{"retried 2 times after: " + connectionRefused().Error()}},
		"429 once": {fail: failure{verb: "get", resource: "namespaces", times: 1, err: apierrors.NewTooManyRequests("slow down", 1)},
			wantProgress: []string{"retried 1 time after: slow down"}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				c := newCluster(t, objs(namespace("shop", map[string]string{plan.LabelInjection: "enabled"})), nil)
				c.inject(tc.fail)
				p := c.provider(t, plan.FlavorBackyards)
				p.backoff = transientBackoff
				ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
				defer cancel()
				var progress []string
				if err := p.Run(ctx, relabelShop, nil, func(m string) { progress = append(progress, m) }); err != nil {
					t.Fatalf("Run: %v", err)
				}
				if d := cmp.Diff(tc.wantProgress, progress); d != "" {
					t.Errorf("progress (-want +got):\n%s", d)
				}
			})
		})
	}
}

// Retries stop when the step's own context ends: at once when it is
// cancelled, at its deadline when it runs out, never later; the error is
// the request's.
func TestRetriesEndWithTheStep(t *testing.T) {
	tests := map[string]struct {
		timeout     time.Duration
		cancelAfter int // cancel the step's context once this many requests failed
		wantElapsed time.Duration
	}{
		"cancelled":        {timeout: time.Minute, cancelAfter: 1, wantElapsed: 0},
		"deadline reached": {timeout: 3 * time.Second, wantElapsed: 3 * time.Second},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				c := newCluster(t, objs(namespace("shop", nil)), nil)
				ctx, cancel := context.WithTimeout(t.Context(), tc.timeout)
				defer cancel()
				requests := 0
				c.cs.PrependReactor("get", "namespaces", func(k8stesting.Action) (bool, runtime.Object, error) {
					requests++
					if requests == tc.cancelAfter {
						cancel()
					}
					return true, nil, apierrors.NewServiceUnavailable("down")
				})
				p := c.provider(t, plan.FlavorBackyards)
				p.backoff = transientBackoff
				start := time.Now()
				err := p.Run(ctx, relabelShop, nil, nil)
				if elapsed := time.Since(start); elapsed != tc.wantElapsed {
					t.Errorf("gave up after %s, want %s", elapsed, tc.wantElapsed)
				}
				checkErr(t, err, "read namespace shop: down")
			})
		})
	}
}

// Observing the cluster for a plan is not a step: a request that fails is
// not sent again, so a plan against an API server that does not answer
// fails within the request timeout.
func TestNoRetriesOutsideAStep(t *testing.T) {
	c := newCluster(t, nil, nil)
	requests := 0
	c.cs.PrependReactor("list", "namespaces", func(k8stesting.Action) (bool, runtime.Object, error) {
		requests++
		return true, nil, apierrors.NewServiceUnavailable("down")
	})
	p := c.provider(t, plan.FlavorBackyards)
	_, err := p.fetch(t.Context())
	checkErr(t, err, "list namespaces: down")
	if requests != 1 {
		t.Errorf("sent %d requests, want 1", requests)
	}
}
