package kube

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilptr "k8s.io/utils/ptr"

	"github.com/meshwave/meshwave/states/statemgr"
)

// The lock of the Kubernetes state backend is a coordination.k8s.io/v1
// Lease. Its annotations name the holder (what statemgr.LockInfo holds);
// the holder renews it every RenewEvery, and a Lease not renewed for its
// leaseDurationSeconds is expired: the next locker takes it over. Every
// change of the Lease is a create or a compare-and-swap on its
// resourceVersion, so two processes racing for it cannot both win.
const (
	annotationLockID        = "meshwave.io/lock-id"
	annotationLockUser      = "meshwave.io/lock-user"
	annotationLockHost      = "meshwave.io/lock-host"
	annotationLockPID       = "meshwave.io/lock-pid"
	annotationLockOperation = "meshwave.io/lock-operation"
	annotationLockCreated   = "meshwave.io/lock-created"
	annotationLockKubeUser  = "meshwave.io/lock-kube-user"
)

// leaseLock is the lock this process holds, if any.
type leaseLock struct {
	mu   sync.Mutex
	info *statemgr.LockInfo
	// rv is the Lease's resourceVersion after our last write of it.
	rv string
	// renewed is when we last took or renewed the Lease (local clock).
	renewed time.Time
	// lost says why the lock is no longer ours.
	lost     error
	duration time.Duration
	stop     context.CancelFunc
	done     chan struct{}

	// seenRV and seenAt are the resourceVersion of another holder's Lease
	// and when this process first saw it: a Lease unchanged for longer
	// than its duration has expired, whatever the holder's clock says.
	seenRV string
	seenAt time.Time
}

// usable says whether a state write may rely on the lock: nil when no lock
// is held (a write outside a lock, as FileStore allows) or it is held and
// renewed recently enough that nobody else can have taken it.
func (l *leaseLock) usable(now time.Time) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	switch {
	case l.info == nil:
		return nil
	case l.lost != nil:
		return l.lost
	case now.Sub(l.renewed) >= l.duration:
		return fmt.Errorf("the lock was not renewed for %s and may have been taken over", now.Sub(l.renewed).Round(time.Second))
	}
	return nil
}

func (b *StateBackend) leases() leaseClient {
	return b.cs.CoordinationV1().Leases(b.namespace)
}

type leaseClient interface {
	Get(ctx context.Context, name string, opts metav1.GetOptions) (*coordinationv1.Lease, error)
	Create(ctx context.Context, lease *coordinationv1.Lease, opts metav1.CreateOptions) (*coordinationv1.Lease, error)
	Update(ctx context.Context, lease *coordinationv1.Lease, opts metav1.UpdateOptions) (*coordinationv1.Lease, error)
	Delete(ctx context.Context, name string, opts metav1.DeleteOptions) error
}

// readLease reads the state's Lease, retrying transient errors.
func (b *StateBackend) readLease(ctx context.Context) (cur *coordinationv1.Lease, err error) {
	err = b.call(ctx, func(ctx context.Context) (err error) {
		cur, err = b.leases().Get(ctx, b.name, metav1.GetOptions{})
		return err
	})
	return cur, err
}

// Lock implements statemgr.Locker: it creates the Lease, or takes it over
// when it is released or expired, and renews it until Unlock. A Lease held
// and live fails at once with *statemgr.LockedError naming its holder and
// when it expires.
func (b *StateBackend) Lock(operation string) (*statemgr.LockInfo, error) {
	b.lock.mu.Lock()
	held := b.lock.info
	b.lock.mu.Unlock()
	if held != nil {
		return nil, &statemgr.LockedError{Path: b.namespace + "/" + b.name, Store: b.Location(), Info: held}
	}
	ctx, cancel := b.op()
	defer cancel()
	info := statemgr.NewLockInfo(b.Location(), operation, b.opts.Now())
	info.KubeUser = b.whoAmI(ctx)
	for range 5 {
		cur, err := b.readLease(ctx)
		switch {
		case apierrors.IsNotFound(err):
			cur = nil
		case err != nil:
			return nil, fmt.Errorf("lock state: read Lease %s/%s: %w", b.namespace, b.name, err)
		case cur.Labels[labelManagedBy] != fieldManager:
			return nil, fmt.Errorf("lock state: Lease %s/%s exists and was not created by meshwave (no %s=%s label); meshwave will not take it over",
				b.namespace, b.name, labelManagedBy, fieldManager)
		}
		now := b.opts.Now()
		if cur != nil && b.liveHolder(cur, now) {
			return nil, &statemgr.LockedError{Path: b.namespace + "/" + b.name, Store: b.Location(), Info: lockInfoOf(cur, b.Location()),
				Expires: expiryOf(cur, now)}
		}
		taken, err := b.take(ctx, cur, info, now)
		if apierrors.IsAlreadyExists(err) || apierrors.IsConflict(err) {
			if taken = b.landed(ctx, info.ID); taken == nil {
				continue // someone else was faster: look again
			}
		} else if err != nil {
			return nil, fmt.Errorf("lock state: write Lease %s/%s: %w", b.namespace, b.name, err)
		}
		b.startRenewing(taken.ResourceVersion, info, now)
		return info, nil
	}
	return nil, fmt.Errorf("lock state: Lease %s/%s keeps changing; try again", b.namespace, b.name)
}

// liveHolder says whether cur names a holder whose lock has not expired:
// by the renewTime it carries, or, if this process has watched it stay
// unchanged for longer than its duration, by this process's own clock.
func (b *StateBackend) liveHolder(cur *coordinationv1.Lease, now time.Time) bool {
	if cur.Spec.HolderIdentity == nil || *cur.Spec.HolderIdentity == "" {
		return false
	}
	if !now.Before(expiryOf(cur, now)) {
		return false
	}
	b.lock.mu.Lock()
	defer b.lock.mu.Unlock()
	if cur.ResourceVersion != b.lock.seenRV {
		b.lock.seenRV, b.lock.seenAt = cur.ResourceVersion, now
		return true
	}
	return now.Sub(b.lock.seenAt) < leaseDuration(cur)
}

// expiryOf is when cur lapses unless renewed.
func expiryOf(cur *coordinationv1.Lease, now time.Time) time.Time {
	renewed := now
	switch {
	case cur.Spec.RenewTime != nil:
		renewed = cur.Spec.RenewTime.Time
	case cur.Spec.AcquireTime != nil:
		renewed = cur.Spec.AcquireTime.Time
	}
	return renewed.Add(leaseDuration(cur))
}

func leaseDuration(cur *coordinationv1.Lease) time.Duration {
	if cur.Spec.LeaseDurationSeconds == nil {
		return DefaultLeaseDuration
	}
	return time.Duration(*cur.Spec.LeaseDurationSeconds) * time.Second
}

// take creates the Lease (cur nil) or takes over cur on its
// resourceVersion.
func (b *StateBackend) take(ctx context.Context, cur *coordinationv1.Lease, info *statemgr.LockInfo, now time.Time) (*coordinationv1.Lease, error) {
	var l *coordinationv1.Lease
	if cur == nil {
		l = &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Name: b.name, Namespace: b.namespace,
			Labels: map[string]string{labelManagedBy: fieldManager}}}
	} else {
		l = cur.DeepCopy()
	}
	l.Annotations = map[string]string{
		annotationLockID: info.ID, annotationLockUser: info.Holder, annotationLockHost: info.Host,
		annotationLockPID: strconv.Itoa(info.PID), annotationLockOperation: info.Operation,
		annotationLockCreated: info.Created.Format(time.RFC3339Nano),
	}
	if info.KubeUser != "" {
		l.Annotations[annotationLockKubeUser] = info.KubeUser
	}
	mt := metav1.NewMicroTime(now)
	l.Spec = coordinationv1.LeaseSpec{
		HolderIdentity:       utilptr.To(fmt.Sprintf("%s pid %d", info.Holder, info.PID)),
		LeaseDurationSeconds: utilptr.To(int32(b.opts.LeaseDuration / time.Second)),
		AcquireTime:          &mt, RenewTime: &mt,
	}
	if cur != nil && cur.Spec.LeaseTransitions != nil {
		l.Spec.LeaseTransitions = utilptr.To(*cur.Spec.LeaseTransitions + 1)
	}
	var out *coordinationv1.Lease
	err := b.call(ctx, func(ctx context.Context) (err error) {
		if cur == nil {
			out, err = b.leases().Create(ctx, l, metav1.CreateOptions{FieldManager: fieldManager})
		} else {
			out, err = b.leases().Update(ctx, l, metav1.UpdateOptions{FieldManager: fieldManager})
		}
		return err
	})
	return out, err
}

// landed reads the Lease after a create or update refused as a conflict: a
// retried request whose first answer was lost may be ours, landed.
func (b *StateBackend) landed(ctx context.Context, id string) *coordinationv1.Lease {
	cur, err := b.readLease(ctx)
	if err != nil || cur.Annotations[annotationLockID] != id {
		return nil
	}
	return cur
}

// lockInfoOf reads the holder from a Lease's annotations.
func lockInfoOf(l *coordinationv1.Lease, location string) *statemgr.LockInfo {
	a := l.Annotations
	pid, _ := strconv.Atoi(a[annotationLockPID])
	created, _ := time.Parse(time.RFC3339Nano, a[annotationLockCreated])
	return &statemgr.LockInfo{ID: a[annotationLockID], Holder: a[annotationLockUser], Host: a[annotationLockHost], PID: pid,
		Operation: a[annotationLockOperation], Created: created, Path: location, KubeUser: a[annotationLockKubeUser]}
}

// whoAmI is the Kubernetes user the client acts as, for the lock's
// holder; empty when the API server does not say.
func (b *StateBackend) whoAmI(ctx context.Context) string {
	r, err := b.cs.AuthenticationV1().SelfSubjectReviews().Create(ctx, &authenticationv1.SelfSubjectReview{}, metav1.CreateOptions{})
	if err != nil || r == nil {
		return ""
	}
	return r.Status.UserInfo.Username
}

// startRenewing records the lock as ours and renews it until Unlock.
func (b *StateBackend) startRenewing(rv string, info *statemgr.LockInfo, now time.Time) {
	ctx, stop := context.WithCancel(context.Background())
	l := &b.lock
	l.mu.Lock()
	l.info, l.rv, l.renewed, l.lost, l.duration = info, rv, now, nil, b.opts.LeaseDuration
	l.stop, l.done = stop, make(chan struct{})
	done := l.done
	l.mu.Unlock()
	go func() {
		defer close(done)
		t := time.NewTicker(b.opts.RenewEvery)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			if err := b.renew(ctx); err != nil {
				l.mu.Lock()
				l.lost = err
				l.mu.Unlock()
				return
			}
		}
	}()
}

// renew moves the Lease's renewTime to now, if the Lease is still ours. It
// returns an error only when the lock is lost: taken over, or deleted.
func (b *StateBackend) renew(ctx context.Context) error {
	l := &b.lock
	l.mu.Lock()
	id := l.info.ID
	l.mu.Unlock()
	ctx, cancel := context.WithTimeout(ctx, b.opts.RenewEvery)
	defer cancel()
	cur, err := b.readLease(ctx)
	switch {
	case apierrors.IsNotFound(err):
		return fmt.Errorf("the lock's Lease %s/%s was deleted (force-unlock?)", b.namespace, b.name)
	case err != nil:
		return nil // the next tick tries again; Write refuses once the lease may have lapsed
	case cur.Annotations[annotationLockID] != id:
		holder := lockInfoOf(cur, b.Location())
		return fmt.Errorf("the lock was taken over by %s (pid %d, lock ID %s)", holder.Holder, holder.PID, holder.ID)
	}
	now := b.opts.Now()
	mt := metav1.NewMicroTime(now)
	cur.Spec.RenewTime = &mt
	var out *coordinationv1.Lease
	err = b.call(ctx, func(ctx context.Context) (err error) {
		out, err = b.leases().Update(ctx, cur, metav1.UpdateOptions{FieldManager: fieldManager})
		return err
	})
	if err != nil {
		return nil // a conflict or an outage: the next tick reads again
	}
	l.mu.Lock()
	l.rv, l.renewed = out.ResourceVersion, now
	l.mu.Unlock()
	return nil
}

// Unlock implements statemgr.Locker: it stops renewing and deletes the
// Lease, only if it is still ours.
func (b *StateBackend) Unlock() error {
	l := &b.lock
	l.mu.Lock()
	info, stop, done := l.info, l.stop, l.done
	l.mu.Unlock()
	if info == nil {
		return nil
	}
	stop()
	<-done
	l.mu.Lock()
	l.info = nil
	l.mu.Unlock()
	ctx, cancel := b.op()
	defer cancel()
	for range 5 {
		cur, err := b.readLease(ctx)
		switch {
		case apierrors.IsNotFound(err):
			return nil
		case err != nil:
			return fmt.Errorf("unlock state: %w", err)
		case cur.Annotations[annotationLockID] != info.ID:
			return nil // broken by force-unlock, maybe someone else's now
		}
		err = b.deleteLease(ctx, cur)
		if apierrors.IsConflict(err) {
			continue
		}
		if err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("unlock state: %w", err)
		}
		return nil
	}
	return fmt.Errorf("unlock state: Lease %s/%s keeps changing", b.namespace, b.name)
}

// deleteLease deletes cur if it has not changed since it was read.
func (b *StateBackend) deleteLease(ctx context.Context, cur *coordinationv1.Lease) error {
	pre := metav1.Preconditions{UID: utilptr.To(cur.UID), ResourceVersion: utilptr.To(cur.ResourceVersion)}
	return b.call(ctx, func(ctx context.Context) error {
		return b.leases().Delete(ctx, b.name, metav1.DeleteOptions{Preconditions: &pre})
	})
}

// ForceUnlock implements statemgr.Locker: it deletes the Lease if it names
// id, whoever holds it.
func (b *StateBackend) ForceUnlock(id string) error {
	ctx, cancel := b.op()
	defer cancel()
	cur, err := b.readLease(ctx)
	switch {
	case apierrors.IsNotFound(err):
		return fmt.Errorf("force-unlock: %s is not locked (no Lease %s/%s)", b.Location(), b.namespace, b.name)
	case err != nil:
		return fmt.Errorf("force-unlock: %w", err)
	case cur.Labels[labelManagedBy] != fieldManager:
		return fmt.Errorf("force-unlock: Lease %s/%s was not created by meshwave; meshwave will not delete it", b.namespace, b.name)
	}
	if info := lockInfoOf(cur, b.Location()); info.ID != id {
		return &statemgr.LockIDMismatchError{Want: id, Info: info}
	}
	if err := b.deleteLease(ctx, cur); err != nil {
		if apierrors.IsConflict(err) {
			return fmt.Errorf("force-unlock: Lease %s/%s changed while it was being deleted; run force-unlock again", b.namespace, b.name)
		}
		return fmt.Errorf("force-unlock: %w", err)
	}
	return nil
}
