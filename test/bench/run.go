package bench

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"k8s.io/client-go/kubernetes"

	"github.com/meshwave/meshwave/test/meshsim"
	"github.com/meshwave/meshwave/test/testenv"
)

// bench is one run: the options, the cluster and the mesh.
type bench struct {
	opts Options
	env  *testenv.Cluster
	sim  *meshsim.Sim
	cs   kubernetes.Interface
	t0   time.Time
}

func (b *bench) logf(format string, args ...any) {
	if b.opts.Log != nil {
		fmt.Fprintf(b.opts.Log, "bench [%s] %s\n", time.Since(b.t0).Round(time.Second), fmt.Sprintf(format, args...))
	}
}

// Run starts the cluster and the mesh, measures every case and writes the
// report (after each case, so a stopped run leaves what it measured). The
// cluster is deleted when Run returns, also when ctx is cancelled; a reaper
// deletes it if this process dies first. The error joins every case's.
func Run(ctx context.Context, opts Options) (*Report, error) {
	b := &bench{opts: opts, t0: time.Now()}
	if _, err := os.Stat(opts.Meshwave); err != nil {
		return nil, fmt.Errorf("bench: the meshwave binary: %w (make bench-cluster builds it)", err)
	}
	if opts.TestenvBin == "" {
		return nil, errors.New("bench: no control plane binaries: set " + testenv.EnvBinDir + " or -testenv-bin (make bench-cluster does)")
	}
	if err := os.MkdirAll(filepath.Join(opts.WorkDir, "results"), 0o755); err != nil {
		return nil, err
	}
	rep := &Report{Command: opts.Command, Started: time.Now(), Sizes: opts.Sizes, DefaultSizes: DefaultSizes,
		Regimes: opts.Regimes, ManualMaxN: opts.ManualMaxN, HalfDone: opts.HalfDone, Samples: opts.Samples, Machine: b.machine()}

	// The cluster.
	suffix := make([]byte, 4)
	_, _ = rand.Read(suffix)
	copts := testenv.Options{Name: "mw-bench-" + hex.EncodeToString(suffix), Dir: filepath.Join(opts.WorkDir, "cluster"), BinDir: opts.TestenvBin}
	reaper, err := testenv.StartReaper(copts)
	if err != nil {
		return nil, err
	}
	defer func() {
		dctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		if err := testenv.Attach(copts).Delete(dctx); err != nil {
			b.logf("delete the cluster: %v", err)
		}
		_ = syscall.Kill(-reaper.Pid, syscall.SIGKILL)
		_, _ = reaper.Wait()
		_ = os.RemoveAll(copts.Dir)
		b.logf("cluster %s deleted", copts.Name)
	}()
	b.logf("starting the local control plane %s in %s", copts.Name, copts.Dir)
	sctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	b.env, err = testenv.Start(sctx, copts)
	cancel()
	if err != nil {
		return nil, err
	}
	b.cs = b.env.Client
	if v, err := b.cs.Discovery().ServerVersion(); err == nil {
		rep.Machine.KubeVersion = v.GitVersion
	}

	// The mesh, served by this process until Run returns.
	simCtx, stopSim := context.WithCancel(ctx)
	defer stopSim()
	simLog, err := os.Create(filepath.Join(opts.WorkDir, "meshsim.log"))
	if err != nil {
		return nil, err
	}
	defer simLog.Close()
	if b.sim, err = meshsim.Start(simCtx, b.env.Config, meshsim.WithLog(simLog)); err != nil {
		return nil, err
	}
	lctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	err = b.sim.LoadScenario(lctx, meshsim.ScenarioBackyards)
	cancel()
	if err != nil {
		return nil, err
	}
	b.logf("cluster up with meshsim's %s scenario", meshsim.ScenarioBackyards)

	var errs []error
	for i, n := range opts.Sizes {
		for j, d := range opts.Regimes {
			if ctx.Err() != nil {
				break
			}
			c := Case{N: n, StartDelay: d}
			// The last case's set goes with the cluster: deleting it first
			// would take 9 minutes at N = 1000 and measure nothing.
			last := i == len(opts.Sizes)-1 && j == len(opts.Regimes)-1
			res, reused := b.reused(c, rep.Machine.Commit)
			if reused {
				b.logf("case %s: figures reused from %s", c.ID(), res.Measured.Format(time.RFC3339))
			} else {
				res = b.runCase(ctx, c, last)
				res.Commit = rep.Machine.Commit
				b.save(res)
			}
			for _, e := range res.Errors {
				errs = append(errs, fmt.Errorf("case %s: %s", c.ID(), e))
			}
			rep.Results = append(rep.Results, res)
			rep.Ended = time.Now()
			rep.Complete = len(rep.Results) == len(opts.Sizes)*len(opts.Regimes)
			if err := b.writeDoc(rep); err != nil {
				errs = append(errs, err)
			}
		}
	}
	if ctx.Err() != nil {
		errs = append(errs, fmt.Errorf("bench: stopped: %w", ctx.Err()))
	}
	return rep, errors.Join(errs...)
}

// runCase measures one case on one set of N namespaces, created on the
// source revision and deleted at the end. Each measurement moves every
// namespace and pod of the set to the other revision: meshwave's apply to
// the target, B back to the source, the half-done apply to the target
// again, A back to the source. A move back is the same work as a move
// forward (a label patch per namespace, a restart per Deployment, every pod
// replaced), and one set per case instead of one per measurement saves
// three creations and deletions, the longest part of a case at N = 1000.
// After a measurement that failed, where the set stands is not known: it is
// made again before the next. A failed measurement is recorded as an error;
// its figures stay unset.
func (b *bench) runCase(ctx context.Context, c Case, last bool) Result {
	res := Result{Case: c, Measured: time.Now()}
	b.logf("case %s: N = %d, %s", c.ID(), c.N, c.Regime())
	fail := func(err error) {
		b.logf("case %s: FAILED: %v", c.ID(), err)
		res.Errors = append(res.Errors, err.Error())
	}
	s := set{name: c.ID(), n: c.N, delay: c.StartDelay}
	// at is the revision every pod of the set runs; "" when that is not
	// known (no set yet, or a measurement failed).
	at, made := "", false
	measure := func(fromSource bool, run func(from, to string) error) {
		if ctx.Err() != nil {
			return
		}
		if at == "" || (fromSource && at != sourceRevision) {
			if made {
				if err := b.remove(ctx, s); err != nil {
					fail(err)
					return
				}
			}
			made = true
			if err := b.create(ctx, s); err != nil {
				fail(err)
				return
			}
			at = sourceRevision
		}
		from, to := at, sourceRevision
		if from == sourceRevision {
			to = targetRevision
		}
		at = ""
		if err := run(from, to); err != nil {
			fail(err)
			return
		}
		at = to
	}

	var applies []Process
	var baselines []time.Duration
	for i := 1; i <= max(1, b.opts.Samples); i++ {
		measure(true, func(_, to string) error {
			name := c.ID() + "-mw"
			if i > 1 {
				name += fmt.Sprintf("-%d", i)
			}
			dir, err := b.caseDir(s, name)
			if err != nil {
				return err
			}
			if i == 1 {
				if res.Plan, err = b.measurePlan(ctx, dir, s); err != nil {
					return fmt.Errorf("plan: %w", err)
				}
				b.logf("plan: %s, %d requests (reference %d)", res.Plan.Binary.Wall.Round(time.Millisecond), res.Plan.Requests, res.Plan.RefPages)
			}
			apply, err := b.timed(ctx, dir, "apply.out", "apply", "-auto-approve")
			if err != nil {
				return fmt.Errorf("apply: %w", err)
			}
			if err := b.onRevision(ctx, s, to); err != nil {
				return fmt.Errorf("apply exited 0 but: %w", err)
			}
			applies = append(applies, apply)
			b.logf("apply (sample %d): %s, peak RSS %s, %d lines", i, apply.Wall.Round(time.Millisecond), mib(apply.MaxRSSKB), apply.Lines)
			if i > 1 {
				return nil
			}
			again, err := b.timed(ctx, dir, "apply-again.out", "apply", "-auto-approve")
			if err != nil {
				return fmt.Errorf("apply again on the finished state: %w", err)
			}
			res.ResumeFinished = &again
			b.logf("apply again: %s", again.Wall.Round(time.Millisecond))
			return nil
		})
		measure(false, func(from, to string) error {
			d, err := b.baseline(ctx, s, to)
			if err != nil {
				return err
			}
			if err := b.onRevision(ctx, s, to); err != nil {
				return fmt.Errorf("B finished but: %w", err)
			}
			baselines = append(baselines, d)
			b.logf("B (sample %d, %s to %s): %s", i, from, to, d.Round(time.Millisecond))
			return nil
		})
	}
	res.ApplySamples, res.BaselineSamples = applies, baselines
	if len(applies) > 0 {
		a := medianProcess(applies)
		res.Apply = &a
	}
	if len(baselines) > 0 {
		m := medianDuration(baselines)
		res.Baseline = &m
	}
	if b.opts.HalfDone {
		measure(true, func(_, to string) error {
			h, err := b.halfDone(ctx, s, c.ID()+"-half", to)
			if err != nil {
				return fmt.Errorf("half-done resume: %w", err)
			}
			res.Half = h
			b.logf("half-done: killed after %d of %d restarts, resumed in %s, %d steps run again, %d rolled twice",
				h.KilledAfter, h.Restarts, h.Resume.Wall.Round(time.Millisecond), len(h.RunAgain), len(h.RolledTwice))
			return nil
		})
	}
	if c.N <= b.opts.ManualMaxN {
		measure(false, func(from, to string) error {
			d, err := b.manual(ctx, s, to)
			if err != nil {
				return err
			}
			if err := b.onRevision(ctx, s, to); err != nil {
				return fmt.Errorf("A finished but: %w", err)
			}
			res.Manual = &d
			b.logf("A (%s to %s): %s", from, to, d.Round(time.Millisecond))
			return nil
		})
	}
	// After a cancel, and after the last case, nothing is deleted: the
	// cluster goes as a whole. A deletion a cancel stopped is no failure
	// of the case.
	if made && !last && ctx.Err() == nil {
		if err := b.remove(ctx, s); err != nil && ctx.Err() == nil {
			fail(err)
		}
	}
	return res
}

// timed runs meshwave bounded by RunTimeout.
func (b *bench) timed(ctx context.Context, dir, logName string, args ...string) (Process, error) {
	ctx, cancel := context.WithTimeout(ctx, b.opts.RunTimeout)
	defer cancel()
	return b.meshwave(ctx, dir, logName, args...)
}

// halfDone kills an apply once half its restarts are done, applies again,
// and proves that nothing the first run finished ran again.
func (b *bench) halfDone(ctx context.Context, s set, name, to string) (*HalfDone, error) {
	dir, err := b.caseDir(s, name)
	if err != nil {
		return nil, err
	}
	before, err := b.replicaSets(ctx, s)
	if err != nil {
		return nil, err
	}
	h := &HalfDone{Restarts: s.n * deploymentsPerNamespace}
	rctx, cancel := context.WithTimeout(ctx, b.opts.RunTimeout)
	defer cancel()
	killedAfter, doneEvents, err := b.applyKilledHalfway(rctx, dir, h.Restarts)
	if err != nil {
		return nil, err
	}
	h.KilledAfter = killedAfter
	state, err := readState(dir)
	if err != nil {
		return nil, err
	}
	doneBefore := map[string]int{}
	for id, st := range state {
		if st.status == "done" {
			doneBefore[id] = st.attempts
		}
	}
	h.DoneBefore = len(doneBefore)
	for _, id := range doneEvents {
		if _, ok := doneBefore[id]; !ok {
			h.Unsaved = append(h.Unsaved, id)
		}
	}
	h.Resume, h.RunAgain, err = b.resumeAfterKill(rctx, dir, doneBefore)
	if err != nil {
		return nil, err
	}
	if err := b.onRevision(ctx, s, to); err != nil {
		return nil, fmt.Errorf("the resumed apply exited 0 but: %w", err)
	}
	after, err := b.replicaSets(ctx, s)
	if err != nil {
		return nil, err
	}
	h.RolledTwice = rolledTwice(before, after)
	return h, nil
}

func (b *bench) resultPath(c Case) string {
	return filepath.Join(b.opts.WorkDir, "results", c.ID()+".json")
}

// save keeps a case's figures, for -reuse and for a look afterwards.
func (b *bench) save(res Result) {
	data, err := json.MarshalIndent(res, "", "  ")
	if err == nil {
		err = os.WriteFile(b.resultPath(res.Case), data, 0o644)
	}
	if err != nil {
		b.logf("save the figures of %s: %v", res.ID(), err)
	}
}

// reused returns a case's figures from an earlier run of the same commit
// that measured it without error, when Reuse is on.
func (b *bench) reused(c Case, commit string) (Result, bool) {
	if !b.opts.Reuse || strings.HasSuffix(commit, "-dirty") {
		return Result{}, false
	}
	data, err := os.ReadFile(b.resultPath(c))
	if err != nil {
		return Result{}, false
	}
	var res Result
	if json.Unmarshal(data, &res) != nil || res.Commit != commit || len(res.Errors) > 0 || res.Case != c ||
		len(res.ApplySamples) != max(1, b.opts.Samples) {
		return Result{}, false
	}
	res.Reused = true
	return res, true
}

// writeDoc rewrites the generated section of the document, atomically.
func (b *bench) writeDoc(rep *Report) error {
	if b.opts.Doc == "" {
		return nil
	}
	old, err := os.ReadFile(b.opts.Doc)
	if err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	doc, err := ReplaceSection(string(old), rep.Markdown())
	if err != nil {
		return err
	}
	tmp := b.opts.Doc + ".tmp"
	if err := os.WriteFile(tmp, []byte(doc), 0o644); err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	return os.Rename(tmp, b.opts.Doc)
}

// machine describes where the run happens.
func (b *bench) machine() Machine {
	m := Machine{CPUs: runtime.NumCPU(), GoVersion: runtime.Version(), OS: runtime.GOOS + "/" + runtime.GOARCH,
		CPUModel: "unknown", Commit: "unknown", MeshwaveVersion: "unknown", KubeVersion: "unknown"}
	if rel, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.OS += ", Linux " + strings.TrimSpace(string(rel))
	}
	if v := procField("/proc/cpuinfo", "model name"); v != "" {
		m.CPUModel = v
	}
	if v := procField("/proc/meminfo", "MemTotal"); v != "" {
		kb, _ := strconv.ParseInt(strings.TrimSuffix(v, " kB"), 10, 64)
		m.MemoryMiB = kb / 1024
	}
	m.Commit = commit()
	if out, err := exec.Command(b.opts.Meshwave, "version").Output(); err == nil {
		m.MeshwaveVersion = strings.TrimSpace(string(out))
	}
	return m
}

// commit is `git describe` of the working tree, "-dirty" when a tracked
// file other than the benchmark's own document differs from it (the
// benchmark rewrites that one, so it must not make the next run dirty).
func commit() string {
	out, err := exec.Command("git", "describe", "--tags", "--always").Output()
	if err != nil {
		return "unknown"
	}
	c := strings.TrimSpace(string(out))
	status, err := exec.Command("git", "status", "--porcelain", "--untracked-files=no", "--", ".", ":(exclude)docs/benchmarks.md").Output()
	if err != nil || len(strings.TrimSpace(string(status))) > 0 {
		c += "-dirty"
	}
	return c
}

// procField reads the first "name : value" line of a /proc file.
func procField(path, name string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	return field(f, name)
}

func field(r io.Reader, name string) string {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if ok && strings.TrimSpace(k) == name {
			return strings.TrimSpace(v)
		}
	}
	return ""
}
