package kube

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/meshwave/meshwave/states"
	"github.com/meshwave/meshwave/states/statefile"
	"github.com/meshwave/meshwave/states/statemgr"
)

// The Kubernetes state backend keeps a state in a Secret of its own type
// and locks it with a Lease of the same name and namespace (statelease.go),
// so that an apply started on one machine can be finished on another.
const (
	// StateSecretType marks a Secret as a meshwave state. A Secret's type
	// cannot change, so a Secret of any other type was not created by
	// meshwave and is never overwritten.
	StateSecretType corev1.SecretType = "meshwave.io/state"
	// StateDataKey holds the gzip'd state document (statefile's format).
	StateDataKey = "state.json.gz"

	annotationLineage = "meshwave.io/lineage"
	annotationSerial  = "meshwave.io/serial"
)

// maxStateSecretData bounds the compressed state read from a Secret: the
// API server stores at most 1 MiB in one.
const maxStateSecretData = 1 << 20

// Defaults of the backend's timing (StateBackendOptions).
const (
	DefaultLeaseDuration = 30 * time.Second
	DefaultLeaseRenew    = 10 * time.Second
	// defaultStateOpTimeout bounds one Read, Write, Lock or Unlock, retries
	// of transient errors included; each request is also bounded by the
	// client's request timeout.
	defaultStateOpTimeout = time.Minute
)

// StateBackendOptions tune a StateBackend; zero values take the defaults.
type StateBackendOptions struct {
	// LeaseDuration is how long a lock lives without being renewed: a
	// holder that dies leaves the state locked this long.
	LeaseDuration time.Duration
	// RenewEvery spaces the renewals of a held lock.
	RenewEvery time.Duration
	// OpTimeout bounds one operation, retries included.
	OpTimeout time.Duration
	// Now is the clock; default time.Now.
	Now func() time.Time
}

// StateBackend keeps a meshwave state in the Secret namespace/name and locks
// it with the Lease namespace/name. Every write of the Secret is a
// compare-and-swap on the resourceVersion this process last read or wrote:
// a write someone else made in between is never overwritten.
type StateBackend struct {
	cs              kubernetes.Interface
	namespace, name string
	opts            StateBackendOptions

	mu sync.Mutex
	// known says the Secret's content is known to be ours to replace: it
	// did not exist (secret nil), or it decoded as a state (lineage).
	known   bool
	secret  *corev1.Secret
	lineage string
	// enc encodes the state; it keeps each step's last encoding.
	enc statefile.Encoder

	lock leaseLock
}

var _ statemgr.Full = (*StateBackend)(nil)

// NewStateBackend returns the backend of the state namespace/name, talking
// to the cluster through cs.
func NewStateBackend(cs kubernetes.Interface, namespace, name string, o StateBackendOptions) *StateBackend {
	if o.LeaseDuration <= 0 {
		o.LeaseDuration = DefaultLeaseDuration
	}
	if o.RenewEvery <= 0 {
		o.RenewEvery = DefaultLeaseRenew
	}
	if o.OpTimeout <= 0 {
		o.OpTimeout = defaultStateOpTimeout
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &StateBackend{cs: cs, namespace: namespace, name: name, opts: o}
}

// ConnectStateBackend loads the kubeconfig like kubectl (see RESTConfig) and
// returns the backend of the state namespace/name in that cluster.
func ConnectStateBackend(c ConnectOptions, namespace, name string) (*StateBackend, error) {
	cfg, err := RESTConfig(c.Kubeconfig, c.Context)
	if err != nil {
		return nil, err
	}
	// The backend never watches: the client's timeout bounds every request.
	cfg.Timeout = c.RequestTimeout
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultRequestTimeout
	}
	cfg.UserAgent = fieldManager + "/" + "state"
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("kubernetes client: %w", err)
	}
	return NewStateBackend(cs, namespace, name, StateBackendOptions{}), nil
}

// Location names the state in messages.
func (b *StateBackend) Location() string {
	return fmt.Sprintf("Kubernetes Secret %s/%s", b.namespace, b.name)
}

// op is the context of one operation.
func (b *StateBackend) op() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), b.opts.OpTimeout)
}

// call sends one request of the backend with the provider's retry policy
// for transient errors.
func (b *StateBackend) call(ctx context.Context, request func(context.Context) error) error {
	return retryTransient(ctx, transientBackoff, nil, request)
}

// Read implements statemgr.Persister.
func (b *StateBackend) Read() (*states.State, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	ctx, cancel := b.op()
	defer cancel()
	return b.read(ctx)
}

func (b *StateBackend) read(ctx context.Context) (*states.State, error) {
	var sec *corev1.Secret
	err := b.call(ctx, func(ctx context.Context) (err error) {
		sec, err = b.cs.CoreV1().Secrets(b.namespace).Get(ctx, b.name, metav1.GetOptions{})
		return err
	})
	if apierrors.IsNotFound(err) {
		b.known, b.secret, b.lineage = true, nil, ""
		return nil, statemgr.ErrNoState
	}
	if err != nil {
		return nil, fmt.Errorf("read state from %s: %w", b.Location(), err)
	}
	st, err := decodeStateSecret(sec)
	if err != nil {
		b.known = false
		return nil, &statemgr.UnusableStateError{Path: b.namespace + "/" + b.name, Store: b.Location(), Err: err}
	}
	b.known, b.secret, b.lineage = true, sec, st.Lineage
	return st, nil
}

// decodeStateSecret reads the state a Secret holds, refusing a Secret that
// meshwave did not create as a state.
func decodeStateSecret(sec *corev1.Secret) (*states.State, error) {
	if sec.Type != StateSecretType {
		return nil, fmt.Errorf("it is a Secret of type %q, not %q: meshwave did not create it and will not overwrite it", sec.Type, StateSecretType)
	}
	data, ok := sec.Data[StateDataKey]
	switch {
	case !ok:
		return nil, fmt.Errorf("it has no %q key", StateDataKey)
	case len(data) > maxStateSecretData:
		return nil, fmt.Errorf("its %q key holds %d bytes, more than a Secret can", StateDataKey, len(data))
	}
	zr, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("its %q key is not gzip: %w", StateDataKey, err)
	}
	doc, err := io.ReadAll(io.LimitReader(zr, statemgr.MaxStateSize+1))
	if err != nil {
		return nil, fmt.Errorf("its %q key does not decompress: %w", StateDataKey, err)
	}
	if len(doc) > statemgr.MaxStateSize {
		return nil, fmt.Errorf("its state is larger than %d bytes once decompressed", statemgr.MaxStateSize)
	}
	return statefile.Read(bytes.NewReader(doc))
}

// encodeState is the data of a state Secret: the state document, gzip'd.
func encodeState(enc *statefile.Encoder, st *states.State) ([]byte, error) {
	var doc bytes.Buffer
	if err := enc.Encode(&doc, st); err != nil {
		return nil, err
	}
	var z bytes.Buffer
	zw := gzip.NewWriter(&z)
	if _, err := zw.Write(doc.Bytes()); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	if z.Len() > maxStateSecretData {
		return nil, fmt.Errorf("the state is %d bytes compressed, more than the 1 MiB a Secret holds", z.Len())
	}
	return z.Bytes(), nil
}

// ConcurrentWriteError says the state Secret changed since this process
// read or wrote it: someone else wrote the state, and meshwave does not
// overwrite their write.
type ConcurrentWriteError struct {
	Location string
	// ResourceVersion is the version this process expected.
	ResourceVersion string
}

func (e *ConcurrentWriteError) Error() string {
	if e.ResourceVersion == "" {
		return fmt.Sprintf("write state: someone else created %s since meshwave found none; refusing to overwrite their state", e.Location)
	}
	return fmt.Sprintf("write state: someone else wrote %s since meshwave read it (resourceVersion %s); refusing to overwrite their state", e.Location, e.ResourceVersion)
}

// Write implements statemgr.Persister: a create when there is no Secret, an
// update on the resourceVersion last seen otherwise.
func (b *StateBackend) Write(st *states.State) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	ctx, cancel := b.op()
	defer cancel()
	if err := b.lock.usable(b.opts.Now()); err != nil {
		return fmt.Errorf("write state to %s: %w", b.Location(), err)
	}
	if !b.known {
		// Never replace what we have not seen: read it first, and refuse
		// if it is not a usable state.
		if _, err := b.read(ctx); err != nil && !errors.Is(err, statemgr.ErrNoState) {
			return err
		}
	}
	if b.secret != nil && b.lineage != st.Lineage {
		return &statemgr.ForeignLineageError{Path: b.namespace + "/" + b.name, Store: b.Location(), Have: b.lineage, Writing: st.Lineage}
	}
	if st.Serial == math.MaxUint64 {
		return fmt.Errorf("write state: serial %d is the largest a state can have; it cannot record another change", st.Serial)
	}
	st.Serial++
	data, err := encodeState(&b.enc, st)
	if err != nil {
		st.Serial--
		return fmt.Errorf("encode state: %w", err)
	}
	written, err := b.store(ctx, st, data)
	if err != nil {
		st.Serial--
		return err
	}
	b.known, b.secret, b.lineage = true, written, st.Lineage
	return nil
}

// store creates or updates the Secret with data. A request whose answer was
// lost may have been applied: a conflict (or an existing Secret) holding
// exactly data is this write, landed.
func (b *StateBackend) store(ctx context.Context, st *states.State, data []byte) (*corev1.Secret, error) {
	secrets := b.cs.CoreV1().Secrets(b.namespace)
	var sec *corev1.Secret
	if b.secret == nil {
		sec = &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Name: b.name, Namespace: b.namespace, Labels: map[string]string{labelManagedBy: fieldManager}},
			Type:       StateSecretType,
		}
	} else {
		sec = b.secret.DeepCopy()
	}
	if sec.Annotations == nil {
		sec.Annotations = map[string]string{}
	}
	sec.Annotations[annotationLineage] = st.Lineage
	sec.Annotations[annotationSerial] = strconv.FormatUint(st.Serial, 10)
	sec.Data = map[string][]byte{StateDataKey: data}

	var out *corev1.Secret
	err := b.call(ctx, func(ctx context.Context) (err error) {
		if b.secret == nil {
			out, err = secrets.Create(ctx, sec, metav1.CreateOptions{FieldManager: fieldManager})
		} else {
			out, err = secrets.Update(ctx, sec, metav1.UpdateOptions{FieldManager: fieldManager})
		}
		return err
	})
	if err == nil {
		return out, nil
	}
	if !apierrors.IsConflict(err) && !apierrors.IsAlreadyExists(err) {
		return nil, fmt.Errorf("write state to %s: %w", b.Location(), err)
	}
	var now *corev1.Secret
	if gerr := b.call(ctx, func(ctx context.Context) (err error) {
		now, err = secrets.Get(ctx, b.name, metav1.GetOptions{})
		return err
	}); gerr == nil && now.Type == StateSecretType && bytes.Equal(now.Data[StateDataKey], data) {
		return now, nil
	}
	rv := ""
	if b.secret != nil {
		rv = b.secret.ResourceVersion
	}
	return nil, &ConcurrentWriteError{Location: b.Location(), ResourceVersion: rv}
}
