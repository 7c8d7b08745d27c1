package main

import (
	"context"
	"encoding/hex"
	"fmt"
	mathrand "math/rand/v2"
	"sync"
	"sync/atomic"

	bbolt "go.etcd.io/bbolt"
	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/nsalloc/nsalloc/internal/load"
	"github.com/nsalloc/nsalloc/naming"
	nsallocv1 "github.com/nsalloc/nsalloc/proto/nsalloc/v1"
)

// words make app names: two of them and a number give names that are
// mostly free, with some that fold to the same base and need a tag.
var words = []string{
	"math", "graph", "image", "audio", "video", "search", "ledger", "mail", "chat", "maps",
	"auth", "cache", "queue", "stream", "billing", "report", "photo", "notes", "wiki", "shop",
}

// appName returns a readable app name for number n.
func appName(n int) string {
	return fmt.Sprintf("%s %s %d", words[n%len(words)], words[(n/len(words))%len(words)], n/7)
}

// seededAppID returns the id of the n-th app the seeder stored, so that
// look-ups can pick stored apps without remembering them.
func seededAppID(n int) string {
	return fmt.Sprintf("%08x-%04x-4000-8000-%012x", n+1, n&0xffff, n)
}

// reserveOp reserves a namespace for a new app on each call.
func reserveOp(conns []*grpc.ClientConn) load.Op {
	clients := namespaceClients(conns)
	return func(ctx context.Context, worker, seq int) error {
		c := clients[worker%len(clients)]
		_, err := c.Reserve(ctx, &nsallocv1.ReserveRequest{
			AppId: load.RandomAppID(), AppName: appName(mathrand.Int()),
		})
		return err
	}
}

// resolveOp looks up a random one of the stored apps on each call.
func resolveOp(conns []*grpc.ClientConn, stored int) load.Op {
	clients := namespaceClients(conns)
	return func(ctx context.Context, worker, seq int) error {
		c := clients[worker%len(clients)]
		_, err := c.Resolve(ctx, &nsallocv1.ResolveRequest{
			Key: &nsallocv1.ResolveRequest_AppId{AppId: seededAppID(mathrand.IntN(stored))},
		})
		return err
	}
}

// seedThroughDaemon reserves the namespaces of apps 0 to count-1 (see
// seededAppID) through a daemon, from seedWriters goroutines.
func seedThroughDaemon(ctx context.Context, conns []*grpc.ClientConn, count int) error {
	clients := namespaceClients(conns)
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, seedWriters)
	for w := range seedWriters {
		wg.Go(func() {
			for n := int(next.Add(1)) - 1; n < count; n = int(next.Add(1)) - 1 {
				_, err := clients[w%len(clients)].Reserve(ctx, &nsallocv1.ReserveRequest{
					AppId: seededAppID(n), AppName: appName(n),
				})
				if err != nil {
					errs <- fmt.Errorf("seed app %d: %w", n, err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	return <-errs
}

// healthOp is the no-op call: a health check on the same server.
func healthOp(conns []*grpc.ClientConn) load.Op {
	clients := make([]healthpb.HealthClient, len(conns))
	for i, conn := range conns {
		clients[i] = healthpb.NewHealthClient(conn)
	}
	return func(ctx context.Context, worker, seq int) error {
		_, err := clients[worker%len(clients)].Check(ctx, &healthpb.HealthCheckRequest{})
		return err
	}
}

func namespaceClients(conns []*grpc.ClientConn) []nsallocv1.NamespaceServiceClient {
	clients := make([]nsallocv1.NamespaceServiceClient, len(conns))
	for i, conn := range conns {
		clients[i] = nsallocv1.NewNamespaceServiceClient(conn)
	}
	return clients
}

// The raw bbolt reference writes what a claim writes, in buckets of its own:
// it reads the app's and the key's index entries, then puts the record, the
// app index entry and the key index entry.
var (
	rawNames = []byte("names")
	rawApps  = []byte("apps")
	rawKeys  = []byte("keys")
)

// rawClaim is the claim's work as raw bbolt calls on one transaction.
func rawClaim(tx *bbolt.Tx, appID, appName string) error {
	name, _ := naming.Base(appName)
	if name == "" {
		name = "app"
	}
	name += "-" + naming.Tag(appID, 8)
	id, err := hex.DecodeString(appID[0:8] + appID[9:13] + appID[14:18] + appID[19:23] +
		appID[24:36])
	if err != nil {
		return err
	}
	key := []byte(naming.Key(name))

	names, apps, keys := tx.Bucket(rawNames), tx.Bucket(rawApps), tx.Bucket(rawKeys)
	if apps.Get(id) != nil || keys.Get(key) != nil {
		return fmt.Errorf("raw claim of %s: already stored", appID)
	}

	// The value has the size of an encoded record: format, state, app id,
	// two times and the app name.
	record := make([]byte, 0, 32+len(appName))
	record = append(record, 1, 1)
	record = append(record, id...)
	record = append(record, make([]byte, 12)...)
	record = append(record, appName...)
	if err := names.Put([]byte(name), record); err != nil {
		return err
	}
	if err := apps.Put(id, []byte(name)); err != nil {
		return err
	}
	return keys.Put(key, []byte(name))
}

// openRaw creates a bbolt file for the raw references with count claims.
func openRaw(path string, count int) (*bbolt.DB, error) {
	db, err := bbolt.Open(path, 0o600, nil)
	if err != nil {
		return nil, err
	}
	err = db.Update(func(tx *bbolt.Tx) error {
		for _, b := range [][]byte{rawNames, rawApps, rawKeys} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		for n := range count {
			if err := rawClaim(tx, seededAppID(n), appName(n)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		_ = db.Close()
		return nil, err
	}
	return db, nil
}

// rawBatchOp claims through bbolt's Batch, which gathers concurrent calls
// into one transaction.
func rawBatchOp(db *bbolt.DB) load.Op {
	return func(ctx context.Context, worker, seq int) error {
		appID := load.RandomAppID()
		name := appName(mathrand.Int())
		return db.Batch(func(tx *bbolt.Tx) error { return rawClaim(tx, appID, name) })
	}
}

// rawUpdateOp claims in a transaction of its own.
func rawUpdateOp(db *bbolt.DB) load.Op {
	return func(ctx context.Context, worker, seq int) error {
		appID := load.RandomAppID()
		name := appName(mathrand.Int())
		return db.Update(func(tx *bbolt.Tx) error { return rawClaim(tx, appID, name) })
	}
}

// etcdPrefix holds the etcd reference's keys.
const etcdPrefix = "/bench/"

// etcdCreateOp stores a new key unless it exists, in one transaction that
// compares the key's create revision: etcd's create-if-absent.
func etcdCreateOp(cli *clientv3.Client) load.Op {
	return func(ctx context.Context, worker, seq int) error {
		key := etcdPrefix + load.RandomAppID()
		resp, err := cli.Txn(ctx).
			If(clientv3.Compare(clientv3.CreateRevision(key), "=", 0)).
			Then(clientv3.OpPut(key, appName(seq))).
			Commit()
		if err != nil {
			return err
		}
		if !resp.Succeeded {
			return fmt.Errorf("etcd create of %s: key exists", key)
		}
		return nil
	}
}

// etcdGetOp reads one of stored keys with a linearizable get.
func etcdGetOp(cli *clientv3.Client, stored int) load.Op {
	return func(ctx context.Context, worker, seq int) error {
		key := etcdPrefix + seededAppID(mathrand.IntN(stored))
		resp, err := cli.Get(ctx, key)
		if err != nil {
			return err
		}
		if len(resp.Kvs) != 1 {
			return fmt.Errorf("etcd get of %s: not found", key)
		}
		return nil
	}
}

// seedEtcd stores count keys for etcdGetOp to read.
func seedEtcd(ctx context.Context, cli *clientv3.Client, count int) error {
	const perTxn = 100
	for start := 0; start < count; start += perTxn {
		var ops []clientv3.Op
		for n := start; n < min(start+perTxn, count); n++ {
			ops = append(ops, clientv3.OpPut(etcdPrefix+seededAppID(n), appName(n)))
		}
		if _, err := cli.Txn(ctx).Then(ops...).Commit(); err != nil {
			return fmt.Errorf("seed etcd: %w", err)
		}
	}
	return nil
}
