package main

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nsalloc/nsalloc/naming"
	"github.com/nsalloc/nsalloc/store"
	"github.com/nsalloc/nsalloc/store/bolt"
)

// seedWriters is how many writers fill a store; with group commit they
// share transactions, as a busy daemon's callers would.
const seedWriters = 512

// seedStore creates a store file at path holding count namespaces, claimed
// through the store package exactly as the daemon claims them, apps
// numbered 0 to count-1 (see seededAppID). It returns the file's size.
func seedStore(ctx context.Context, path string, count int) (int64, error) {
	db, err := bolt.Open(path, nil)
	if err != nil {
		return 0, err
	}
	defer func() { _ = db.Close() }()

	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, seedWriters)
	now := time.Now()
	for range seedWriters {
		wg.Go(func() {
			for {
				n := int(next.Add(1)) - 1
				if n >= count || ctx.Err() != nil {
					return
				}
				if err := seedOne(ctx, db, n, now); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return 0, err
	}
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	return db.Size()
}

// seedOne claims the namespace of app n.
func seedOne(ctx context.Context, db *bolt.DB, n int, now time.Time) error {
	appID, name := seededAppID(n), appName(n)
	base, _ := naming.Base(name)
	_, _, err := db.Claim(ctx, store.Claim{
		AppID: appID, AppName: name, Candidates: naming.Candidates(base, appID), Time: now,
	})
	if err != nil {
		return fmt.Errorf("seed app %d: %w", n, err)
	}
	return nil
}
