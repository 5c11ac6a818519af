package main

import (
	"context"
	"fmt"
	"path/filepath"
	"time"

	"github.com/spf13/pflag"

	"github.com/meshwave/meshwave/plan/config"
	"github.com/meshwave/meshwave/plan/planfile"
	"github.com/meshwave/meshwave/providers/kube"
	"github.com/meshwave/meshwave/states/statemgr"
)

// stateFlags say where the state lives. They override the plan's state
// block; without either, it is meshwave.state.json beside the plan.
type stateFlags struct {
	path      string
	backend   string
	namespace string
	name      string
	// lockTimeout is how long a command that locks waits for a held lock.
	lockTimeout time.Duration
}

func (f *stateFlags) register(fs *pflag.FlagSet) {
	fs.StringVar(&f.path, "state", "", "state file of the local backend (default: the plan's state block, else "+defaultStateFile+" beside the plan)")
	fs.StringVar(&f.backend, "state-backend", "", `where the state lives: "local" (a file) or "kubernetes" (a Secret and a Lease); overrides the plan's state block`)
	fs.StringVar(&f.namespace, "state-namespace", "", "namespace of the kubernetes backend's Secret and Lease")
	fs.StringVar(&f.name, "state-name", "", "name of the kubernetes backend's Secret and Lease")
}

// registerLock adds -lock-timeout to a command that takes the lock.
func (f *stateFlags) registerLock(fs *pflag.FlagSet) {
	fs.DurationVar(&f.lockTimeout, "lock-timeout", 0,
		"wait this long for a state lock another meshwave holds (a kubernetes lock whose holder died expires by itself); 0 fails at once")
}

// explicit reports whether the flags alone say where the state is.
func (f *stateFlags) explicit() bool { return f.path != "" || f.backend != "" }

// resolve is the state the flags and the plan's state block (cfg nil: no
// plan read) choose together; it is stored back in cfg, so the RBAC
// preflight asks for what the backend needs.
func (f *stateFlags) resolve(cfg *config.Config, pf *planFlags) (config.StateConfig, error) {
	st := config.StateConfig{Backend: config.StateLocal}
	if cfg != nil && cfg.State.Backend != "" {
		st = cfg.State
		if st.Backend == config.StateLocal && st.Path != "" && !filepath.IsAbs(st.Path) {
			// A path in the plan is relative to the plan, like the default.
			st.Path = filepath.Join(planDir(pf), st.Path)
		}
	}
	switch config.StateBackend(f.backend) {
	case "", st.Backend:
	case config.StateLocal, config.StateKubernetes:
		st = config.StateConfig{Backend: config.StateBackend(f.backend)}
	default:
		return st, fmt.Errorf("-state-backend %q: use local or kubernetes", f.backend)
	}
	switch st.Backend {
	case config.StateLocal:
		if f.namespace != "" || f.name != "" {
			return st, fmt.Errorf("-state-namespace and -state-name are for the kubernetes state backend; the state is a local file")
		}
		if f.path != "" {
			st.Path = f.path
		}
		st.Namespace, st.Name = "", ""
	case config.StateKubernetes:
		if f.path != "" {
			return st, fmt.Errorf("-state names a state file, but the state backend is kubernetes (use -state-namespace and -state-name)")
		}
		if f.namespace != "" {
			st.Namespace = f.namespace
		}
		if f.name != "" {
			st.Name = f.name
		}
		if st.Namespace == "" || st.Name == "" {
			return st, fmt.Errorf("the kubernetes state backend needs a namespace and a name (-state-namespace, -state-name, or the plan's state block)")
		}
	}
	if cfg != nil {
		cfg.State = st
	}
	return st, nil
}

// savedBackend is st as a saved plan records it: the local state file as
// this command resolved it (statePathFor), or the kubernetes Secret.
func savedBackend(st config.StateConfig, pf *planFlags) planfile.StateBackend {
	if st.Backend == config.StateKubernetes {
		return planfile.StateBackend{Kind: st.Backend, Namespace: st.Namespace, Name: st.Name}
	}
	return planfile.StateBackend{Kind: config.StateLocal, Path: statePathFor(st.Path, pf)}
}

// forSavedPlan is the state of apply FILE, which reads no plan files: the
// backend saved records, as Terraform's saved plan keeps its backend. The
// -state-* flags may repeat it, in part or in full, but a backend they name
// that is not the recorded one is refused: the plan was checked against
// another state. A plan saved without its backend (format 1.0) takes the
// flags alone, as before.
func (f *stateFlags) forSavedPlan(saved *planfile.File, pf *planFlags) (config.StateConfig, error) {
	if !saved.Backend.Recorded() {
		return f.resolve(nil, pf)
	}
	b := saved.Backend
	recorded := config.StateConfig{Backend: b.Kind, Path: b.Path, Namespace: b.Namespace, Name: b.Name}
	if !f.explicit() && f.namespace == "" && f.name == "" {
		return recorded, nil
	}
	// The flags over the recorded backend, as over a plan's state block; the
	// recorded path is already the one the plan command used, so no plan
	// directory is joined to it.
	st, err := f.resolve(&config.Config{State: recorded}, &planFlags{})
	if err != nil {
		return st, fmt.Errorf("this plan was made against %s: %w", b, err)
	}
	if err := saved.CheckBackend(savedBackend(st, &planFlags{})); err != nil {
		return st, err
	}
	return st, nil
}

// stateStore is where a command reads, writes and locks the state.
type stateStore interface {
	statemgr.Full
	// Location names the state in messages: a file's path, or the
	// Kubernetes Secret.
	Location() string
}

var (
	_ stateStore = (*statemgr.FileStore)(nil)
	_ stateStore = (*kube.StateBackend)(nil)
)

// openStore returns the store of st.
func openStore(st config.StateConfig, pf *planFlags, kf *kubeFlags) (stateStore, error) {
	if st.Backend == config.StateKubernetes {
		if kf.requestTimeout <= 0 {
			return nil, fmt.Errorf("-request-timeout must be positive, got %s", kf.requestTimeout)
		}
		return kube.ConnectStateBackend(kube.ConnectOptions{Kubeconfig: kf.kubeconfig, Context: kf.context, RequestTimeout: kf.requestTimeout},
			st.Namespace, st.Name)
	}
	return statemgr.NewFileStore(statePathFor(st.Path, pf)), nil
}

// lock takes store's lock for operation, waiting -lock-timeout for a
// holder to let go.
func (f *stateFlags) lock(ctx context.Context, store stateStore, operation string) error {
	_, err := statemgr.LockWithin(ctx, store, operation, f.lockTimeout, 2*time.Second)
	return err
}

// open returns the store of a command that reads a plan. When the flags
// say where the state is, the store is opened before the plan is read (cfg
// is nil: planConfig reads it later), so the state, read under its lock,
// is the first thing a command looks at; otherwise the plan is read first
// for its state block.
func (f *stateFlags) open(s streams, pf *planFlags, kf *kubeFlags) (stateStore, *config.Config, error) {
	var cfg *config.Config
	if !f.explicit() {
		var err error
		if cfg, err = pf.load(s); err != nil {
			return nil, nil, err
		}
	}
	st, err := f.resolve(cfg, pf)
	if err != nil {
		return nil, nil, err
	}
	store, err := openStore(st, pf, kf)
	return store, cfg, err
}

// planConfig returns cfg, the plan open read, or reads it now; either way
// its state block is the one the store was opened for.
func (f *stateFlags) planConfig(s streams, pf *planFlags, cfg *config.Config) (*config.Config, error) {
	if cfg != nil {
		return cfg, nil
	}
	cfg, err := pf.load(s)
	if err != nil {
		return nil, err
	}
	_, err = f.resolve(cfg, pf)
	return cfg, err
}

// storeWithoutPlan opens the store of a command that needs no plan
// (force-unlock, state pull and push): the flags say where it is, or else
// the plan's state block, read only when there are plan files.
func (f *stateFlags) storeWithoutPlan(s streams, pf *planFlags, kf *kubeFlags) (stateStore, error) {
	var cfg *config.Config
	if !f.explicit() {
		files := pf.files
		if len(files) == 0 {
			files, _ = config.FindFiles(".")
		}
		if len(files) > 0 {
			var err error
			if cfg, err = pf.load(s); err != nil {
				return nil, err
			}
		}
	}
	st, err := f.resolve(cfg, pf)
	if err != nil {
		return nil, err
	}
	return openStore(st, pf, kf)
}
