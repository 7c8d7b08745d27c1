package main

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/nsalloc/nsalloc/internal/embedetcd"
	"github.com/nsalloc/nsalloc/naming"
	nsallocv1 "github.com/nsalloc/nsalloc/proto/nsalloc/v1"
)

// startCluster starts a three-member etcd cluster for one test.
func startCluster(t *testing.T) *embedetcd.Cluster {
	t.Helper()
	cluster, err := embedetcd.Start(t.TempDir(), 3, nil)
	if err != nil {
		t.Fatalf("start etcd: %v", err)
	}
	t.Cleanup(cluster.Close)
	return cluster
}

// startEtcdDaemon runs nsallocd on cluster, under prefix.
func startEtcdDaemon(t *testing.T, cluster *embedetcd.Cluster, prefix string) testDaemon {
	t.Helper()
	return startDaemon(t, "unused.db", "--store", "etcd",
		"--etcd-endpoints", strings.Join(cluster.Endpoints(), ","), "--etcd-prefix", prefix,
		"--etcd-timeout", "2s", "--rate-limit", "0")
}

// TestTwoDaemonsOnOneCluster races Reserves over a few names through two
// daemons that share a three-member cluster: each key goes to one app only,
// no namespace is given twice, and both daemons answer alike for every app.
func TestTwoDaemonsOnOneCluster(t *testing.T) {
	cluster := startCluster(t)
	daemons := []testDaemon{
		startEtcdDaemon(t, cluster, "/race/"), startEtcdDaemon(t, cluster, "/race/"),
	}
	clients := []nsallocv1.NamespaceServiceClient{daemons[0].client(t), daemons[1].client(t)}
	ctx := testCtx(t)

	// 16 writers a daemon, 10 apps each, over names that share keys.
	names := []string{"math", "Math", "ma-th", "graph", "Graph"}
	var wg sync.WaitGroup
	errs := make(chan error, 32)
	for d := range 2 {
		for w := range 16 {
			wg.Go(func() {
				for n := range 10 {
					appID := fmt.Sprintf("ee%06x-0000-4000-8000-%012x", d*100+w, n)
					_, err := clients[d].Reserve(ctx, &nsallocv1.ReserveRequest{
						AppId: appID, AppName: names[(w+n)%len(names)],
					})
					if err != nil {
						errs <- fmt.Errorf("daemon %d, app %s: %w", d, appID, err)
						return
					}
				}
			})
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}

	// Each key once, each namespace once, each app once.
	list, err := clients[0].List(ctx, &nsallocv1.ListRequest{PageSize: 1000})
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	keys, apps := map[string]string{}, map[string]string{}
	for _, ns := range list.GetNamespaces() {
		key := naming.Key(ns.GetName())
		if other, ok := keys[key]; ok {
			t.Errorf("key %q held by %q and %q", key, other, ns.GetName())
		}
		keys[key] = ns.GetName()
		if other, ok := apps[ns.GetAppId()]; ok {
			t.Errorf("app %s holds %q and %q", ns.GetAppId(), other, ns.GetName())
		}
		apps[ns.GetAppId()] = ns.GetName()
	}
	if len(apps) != 320 {
		t.Errorf("got %d namespaces, want 320", len(apps))
	}
	// The first app to claim a key got its base name: "ma-th" is the base
	// of "ma-th" and has the key of "math".
	bases := map[string][]string{"math": {"math", "ma-th"}, "graph": {"graph"}}
	for key, want := range bases {
		if !slices.Contains(want, keys[key]) {
			t.Errorf("key %q is held by %q, want a base name: one of %q", key, keys[key], want)
		}
	}

	// Both daemons resolve every app to the same namespace.
	for appID, name := range apps {
		for d, c := range clients {
			resp, err := c.Resolve(ctx, &nsallocv1.ResolveRequest{
				Key: &nsallocv1.ResolveRequest_AppId{AppId: appID},
			})
			if err != nil || resp.GetNamespace().GetName() != name {
				t.Errorf("daemon %d resolves %s to %v, %v; want %s", d, appID, resp, err, name)
			}
		}
	}
}

// TestQuorumLostIsUnavailable stops two members of three: a call through
// the daemon must end with UNAVAILABLE within the daemon's etcd deadline,
// never with a wrong answer.
func TestQuorumLostIsUnavailable(t *testing.T) {
	cluster := startCluster(t)
	d := startEtcdDaemon(t, cluster, "/quorum/")
	client := d.client(t)
	ctx := testCtx(t)
	if _, err := client.Reserve(ctx, &nsallocv1.ReserveRequest{
		AppId: appIDFor(1), AppName: "before",
	}); err != nil {
		t.Fatalf("Reserve with quorum: %v", err)
	}

	leader, err := cluster.Leader()
	if err != nil {
		t.Fatal(err)
	}
	cluster.StopMember(leader)
	cluster.StopMember((leader + 1) % 3)

	calls := []struct {
		name string
		call func(ctx context.Context) error
	}{
		{"Reserve", func(ctx context.Context) error {
			_, err := client.Reserve(ctx, &nsallocv1.ReserveRequest{
				AppId: appIDFor(2), AppName: "after"})
			return err
		}},
		{"Resolve", func(ctx context.Context) error {
			_, err := client.Resolve(ctx, &nsallocv1.ResolveRequest{
				Key: &nsallocv1.ResolveRequest_AppId{AppId: appIDFor(1)}})
			return err
		}},
	}
	for _, c := range calls {
		t.Run(c.name, func(t *testing.T) {
			callCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
			defer cancel()
			start := time.Now()
			err := c.call(callCtx)
			took := time.Since(start)
			if status.Code(err) != codes.Unavailable {
				t.Errorf("%s without quorum = %v, want UNAVAILABLE", c.name, err)
			}
			if took > 4*time.Second {
				t.Errorf("%s took %s, want the 2s etcd deadline", c.name, took)
			}
		})
	}
}

func appIDFor(n int) string { return fmt.Sprintf("ff000000-0000-4000-8000-%012d", n) }
