package executor

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/meshwave/meshwave/plan"
)

// errKilled is what a fake returns once the simulated process is dead.
var errKilled = errors.New("process killed")

// fakeCluster is an in-memory cluster and Provider. A restart rolls a
// workload only when it changes the workload's restartedAt, the way a
// repeated `kubectl rollout restart` patch with the same value does not.
type fakeCluster struct {
	mu          sync.Mutex
	labels      map[string]string // namespace -> istio.io/rev
	restartedAt map[string]string // namespace/name -> annotation
	rolls       map[string]int    // namespace/name -> rollouts
	gateways    map[string]string // namespace/name -> control plane
	runRecords  map[string][]Record
	calls       []string
	seq         int

	active, maxActive int

	// dead simulates a killed process: nothing changes any more.
	dead atomic.Bool
	// Behaviour knobs, set before a run.
	fail     map[string]error
	failUndo map[string]error
	checkErr map[string]error
	// runDelay is how long a Run takes; in a synctest bubble every Run the
	// executor allows has started before any of them ends.
	runDelay time.Duration
	// onRun, if set, is called at the start of Run.
	onRun func(s plan.Step, rec Record)
	// blockRun makes Run of these steps wait for ctx to end.
	blockRun map[string]bool
	started  chan string
}

func newFakeCluster() *fakeCluster {
	return &fakeCluster{labels: map[string]string{}, restartedAt: map[string]string{}, rolls: map[string]int{},
		gateways: map[string]string{}, runRecords: map[string][]Record{}, fail: map[string]error{},
		failUndo: map[string]error{}, checkErr: map[string]error{}, blockRun: map[string]bool{},
		started: make(chan string, 100)}
}

var _ Provider = (*fakeCluster)(nil)

func (f *fakeCluster) call(c string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, c)
}

func (f *fakeCluster) Calls() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.calls...)
}

func key(o *plan.ObjectRef) string { return o.Namespace + "/" + o.Name }

func (f *fakeCluster) Prepare(ctx context.Context, s plan.Step) (Record, error) {
	if f.dead.Load() {
		return nil, errKilled
	}
	f.call("prepare " + s.ID)
	f.mu.Lock()
	defer f.mu.Unlock()
	switch s.Kind {
	case plan.StepNamespaceRelabel:
		return Record{"label": f.labels[s.Object.Name]}, nil
	case plan.StepWorkloadRestart:
		f.seq++
		return Record{"restartedAt": fmt.Sprintf("t%03d", f.seq)}, nil
	case plan.StepGatewayMigrate:
		return Record{"controlPlane": f.gateways[key(s.Object)]}, nil
	case plan.StepTagMove:
		return Record{"revision": s.FromRevision}, nil
	case plan.StepUninstall:
		return Record{"uid": "uid-" + s.FromRevision}, nil
	case plan.StepInstall:
		return plan.InstallRecord([]plan.InstalledRef{{APIVersion: "apps/v1", Kind: "Deployment", Namespace: "istio-system", Name: "istiod-new"}}, nil)
	}
	return nil, nil
}

func (f *fakeCluster) Run(ctx context.Context, s plan.Step, rec Record, progress Progress) error {
	if f.dead.Load() {
		return errKilled
	}
	f.call("run " + s.ID)
	if f.onRun != nil {
		f.onRun(s, rec)
	}
	f.mu.Lock()
	f.runRecords[s.ID] = append(f.runRecords[s.ID], maps.Clone(rec))
	f.active++
	f.maxActive = max(f.maxActive, f.active)
	block, err := f.blockRun[s.ID], f.fail[s.ID]
	f.mu.Unlock()
	defer func() {
		f.mu.Lock()
		f.active--
		f.mu.Unlock()
	}()
	select {
	case f.started <- s.ID:
	default:
	}
	if block {
		<-ctx.Done()
		return ctx.Err()
	}
	if f.runDelay > 0 {
		time.Sleep(f.runDelay) // a slow step: what a concurrency bound is tested on
	}
	if err != nil {
		return err
	}
	if f.dead.Load() {
		return errKilled
	}
	progress("working")
	f.mu.Lock()
	defer f.mu.Unlock()
	switch s.Kind {
	case plan.StepNamespaceRelabel:
		f.labels[s.Object.Name] = s.ToRevision
	case plan.StepWorkloadRestart:
		f.restart(key(s.Object), rec["restartedAt"])
	case plan.StepGatewayMigrate:
		f.gateways[key(s.Object)] = s.ToRevision
	}
	return nil
}

// restart patches the annotation; only a change rolls the workload.
func (f *fakeCluster) restart(w, at string) {
	if f.restartedAt[w] != at {
		f.restartedAt[w] = at
		f.rolls[w]++
	}
}

func (f *fakeCluster) Verify(ctx context.Context, s plan.Step, rec Record) error {
	if f.dead.Load() {
		return errKilled
	}
	f.call("check " + s.ID)
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.checkErr[s.ID]; err != nil {
		return err
	}
	switch s.Kind {
	case plan.StepNamespaceRelabel:
		if f.labels[s.Object.Name] != s.ToRevision {
			return fmt.Errorf("label is %q", f.labels[s.Object.Name])
		}
	case plan.StepWorkloadRestart:
		if f.restartedAt[key(s.Object)] != rec["restartedAt"] {
			return fmt.Errorf("restartedAt is %q", f.restartedAt[key(s.Object)])
		}
	}
	return nil
}

func (f *fakeCluster) Rollback(ctx context.Context, s plan.Step, rec Record, progress Progress) error {
	if f.dead.Load() {
		return errKilled
	}
	f.call("undo " + s.ID)
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.failUndo[s.ID]; err != nil {
		return err
	}
	switch s.Kind {
	case plan.StepNamespaceRelabel:
		f.labels[s.Object.Name] = rec["label"]
	case plan.StepWorkloadRestart:
		if rec[plan.RecordRollbackAt] == "" {
			return errors.New("no undo time recorded")
		}
		f.restart(key(s.Object), rec[plan.RecordRollbackAt])
	case plan.StepGatewayMigrate:
		f.gateways[key(s.Object)] = rec["controlPlane"]
	}
	return nil
}

// testWave describes a wave of a test plan.
type testWave struct {
	name        string
	namespaces  map[string][]string // namespace -> deployments
	maxParallel int
	gates       []plan.Gate
}

// testPlan builds a plan shaped like plan.Compute's: gateways, then per wave
// relabels, restarts, wait, verify and gates. The fake cluster starts with
// everything on "old".
func testPlan(f *fakeCluster, gateways []string, waves ...testWave) *plan.Plan {
	p := &plan.Plan{From: "old", To: "new", SourceHash: "hash-1"}
	var gws []plan.Step
	for _, g := range gateways {
		ref := &plan.ObjectRef{Kind: "MeshGateway", Namespace: "istio-system", Name: g}
		f.gateways[key(ref)] = "old"
		gws = append(gws, plan.Step{ID: "gateway/istio-system/" + g, Kind: plan.StepGatewayMigrate,
			Action: plan.ActionUpdate, Object: ref, FromRevision: "old", ToRevision: "new"})
	}
	p.AddPhase(plan.Phase{Kind: plan.PhaseGateways}, plan.OneByOne(gws...)...)
	for _, w := range waves {
		prefix := "wave/" + w.name + "/"
		var nss []string
		for ns := range w.namespaces {
			nss = append(nss, ns)
		}
		slices.Sort(nss)
		var relabels, restarts, gates []plan.Step
		var workloads []plan.ObjectRef
		for _, ns := range nss {
			f.labels[ns] = "old"
			relabels = append(relabels, plan.Step{ID: prefix + "relabel/" + ns, Kind: plan.StepNamespaceRelabel,
				Action: plan.ActionUpdate, Wave: w.name, Object: &plan.ObjectRef{Kind: "Namespace", Name: ns},
				FromRevision: "old", ToRevision: "new"})
			for _, d := range w.namespaces[ns] {
				ref := plan.ObjectRef{Kind: "Deployment", Namespace: ns, Name: d}
				workloads = append(workloads, ref)
				restarts = append(restarts, plan.Step{ID: prefix + "restart/" + ns + "/deployment/" + d,
					Kind: plan.StepWorkloadRestart, Action: plan.ActionRestart, Wave: w.name, Object: &ref,
					FromRevision: "old", ToRevision: "new"})
			}
		}
		for i, g := range w.gates {
			g := g
			gates = append(gates, plan.Step{ID: fmt.Sprintf("%sgate/%d-%s", prefix, i, g.Kind), Kind: plan.StepGate,
				Action: plan.ActionRead, Wave: w.name, Gate: &g})
		}
		groups := [][]plan.Step{relabels, restarts}
		groups = append(groups, plan.OneByOne(
			plan.Step{ID: prefix + "wait", Kind: plan.StepWaveWait, Action: plan.ActionRead, Wave: w.name, Namespaces: nss, Workloads: workloads},
			plan.Step{ID: prefix + "verify", Kind: plan.StepWaveVerify, Action: plan.ActionRead, Wave: w.name, Namespaces: nss, Workloads: workloads})...)
		groups = append(groups, plan.OneByOne(gates...)...)
		p.AddPhase(plan.Phase{Kind: plan.PhaseWave, Wave: w.name, MaxParallel: w.maxParallel}, groups...)
	}
	p.RollbackOrder = plan.RollbackOrder(p.Steps, p.Phases)
	return p
}
