package kube

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	utilnet "k8s.io/apimachinery/pkg/util/net"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/util/retry"
)

// transientBackoff is how a step retries an API request that failed for a
// reason that passes (see transient): exponential from 200ms, capped at 10s
// a wait, with jitter so parallel steps do not retry in step, about a minute
// in all, and never past the step's own deadline.
var transientBackoff = wait.Backoff{Duration: 200 * time.Millisecond, Factor: 2, Jitter: 0.5, Steps: 12, Cap: 10 * time.Second}

// transient reports whether a request that failed with err may succeed if
// sent again unchanged: the API server was slow, overloaded, restarting or
// unreachable (a timeout, 429, a 5xx, a refused or reset connection, the
// request's own deadline). A conflict is not transient: it is answered by
// reading again (retry.RetryOnConflict), not by resending. The caller checks
// that its own context is still live: a step whose time is up does not retry.
func transient(err error) bool {
	if err == nil {
		return false
	}
	var status apierrors.APIStatus
	if errors.As(err, &status) && status.Status().Code == http.StatusNotImplemented {
		return false // it will not be implemented next time either
	}
	if apierrors.IsServerTimeout(err) || apierrors.IsTimeout(err) || apierrors.IsTooManyRequests(err) ||
		apierrors.IsInternalError(err) || apierrors.IsServiceUnavailable(err) {
		return true
	}
	if errors.As(err, &status) {
		return status.Status().Code >= http.StatusInternalServerError // a 502 or 504 from a proxy in front of the server
	}
	var netErr net.Error
	return utilnet.IsConnectionRefused(err) || utilnet.IsConnectionReset(err) || utilnet.IsProbableEOF(err) ||
		errors.Is(err, context.DeadlineExceeded) || errors.As(err, &netErr) && netErr.Timeout()
}

// call runs one API request of a step, sending it again while it fails for
// a transient reason and ctx, the step's context, is live. It returns the
// last error when it gives up. The retries are counted in the step's
// retryNote, which the step reports once. It is retry.OnError's loop on
// wait.ExponentialBackoffWithContext: OnError's waits cannot be cut short,
// and a step whose context ends must stop at once.
//
// Outside a step (observing the cluster for a plan) a request is sent once:
// a plan against an API server that does not answer fails within the
// request timeout, and the user runs it again.
func (p *Provider) call(ctx context.Context, request func(context.Context) error) error {
	note := retryNoteOf(ctx)
	if note == nil {
		return request(ctx)
	}
	return retryTransient(ctx, p.backoff, note, request)
}

// retryTransient is call's loop: request is sent again, spaced by backoff,
// while it fails for a transient reason and ctx is live; note (nil: not
// counted) counts the retries.
func retryTransient(ctx context.Context, backoff wait.Backoff, note *retryNote, request func(context.Context) error) error {
	var last error
	err := wait.ExponentialBackoffWithContext(ctx, backoff, func(ctx context.Context) (bool, error) {
		if last != nil && note != nil {
			note.add(last)
		}
		last = request(ctx)
		if last == nil {
			return true, nil
		}
		if ctx.Err() != nil || !transient(last) {
			return false, last
		}
		return false, nil
	})
	if err != nil && last != nil {
		return last
	}
	return err
}

// retryNote counts the requests a step sent again, so the step reports its
// retries once instead of once per attempt.
type retryNote struct {
	mu    sync.Mutex
	count int
	last  error
}

type retryNoteKey struct{}

// withRetryNote marks ctx as a step's, whose requests are retried, and
// starts counting its retries.
func withRetryNote(ctx context.Context) (context.Context, *retryNote) {
	n := &retryNote{}
	return context.WithValue(ctx, retryNoteKey{}, n), n
}

// retryNoteOf is the note of the step ctx runs; nil outside a step.
func retryNoteOf(ctx context.Context) *retryNote {
	n, _ := ctx.Value(retryNoteKey{}).(*retryNote) // none: not in a step
	return n
}

func (n *retryNote) add(err error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.count++
	n.last = err
}

// report tells progress, once, how often the step's requests were sent
// again and why the last one was.
func (n *retryNote) report(progress func(string)) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.count == 0 || progress == nil {
		return
	}
	times := "times"
	if n.count == 1 {
		times = "time"
	}
	progress(fmt.Sprintf("retried %d %s after: %v", n.count, times, n.last))
}

// send runs a write that does not depend on a fresh read (a merge patch of
// recorded values, a delete): on top of call's retries, a 409 Conflict, the
// server losing a race while applying it, sends it again.
func (p *Provider) send(ctx context.Context, request func(context.Context) error) error {
	return retry.RetryOnConflict(retry.DefaultRetry, func() error { return p.call(ctx, request) })
}
