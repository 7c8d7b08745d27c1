package bolt

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	bbolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"

	"github.com/nsalloc/nsalloc/naming"
	"github.com/nsalloc/nsalloc/store"
)

// Claim gives an app its namespace; see store.Store.
func (s *DB) Claim(ctx context.Context, c store.Claim) (store.Record, bool, error) {
	appKey, err := appIDBytes(c.AppID)
	if err != nil {
		return store.Record{}, false, err
	}

	var (
		rec     store.Record
		created bool
	)
	err = s.update(ctx, func(tx *bbolt.Tx) error {
		var err error
		rec, created, err = s.claim(tx, appKey, c)
		return err
	})
	return rec, created, err
}

// claim is Claim inside a read-write transaction of a commit. It checks
// everything before it writes anything, so an outcome error leaves tx (and
// s.pending) untouched.
func (s *DB) claim(tx *bbolt.Tx, appKey []byte, c store.Claim) (store.Record, bool, error) {
	names, apps, keys := tx.Bucket(bucketNames), tx.Bucket(bucketApps), tx.Bucket(bucketKeys)

	// An app that has a namespace keeps it, whatever it asks for now.
	if name := apps.Get(appKey); name != nil {
		rec, err := followIndex(names, name, "app "+c.AppID)
		if err != nil {
			return store.Record{}, false, err
		}
		if rec.State == store.StateRetired {
			return rec, false, fmt.Errorf("app %s: %w", c.AppID, store.ErrAppRetired)
		}
		return rec, false, nil
	}

	// The first candidate whose key nobody holds wins.
	for _, candidate := range c.Candidates {
		key := []byte(naming.Key(candidate))
		if keys.Get(key) != nil {
			continue
		}

		rec := store.Record{
			Name:       candidate,
			AppID:      c.AppID,
			AppName:    c.AppName,
			State:      store.StateActive,
			CreateTime: c.Time.UTC(),
			CreatedBy:  c.Caller,
		}
		if err := putRecord(tx, rec); err != nil {
			return store.Record{}, false, err
		}
		if err := apps.Put(appKey, []byte(candidate)); err != nil {
			return store.Record{}, false, err
		}
		if err := keys.Put(key, []byte(candidate)); err != nil {
			return store.Record{}, false, err
		}
		s.pending.active++
		return rec, true, nil
	}

	return store.Record{}, false, fmt.Errorf("app %s: all %d candidates: %w",
		c.AppID, len(c.Candidates), store.ErrNamespaceTaken)
}

// Retire marks an app's namespace retired; see store.Store.
func (s *DB) Retire(
	ctx context.Context, appID string, t time.Time, caller string,
) (store.Record, error) {
	appKey, err := appIDBytes(appID)
	if err != nil {
		return store.Record{}, err
	}

	var rec store.Record
	err = s.update(ctx, func(tx *bbolt.Tx) error {
		names := tx.Bucket(bucketNames)
		name := tx.Bucket(bucketApps).Get(appKey)
		if name == nil {
			return fmt.Errorf("app %s: %w", appID, store.ErrNotFound)
		}

		var err error
		rec, err = followIndex(names, name, "app "+appID)
		if err != nil || rec.State == store.StateRetired {
			return err
		}

		rec.State = store.StateRetired
		rec.RetireTime = t.UTC()
		rec.RetiredBy = caller
		if err := putRecord(tx, rec); err != nil {
			return err
		}
		s.pending.active--
		s.pending.retired++
		return nil
	})
	return rec, err
}

// ByApp returns an app's record; see store.Store.
func (s *DB) ByApp(ctx context.Context, appID string) (store.Record, error) {
	appKey, err := appIDBytes(appID)
	if err != nil {
		return store.Record{}, err
	}
	return s.lookup(bucketApps, appKey, "app "+appID)
}

// ByName returns a namespace's record; see store.Store.
func (s *DB) ByName(ctx context.Context, name string) (store.Record, error) {
	var rec store.Record
	err := s.view(func(tx *bbolt.Tx) error {
		var err error
		rec, err = recordNamed(tx.Bucket(bucketNames), []byte(name))
		return err
	})
	return rec, err
}

// ByKey returns the record that holds a uniqueness key; see store.Store.
func (s *DB) ByKey(ctx context.Context, key string) (store.Record, error) {
	return s.lookup(bucketKeys, []byte(key), "key "+key)
}

// lookup follows an index entry to the record it names.
func (s *DB) lookup(index, key []byte, what string) (store.Record, error) {
	var rec store.Record
	err := s.view(func(tx *bbolt.Tx) error {
		name := tx.Bucket(index).Get(key)
		if name == nil {
			return fmt.Errorf("%s: %w", what, store.ErrNotFound)
		}

		var err error
		rec, err = followIndex(tx.Bucket(bucketNames), name, what)
		return err
	})
	return rec, err
}

// followIndex reads the record that an index entry names. The indexes are
// written together, so a missing record means a damaged file, not an
// unknown name.
func followIndex(names *bbolt.Bucket, name []byte, what string) (store.Record, error) {
	rec, err := recordNamed(names, name)
	if errors.Is(err, store.ErrNotFound) {
		return store.Record{}, fmt.Errorf("%w: %s points at missing namespace %q",
			store.ErrCorrupt, what, name)
	}
	return rec, err
}

// List returns one page of records in name order; see store.Store.
func (s *DB) List(ctx context.Context, q store.ListQuery) ([]store.Record, bool, error) {
	if q.Limit <= 0 {
		return nil, false, fmt.Errorf("list: limit %d is not positive", q.Limit)
	}

	var (
		recs []store.Record
		more bool
	)
	err := s.view(func(tx *bbolt.Tx) error {
		c := tx.Bucket(bucketNames).Cursor()
		prefix := []byte(q.Prefix)

		// Start at the prefix, or just past the last name already seen.
		start := prefix
		if q.After != "" && q.After >= q.Prefix {
			start = []byte(q.After + "\x00")
		}

		for k, v := c.Seek(start); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
			if len(recs) == q.Limit {
				more = true
				return nil
			}
			rec, err := decodeRecord(k, v)
			if err != nil {
				return err
			}
			recs = append(recs, rec)
		}
		return nil
	})
	return recs, more, err
}

// Backup writes a snapshot of the file to w; see store.Store. It runs in a
// read transaction, which sees one committed state and lets writers go on.
func (s *DB) Backup(ctx context.Context, w io.Writer) (int64, error) {
	var n int64
	err := s.view(func(tx *bbolt.Tx) error {
		var err error
		n, err = tx.WriteTo(contextWriter{ctx: ctx, w: w})
		return err
	})

	// bbolt words the writer's errors in its own, so ctx's is lost there.
	if err != nil && ctx.Err() != nil {
		return n, ctx.Err()
	}
	return n, err
}

// contextWriter stops a long write once its context ends.
type contextWriter struct {
	ctx context.Context
	w   io.Writer
}

func (c contextWriter) Write(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.w.Write(p)
}

// view runs fn in a read-only transaction, turning a closed database into
// store.ErrClosed.
func (s *DB) view(fn func(tx *bbolt.Tx) error) error {
	err := s.db.View(fn)
	if errors.Is(err, bolterrors.ErrDatabaseNotOpen) {
		return store.ErrClosed
	}
	return err
}

// recordNamed reads and decodes the record stored under name.
func recordNamed(names *bbolt.Bucket, name []byte) (store.Record, error) {
	v := names.Get(name)
	if v == nil {
		return store.Record{}, fmt.Errorf("namespace %s: %w", name, store.ErrNotFound)
	}
	return decodeRecord(name, v)
}

// putRecord writes rec under its name.
func putRecord(tx *bbolt.Tx, rec store.Record) error {
	v, err := encodeRecord(rec)
	if err != nil {
		return err
	}
	return tx.Bucket(bucketNames).Put([]byte(rec.Name), v)
}

// Check verifies the file's page structure with bbolt's own check, then
// that the three indexes agree: every record is reachable by its app and by
// its key, and every index entry points at a record that names it back.
func (s *DB) Check() error {
	return s.view(func(tx *bbolt.Tx) error {
		var problems []string
		for err := range tx.Check() {
			problems = append(problems, err.Error())
		}
		problems = append(problems, checkIndexes(tx)...)
		problems = append(problems, checkCounts(tx)...)

		if len(problems) > 0 {
			return fmt.Errorf("%w: %s", store.ErrCorrupt, strings.Join(problems, "; "))
		}
		return nil
	})
}

// checkIndexes lists every disagreement between the three indexes.
func checkIndexes(tx *bbolt.Tx) []string {
	names, apps, keys := tx.Bucket(bucketNames), tx.Bucket(bucketApps), tx.Bucket(bucketKeys)
	var problems []string

	records := 0
	_ = names.ForEach(func(k, v []byte) error {
		records++
		rec, err := decodeRecord(k, v)
		if err != nil {
			problems = append(problems, err.Error())
			return nil
		}

		appKey, _ := appIDBytes(rec.AppID)
		if got := apps.Get(appKey); !bytes.Equal(got, k) {
			problems = append(problems,
				fmt.Sprintf("app %s maps to %q, want %q", rec.AppID, got, k))
		}
		if got := keys.Get([]byte(naming.Key(rec.Name))); !bytes.Equal(got, k) {
			problems = append(problems, fmt.Sprintf("key of %q maps to %q", k, got))
		}
		return nil
	})

	if n := apps.Stats().KeyN; n != records {
		problems = append(problems, fmt.Sprintf("%d app entries for %d records", n, records))
	}
	if n := keys.Stats().KeyN; n != records {
		problems = append(problems, fmt.Sprintf("%d key entries for %d records", n, records))
	}
	return problems
}
