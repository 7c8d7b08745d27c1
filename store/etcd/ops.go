package etcd

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/nsalloc/nsalloc/naming"
	"github.com/nsalloc/nsalloc/store"
)

// maxReadOps is the most reads sent in one transaction, below the limit of
// 128 operations that an etcd server accepts by default.
const maxReadOps = 100

// errLost says that a write's transaction found the keys it compared
// changed since it read them; the write starts again from the read.
var errLost = errors.New("etcd store: lost a race to another writer")

// Claim gives an app its namespace; see store.Store. It reads, picks the
// first candidate whose key is free, and writes the record and both index
// entries in one transaction that holds only if neither the app nor the key
// was taken meanwhile; when one was, it starts again from the read.
func (s *Store) Claim(parent context.Context, c store.Claim) (store.Record, bool, error) {
	appID, err := canonicalAppID(c.AppID)
	if err != nil {
		return store.Record{}, false, fmt.Errorf("etcd store: claim: %w", err)
	}
	ctx, cancel, err := s.begin(parent)
	if err != nil {
		return store.Record{}, false, err
	}
	defer cancel()

	for range maxAttempts {
		rec, created, err := s.claimOnce(ctx, appID, c)
		if !errors.Is(err, errLost) {
			return rec, created, err
		}
	}
	return store.Record{}, false, fmt.Errorf("claim for app %s: %d attempts: %w",
		appID, maxAttempts, errLost)
}

// claimOnce makes one attempt at Claim. It returns errLost when another
// writer took the app or the chosen key between its reads and its write.
func (s *Store) claimOnce(
	ctx context.Context, appID string, c store.Claim,
) (store.Record, bool, error) {
	what := "claim for app " + appID
	appKey := s.prefix + dirApps + appID

	// An app that has a namespace keeps it, whatever it asks for now.
	resp, err := s.cli.Get(ctx, appKey)
	if err != nil {
		return store.Record{}, false, fail(ctx, what, err)
	}
	if len(resp.Kvs) > 0 {
		rec, _, err := s.follow(ctx, what, string(resp.Kvs[0].Value))
		if err != nil {
			return store.Record{}, false, err
		}
		if rec.State == store.StateRetired {
			return rec, false, fmt.Errorf("etcd store: app %s: %w", appID, store.ErrAppRetired)
		}
		return rec, false, nil
	}

	// The first candidate whose key nobody holds wins.
	name, err := s.firstFree(ctx, what, c.Candidates)
	if err != nil {
		return store.Record{}, false, err
	}
	if name == "" {
		return store.Record{}, false, fmt.Errorf("etcd store: app %s: all %d candidates: %w",
			appID, len(c.Candidates), store.ErrNamespaceTaken)
	}

	// Write the record and its index entries, unless another writer took
	// the app or the key since they were read.
	rec := store.Record{
		Name:       name,
		AppID:      appID,
		AppName:    c.AppName,
		State:      store.StateActive,
		CreateTime: c.Time.UTC(),
		CreatedBy:  c.Caller,
	}
	val, err := encodeRecord(rec)
	if err != nil {
		return store.Record{}, false, fmt.Errorf("etcd store: %s: %w", what, err)
	}
	keyKey := s.prefix + dirKeys + naming.Key(name)
	txn, err := s.cli.Txn(ctx).
		If(
			clientv3.Compare(clientv3.CreateRevision(appKey), "=", 0),
			clientv3.Compare(clientv3.CreateRevision(keyKey), "=", 0),
		).
		Then(
			clientv3.OpPut(s.prefix+dirNames+name, string(val)),
			clientv3.OpPut(appKey, name),
			clientv3.OpPut(keyKey, name),
		).
		Commit()
	if err != nil {
		return store.Record{}, false, fail(ctx, what, err)
	}
	if !txn.Succeeded {
		return store.Record{}, false, errLost
	}
	return rec, true, nil
}

// firstFree returns the first of candidates whose key no record holds, or
// "" when every key is held. Each transaction reads a batch of keys at one
// revision; the claim's own transaction checks the winner again.
func (s *Store) firstFree(ctx context.Context, what string, candidates []string) (string, error) {
	for start := 0; start < len(candidates); start += maxReadOps {
		batch := candidates[start:min(start+maxReadOps, len(candidates))]
		ops := make([]clientv3.Op, len(batch))
		for i, name := range batch {
			ops[i] = clientv3.OpGet(s.prefix+dirKeys+naming.Key(name), clientv3.WithCountOnly())
		}

		resp, err := s.cli.Txn(ctx).Then(ops...).Commit()
		if err != nil {
			return "", fail(ctx, what, err)
		}
		for i, r := range resp.Responses {
			if r.GetResponseRange().GetCount() == 0 {
				return batch[i], nil
			}
		}
	}
	return "", nil
}

// Retire marks an app's namespace retired; see store.Store. The record is
// rewritten only if it has not changed since it was read; when it has, the
// read starts again.
func (s *Store) Retire(
	parent context.Context, appID string, t time.Time, caller string,
) (store.Record, error) {
	id, err := canonicalAppID(appID)
	if err != nil {
		return store.Record{}, fmt.Errorf("etcd store: retire: %w", err)
	}
	ctx, cancel, err := s.begin(parent)
	if err != nil {
		return store.Record{}, err
	}
	defer cancel()

	for range maxAttempts {
		rec, err := s.retireOnce(ctx, id, t, caller)
		if !errors.Is(err, errLost) {
			return rec, err
		}
	}
	return store.Record{}, fmt.Errorf("retire app %s: %d attempts: %w", id, maxAttempts, errLost)
}

// retireOnce makes one attempt at Retire. It returns errLost when the
// record changed between its read and its write.
func (s *Store) retireOnce(
	ctx context.Context, appID string, t time.Time, caller string,
) (store.Record, error) {
	what := "retire app " + appID

	// Find the app's record; a retired one is returned as it is.
	resp, err := s.cli.Get(ctx, s.prefix+dirApps+appID)
	if err != nil {
		return store.Record{}, fail(ctx, what, err)
	}
	if len(resp.Kvs) == 0 {
		return store.Record{}, fmt.Errorf("etcd store: app %s: %w", appID, store.ErrNotFound)
	}
	rec, modRev, err := s.follow(ctx, what, string(resp.Kvs[0].Value))
	if err != nil || rec.State == store.StateRetired {
		return rec, err
	}

	// Rewrite it, unless it changed since it was read.
	rec.State = store.StateRetired
	rec.RetireTime = t.UTC()
	rec.RetiredBy = caller
	val, err := encodeRecord(rec)
	if err != nil {
		return store.Record{}, fmt.Errorf("etcd store: %s: %w", what, err)
	}
	nameKey := s.prefix + dirNames + rec.Name
	txn, err := s.cli.Txn(ctx).
		If(clientv3.Compare(clientv3.ModRevision(nameKey), "=", modRev)).
		Then(clientv3.OpPut(nameKey, string(val))).
		Commit()
	if err != nil {
		return store.Record{}, fail(ctx, what, err)
	}
	if !txn.Succeeded {
		return store.Record{}, errLost
	}
	return rec, nil
}

// ByApp returns an app's record; see store.Store.
func (s *Store) ByApp(parent context.Context, appID string) (store.Record, error) {
	id, err := canonicalAppID(appID)
	if err != nil {
		return store.Record{}, fmt.Errorf("etcd store: look up app: %w", err)
	}
	return s.lookup(parent, dirApps+id, "app "+id)
}

// ByKey returns the record that holds a uniqueness key; see store.Store.
func (s *Store) ByKey(parent context.Context, key string) (store.Record, error) {
	return s.lookup(parent, dirKeys+key, "key "+key)
}

// ByName returns a namespace's record; see store.Store.
func (s *Store) ByName(parent context.Context, name string) (store.Record, error) {
	ctx, cancel, err := s.begin(parent)
	if err != nil {
		return store.Record{}, err
	}
	defer cancel()

	rec, _, err := s.recordNamed(ctx, "look up namespace "+name, name)
	return rec, err
}

// lookup follows the index entry at key, relative to the prefix, to the
// record it names.
func (s *Store) lookup(parent context.Context, key, what string) (store.Record, error) {
	ctx, cancel, err := s.begin(parent)
	if err != nil {
		return store.Record{}, err
	}
	defer cancel()

	resp, err := s.cli.Get(ctx, s.prefix+key)
	if err != nil {
		return store.Record{}, fail(ctx, "look up "+what, err)
	}
	if len(resp.Kvs) == 0 {
		return store.Record{}, fmt.Errorf("etcd store: %s: %w", what, store.ErrNotFound)
	}
	rec, _, err := s.follow(ctx, "look up "+what, string(resp.Kvs[0].Value))
	return rec, err
}

// follow reads the record that an index entry names, and the revision it
// was last written at. The indexes are written together with the record, so
// a missing record means damaged data, not an unknown name.
func (s *Store) follow(ctx context.Context, what, name string) (store.Record, int64, error) {
	rec, modRev, err := s.recordNamed(ctx, what, name)
	if errors.Is(err, store.ErrNotFound) {
		return store.Record{}, 0, fmt.Errorf("etcd store: %s: %w: index points at missing "+
			"namespace %q", what, store.ErrCorrupt, name)
	}
	return rec, modRev, err
}

// recordNamed reads the record stored under name, and the revision it was
// last written at.
func (s *Store) recordNamed(ctx context.Context, what, name string) (store.Record, int64, error) {
	resp, err := s.cli.Get(ctx, s.prefix+dirNames+name)
	if err != nil {
		return store.Record{}, 0, fail(ctx, what, err)
	}
	if len(resp.Kvs) == 0 {
		return store.Record{}, 0, fmt.Errorf("etcd store: namespace %s: %w",
			name, store.ErrNotFound)
	}
	kv := resp.Kvs[0]
	rec, err := decodeRecord(name, kv.Value)
	if err != nil {
		return store.Record{}, 0, fmt.Errorf("etcd store: %s: %w", what, err)
	}
	return rec, kv.ModRevision, nil
}

// List returns one page of records in name order; see store.Store. It reads
// one more record than asked for, to tell whether more follow.
func (s *Store) List(parent context.Context, q store.ListQuery) ([]store.Record, bool, error) {
	if q.Limit <= 0 {
		return nil, false, fmt.Errorf("etcd store: list: limit %d is not positive", q.Limit)
	}
	ctx, cancel, err := s.begin(parent)
	if err != nil {
		return nil, false, err
	}
	defer cancel()

	// Start at the prefix, or just past the last name already seen, and
	// end after the last name with the prefix.
	base := s.prefix + dirNames
	start := base + q.Prefix
	if q.After != "" && q.After >= q.Prefix {
		start = base + q.After + "\x00"
	}
	end := clientv3.GetPrefixRangeEnd(base + q.Prefix)
	resp, err := s.cli.Get(ctx, start,
		clientv3.WithRange(end), clientv3.WithLimit(int64(q.Limit)+1))
	if err != nil {
		return nil, false, fail(ctx, "list", err)
	}

	var recs []store.Record
	for _, kv := range resp.Kvs[:min(len(resp.Kvs), q.Limit)] {
		rec, err := decodeRecord(strings.TrimPrefix(string(kv.Key), base), kv.Value)
		if err != nil {
			return nil, false, fmt.Errorf("etcd store: list: %w", err)
		}
		recs = append(recs, rec)
	}
	return recs, len(resp.Kvs) > q.Limit, nil
}
