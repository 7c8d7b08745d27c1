package migrate

import (
	"context"
	"fmt"
	"strings"

	"github.com/nsalloc/nsalloc/store"
)

// maxReported is how many differences Verify names in its error.
const maxReported = 10

// Verify reads both stores in name order and compares them record by
// record. It returns an error wrapping ErrMismatch when a record is missing
// from either store or differs in any field, naming the first differences
// and the number of records of each store; it returns nil when both hold
// the same records.
func Verify(ctx context.Context, from, to store.Store) error {
	src := &pager{s: from, size: DefaultPageSize}
	dst := &pager{s: to, size: DefaultPageSize}
	var (
		nsrc, ndst int
		found      int
		first      []string
	)
	note := func(format string, args ...any) {
		found++
		if len(first) < maxReported {
			first = append(first, fmt.Sprintf(format, args...))
		}
	}

	a, aok, err := src.next(ctx)
	if err != nil {
		return fmt.Errorf("migrate: verify: read source: %w", err)
	}
	b, bok, err := dst.next(ctx)
	if err != nil {
		return fmt.Errorf("migrate: verify: read target: %w", err)
	}
	for aok || bok {
		// Advance whichever side holds the smaller name, or both when
		// the names match.
		stepA, stepB := aok, bok
		switch {
		case aok && (!bok || a.Name < b.Name):
			note("namespace %q missing from target", a.Name)
			stepB = false
		case bok && (!aok || b.Name < a.Name):
			note("namespace %q missing from source", b.Name)
			stepA = false
		default:
			if diff := differences(a, b); len(diff) > 0 {
				note("namespace %q differs in %s", a.Name, strings.Join(diff, ", "))
			}
		}
		if stepA {
			nsrc++
			if a, aok, err = src.next(ctx); err != nil {
				return fmt.Errorf("migrate: verify: read source: %w", err)
			}
		}
		if stepB {
			ndst++
			if b, bok, err = dst.next(ctx); err != nil {
				return fmt.Errorf("migrate: verify: read target: %w", err)
			}
		}
	}

	if found == 0 {
		return nil
	}
	more := ""
	if found > len(first) {
		more = fmt.Sprintf("; and %d more", found-len(first))
	}
	return fmt.Errorf("%w: source holds %d records, target %d; %d differences: %s%s",
		ErrMismatch, nsrc, ndst, found, strings.Join(first, "; "), more)
}

// differences names the fields in which two records differ; times are
// compared with time.Equal, as backends keep them in different locations.
func differences(a, b store.Record) []string {
	var diff []string
	if a.Name != b.Name {
		diff = append(diff, "name")
	}
	if a.AppID != b.AppID {
		diff = append(diff, "app id")
	}
	if a.AppName != b.AppName {
		diff = append(diff, "app name")
	}
	if a.State != b.State {
		diff = append(diff, "state")
	}
	if !a.CreateTime.Equal(b.CreateTime) {
		diff = append(diff, "create time")
	}
	if !a.RetireTime.Equal(b.RetireTime) {
		diff = append(diff, "retire time")
	}
	if a.CreatedBy != b.CreatedBy {
		diff = append(diff, "created by")
	}
	if a.RetiredBy != b.RetiredBy {
		diff = append(diff, "retired by")
	}
	return diff
}

// walk calls fn with every record of s in name order, reading size records
// per List call, until fn returns false.
func walk(ctx context.Context, s store.Store, size int, fn func(store.Record) bool) error {
	p := &pager{s: s, size: size}
	for {
		rec, ok, err := p.next(ctx)
		if err != nil || !ok {
			return err
		}
		if !fn(rec) {
			return nil
		}
	}
}

// pager reads the records of a store one at a time, a page at a time.
type pager struct {
	s    store.Store
	size int

	page  []store.Record
	after string
	more  bool
	read  bool
}

// next returns the next record, or false once there are none left.
func (p *pager) next(ctx context.Context) (store.Record, bool, error) {
	if len(p.page) == 0 && (!p.read || p.more) {
		size := p.size
		if size <= 0 {
			size = DefaultPageSize
		}
		recs, more, err := p.s.List(ctx, store.ListQuery{After: p.after, Limit: size})
		if err != nil {
			return store.Record{}, false, err
		}
		p.page, p.more, p.read = recs, more && len(recs) > 0, true
	}
	if len(p.page) == 0 {
		return store.Record{}, false, nil
	}
	rec := p.page[0]
	p.page = p.page[1:]
	p.after = rec.Name
	return rec, true, nil
}
