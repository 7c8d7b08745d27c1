// Package migrate copies every namespace record from one store.Store into
// another, whatever their backends, and checks afterwards that both hold the
// same records.
//
// A record changes at most twice, when it is claimed and when it is retired,
// so replaying those two calls with the record's own times and callers
// rebuilds it exactly in the target, indexes included. Copy never overwrites:
// a record that the target holds already is compared with the source, and a
// disagreement is reported as a conflict for an operator to settle. Running
// Copy again after a partial or complete copy is therefore safe.
package migrate

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/nsalloc/nsalloc/naming"
	"github.com/nsalloc/nsalloc/store"
)

// DefaultConcurrency is how many records Copy writes at once when
// Options.Concurrency is zero.
const DefaultConcurrency = 16

// DefaultPageSize is how many records Copy and Verify read per List call
// when Options.PageSize is zero.
const DefaultPageSize = 500

// ErrMismatch is returned by Verify when the two stores do not hold the
// same records.
var ErrMismatch = errors.New("migrate: stores differ")

// Options tunes Copy. The zero value means defaults.
type Options struct {
	// Concurrency is how many records are written into the target at
	// once; zero means DefaultConcurrency.
	Concurrency int

	// PageSize is how many records are read from the source per List
	// call; zero means DefaultPageSize.
	PageSize int
}

// Report counts what Copy did.
type Report struct {
	// Read is how many records Copy read from the source.
	Read int
	// Created is how many records Copy claimed in the target.
	Created int
	// AlreadyThere is how many records the target held already, equal to
	// the source's, or equal once Copy retired them.
	AlreadyThere int
	// Retired is how many records Copy retired in the target, whether it
	// had just claimed them or found them there still active.
	Retired int
	// Conflicts are the records Copy left alone because the target
	// disagrees with the source, in name order.
	Conflicts []Conflict
}

// Conflict is a source record that the target contradicts.
type Conflict struct {
	// Name is the source record's namespace.
	Name string
	// AppID is the source record's app.
	AppID string
	// Reason says how the target disagrees.
	Reason string
}

// outcome is what copying one record came to: whether Copy claimed it,
// whether Copy retired it, and why it conflicts when it does.
type outcome struct {
	created, retired bool
	conflict         string
}

// Copy copies every record of from into to, retired records and their
// times and callers included, and reports what it did. It reads from in name
// order and writes opts.Concurrency records at once.
//
// A record that to holds already, under the same name for the same app, is
// compared with the source; when the source was retired since, Copy retires
// the copy. Any other disagreement is reported in Report.Conflicts and left
// as it is, and the copy goes on. Copy stops at the first error of either
// store and returns it with the report so far; running it again resumes the
// copy.
func Copy(ctx context.Context, from, to store.Store, opts Options) (Report, error) {
	workers := opts.Concurrency
	if workers <= 0 {
		workers = DefaultConcurrency
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)

	// The workers share one report; mu guards it.
	var (
		mu  sync.Mutex
		rep Report
	)
	recs := make(chan store.Record)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for rec := range recs {
				out, err := copyRecord(ctx, to, rec)
				if err != nil {
					cancel(fmt.Errorf("migrate: copy namespace %q: %w", rec.Name, err))
					continue
				}
				mu.Lock()
				rep.add(rec, out)
				mu.Unlock()
			}
		})
	}

	// Read the source page by page and hand its records to the workers.
	err := walk(ctx, from, opts.PageSize, func(rec store.Record) bool {
		select {
		case recs <- rec:
			mu.Lock()
			rep.Read++
			mu.Unlock()
			return true
		case <-ctx.Done():
			return false
		}
	})
	close(recs)
	wg.Wait()

	slices.SortFunc(rep.Conflicts, func(a, b Conflict) int {
		return strings.Compare(a.Name, b.Name)
	})
	if cause := context.Cause(ctx); cause != nil {
		return rep, cause
	}
	if err != nil {
		return rep, fmt.Errorf("migrate: read source: %w", err)
	}
	return rep, nil
}

// add counts the outcome of copying rec.
func (r *Report) add(rec store.Record, out outcome) {
	switch {
	case out.conflict != "":
		r.Conflicts = append(r.Conflicts, Conflict{
			Name: rec.Name, AppID: rec.AppID, Reason: out.conflict,
		})
	case out.created:
		r.Created++
	default:
		r.AlreadyThere++
	}
	if out.retired {
		r.Retired++
	}
}

// copyRecord replays rec into to: a claim of exactly its name with its
// creation time and caller, then, for a retired record, a retirement with
// its retirement time and caller. A record found there already is compared
// with rec instead of written.
func copyRecord(ctx context.Context, to store.Store, rec store.Record) (outcome, error) {
	got, created, err := to.Claim(ctx, store.Claim{
		AppID:      rec.AppID,
		AppName:    rec.AppName,
		Candidates: []string{rec.Name},
		Time:       rec.CreateTime,
		Caller:     rec.CreatedBy,
	})
	switch {
	case errors.Is(err, store.ErrNamespaceTaken):
		return takenBy(ctx, to, rec)
	case errors.Is(err, store.ErrAppRetired):
		// The target retired the app already; compare what it holds.
		got, err = to.ByApp(ctx, rec.AppID)
		if err != nil {
			return outcome{}, fmt.Errorf("read retired copy: %w", err)
		}
	case err != nil:
		return outcome{}, fmt.Errorf("claim: %w", err)
	}

	out := outcome{created: created}
	if got.Name != rec.Name {
		out.conflict = fmt.Sprintf("target holds the app under namespace %q", got.Name)
		return out, nil
	}
	if rec.State == store.StateRetired && got.State == store.StateActive {
		// Compare before retiring, so that a conflicting copy stays as
		// it is.
		if diff := differences(activeView(rec), got); len(diff) > 0 {
			out.conflict = "target differs in " + strings.Join(diff, ", ")
			return out, nil
		}
		got, err = to.Retire(ctx, rec.AppID, rec.RetireTime, rec.RetiredBy)
		if err != nil {
			return out, fmt.Errorf("retire: %w", err)
		}
		out.retired = true
	}
	if diff := differences(rec, got); len(diff) > 0 {
		out.conflict = "target differs in " + strings.Join(diff, ", ")
	}
	return out, nil
}

// takenBy reports the conflict of a record whose key another app holds in
// the target.
func takenBy(ctx context.Context, to store.Store, rec store.Record) (outcome, error) {
	holder, err := to.ByKey(ctx, naming.Key(rec.Name))
	if err != nil {
		return outcome{}, fmt.Errorf("read holder of key: %w", err)
	}
	return outcome{conflict: fmt.Sprintf(
		"target holds namespace %q for app %s", holder.Name, holder.AppID,
	)}, nil
}

// activeView returns rec as it was before it was retired.
func activeView(rec store.Record) store.Record {
	rec.State = store.StateActive
	rec.RetireTime = time.Time{}
	rec.RetiredBy = ""
	return rec
}
