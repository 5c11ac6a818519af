package executor

import (
	"context"
	"errors"
	"sync/atomic"

	"golang.org/x/sync/errgroup"

	"github.com/meshwave/meshwave/plan"
)

// runParallel runs fn for steps, at most limit at once. After a failure no
// further step starts; those already started finish, so the group does not
// cancel ctx. The first error wins, except that an interruption or a state
// that could not be saved is reported as such (firstError).
func (r *run) runParallel(ctx context.Context, steps []plan.Step, limit int, fn func(context.Context, plan.Step) error) error {
	if len(steps) <= 1 || limit <= 1 {
		for _, s := range steps {
			if err := fn(ctx, s); err != nil {
				return err
			}
		}
		return nil
	}
	var (
		g      errgroup.Group
		failed atomic.Bool
		errs   = make([]error, len(steps))
	)
	g.SetLimit(limit)
	for i, s := range steps {
		g.Go(func() error {
			// Checked once the step has its turn: a failure while it waited
			// keeps it from starting.
			if failed.Load() || ctx.Err() != nil {
				return nil
			}
			if errs[i] = fn(ctx, s); errs[i] != nil {
				failed.Store(true)
			}
			return nil
		})
	}
	_ = g.Wait() // the goroutines report through errs
	var got []error
	for _, err := range errs {
		if err != nil {
			got = append(got, err)
		}
	}
	if len(got) == 0 && ctx.Err() != nil {
		return &InterruptedError{Cause: ctx.Err()}
	}
	return firstError(got)
}

// firstError prefers an interruption or a save failure, which stop
// everything, over a step's failure.
func firstError(errs []error) error {
	var ie *InterruptedError
	running := []string{}
	for _, err := range errs {
		if errors.As(err, &ie) {
			running = append(running, ie.Steps...)
		}
	}
	for _, err := range errs {
		var se *SaveError
		if errors.As(err, &se) {
			return err
		}
	}
	for _, err := range errs {
		if errors.As(err, &ie) {
			return &InterruptedError{Steps: running, Cause: ie.Cause}
		}
	}
	if len(errs) == 0 {
		return nil
	}
	return errs[0]
}
