// Package storetest is the conformance suite for store.Store backends.
//
// A backend's own tests call Run with a function that opens an empty store;
// every subtest gets a store of its own.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/nsalloc/nsalloc/store"
)

// Opener returns a new, empty store. The suite closes it, or registers its
// Close with t.Cleanup when a subtest fails early.
type Opener func(t *testing.T) store.Store

// Run runs every conformance test against the stores that open returns.
func Run(t *testing.T, open Opener) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s store.Store)
	}{
		{"ClaimBase", testClaimBase},
		{"ClaimIsIdempotent", testClaimIsIdempotent},
		{"ClaimSkipsTakenKeys", testClaimSkipsTakenKeys},
		{"ClaimAllTaken", testClaimAllTaken},
		{"ClaimNoCandidates", testClaimNoCandidates},
		{"Retire", testRetire},
		{"RetiredKeyStaysTaken", testRetiredKeyStaysTaken},
		{"NotFound", testNotFound},
		{"List", testList},
		{"ListPages", testListPages},
		{"ConcurrentClaims", testConcurrentClaims},
		{"Secret", testSecret},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := open(t)
			t.Cleanup(func() { _ = s.Close() })
			tt.fn(t, s)
		})
	}

	t.Run("Close", func(t *testing.T) {
		s := open(t)
		if err := s.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
		testClosed(t, s)
	})
}

// AppID returns a valid canonical app id made from n, distinct for each n.
func AppID(n int) string {
	return fmt.Sprintf("%08x-0000-4000-8000-%012x", n+1, n+1)
}

// when is a fixed time, so that records compare exactly.
var when = time.Date(2026, 3, 1, 12, 30, 0, 123456789, time.UTC)

func ctxFor(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func mustClaim(t *testing.T, s store.Store, c store.Claim) store.Record {
	t.Helper()
	rec, _, err := s.Claim(ctxFor(t), c)
	if err != nil {
		t.Fatalf("Claim(%s, %v): %v", c.AppID, c.Candidates, err)
	}
	return rec
}

func testClaimBase(t *testing.T, s store.Store) {
	ctx := ctxFor(t)
	c := store.Claim{AppID: AppID(1), AppName: "Math", Candidates: []string{"math"}, Time: when}

	rec, created, err := s.Claim(ctx, c)
	if err != nil {
		t.Fatalf("Claim: %v", err)
	}
	want := store.Record{
		Name: "math", AppID: AppID(1), AppName: "Math",
		State: store.StateActive, CreateTime: when,
	}
	assertRecord(t, "Claim", rec, want)
	if !created {
		t.Errorf("created = false, want true")
	}

	for name, get := range lookups(s, want) {
		got, err := get(ctx)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		assertRecord(t, name, got, want)
	}
}

func testClaimIsIdempotent(t *testing.T, s store.Store) {
	ctx := ctxFor(t)
	first := mustClaim(t, s, store.Claim{
		AppID: AppID(1), AppName: "Math", Candidates: []string{"math"}, Time: when,
	})

	// A second claim with another name and time still gets the first record.
	again, created, err := s.Claim(ctx, store.Claim{
		AppID: AppID(1), AppName: "Physics", Candidates: []string{"physics"},
		Time: when.Add(time.Hour),
	})
	if err != nil {
		t.Fatalf("second Claim: %v", err)
	}
	if created {
		t.Errorf("second Claim: created = true, want false")
	}
	assertRecord(t, "second Claim", again, first)

	if _, err := s.ByName(ctx, "physics"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("ByName(physics) error = %v, want ErrNotFound", err)
	}
}

func testClaimSkipsTakenKeys(t *testing.T, s store.Store) {
	mustClaim(t, s, store.Claim{
		AppID: AppID(1), AppName: "my app", Candidates: []string{"my-app"}, Time: when,
	})

	// "myapp" has the same key as "my-app", so the second candidate wins.
	rec := mustClaim(t, s, store.Claim{
		AppID: AppID(2), AppName: "myapp", Candidates: []string{"myapp", "myapp-x2"}, Time: when,
	})
	if rec.Name != "myapp-x2" {
		t.Errorf("Name = %q, want %q", rec.Name, "myapp-x2")
	}
}

func testClaimAllTaken(t *testing.T, s store.Store) {
	ctx := ctxFor(t)
	for i, name := range []string{"a", "b"} {
		mustClaim(t, s, store.Claim{
			AppID: AppID(i + 1), AppName: name, Candidates: []string{name}, Time: when,
		})
	}

	_, created, err := s.Claim(ctx, store.Claim{
		AppID: AppID(3), AppName: "a", Candidates: []string{"a", "b"}, Time: when,
	})
	if !errors.Is(err, store.ErrNamespaceTaken) || created {
		t.Fatalf("Claim = created %v, error %v; want ErrNamespaceTaken", created, err)
	}
	if _, err := s.ByApp(ctx, AppID(3)); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("ByApp after a refused claim: error = %v, want ErrNotFound", err)
	}
}

func testClaimNoCandidates(t *testing.T, s store.Store) {
	ctx := ctxFor(t)
	_, _, err := s.Claim(ctx, store.Claim{AppID: AppID(1), AppName: "x", Time: when})
	if !errors.Is(err, store.ErrNamespaceTaken) {
		t.Fatalf("Claim of a new app without candidates: error = %v, want ErrNamespaceTaken", err)
	}

	// An app that already has a namespace gets it back without candidates.
	first := mustClaim(t, s, store.Claim{
		AppID: AppID(1), AppName: "x", Candidates: []string{"x"}, Time: when,
	})
	got := mustClaim(t, s, store.Claim{AppID: AppID(1), AppName: "x", Time: when})
	assertRecord(t, "Claim without candidates", got, first)
}

func testRetire(t *testing.T, s store.Store) {
	ctx := ctxFor(t)
	mustClaim(t, s, store.Claim{
		AppID: AppID(1), AppName: "Math", Candidates: []string{"math"}, Time: when,
		Caller: "backend",
	})

	retired := when.Add(time.Hour)
	rec, err := s.Retire(ctx, AppID(1), retired, "operator")
	if err != nil {
		t.Fatalf("Retire: %v", err)
	}
	want := store.Record{
		Name: "math", AppID: AppID(1), AppName: "Math",
		State: store.StateRetired, CreateTime: when, RetireTime: retired,
		CreatedBy: "backend", RetiredBy: "operator",
	}
	assertRecord(t, "Retire", rec, want)

	// Retiring again changes nothing, not even the time or the caller.
	again, err := s.Retire(ctx, AppID(1), retired.Add(time.Hour), "someone else")
	if err != nil {
		t.Fatalf("second Retire: %v", err)
	}
	assertRecord(t, "second Retire", again, want)

	got, err := s.ByName(ctx, "math")
	if err != nil {
		t.Fatalf("ByName: %v", err)
	}
	assertRecord(t, "ByName after Retire", got, want)

	// A retired app never gets a namespace again.
	rec, _, err = s.Claim(ctx, store.Claim{
		AppID: AppID(1), AppName: "Math", Candidates: []string{"math2"}, Time: when,
	})
	if !errors.Is(err, store.ErrAppRetired) {
		t.Fatalf("Claim of a retired app: error = %v, want ErrAppRetired", err)
	}
	if rec.Name != "math" {
		t.Errorf("Claim of a retired app returned %q, want the retired record", rec.Name)
	}

	if _, err := s.Retire(ctx, AppID(9), when, "test"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Retire of an unknown app: error = %v, want ErrNotFound", err)
	}
}

func testRetiredKeyStaysTaken(t *testing.T, s store.Store) {
	ctx := ctxFor(t)
	mustClaim(t, s, store.Claim{
		AppID: AppID(1), AppName: "Math", Candidates: []string{"math"}, Time: when,
	})
	if _, err := s.Retire(ctx, AppID(1), when, "test"); err != nil {
		t.Fatalf("Retire: %v", err)
	}

	rec := mustClaim(t, s, store.Claim{
		AppID: AppID(2), AppName: "math", Candidates: []string{"math", "math-x2"}, Time: when,
	})
	if rec.Name != "math-x2" {
		t.Errorf("Name = %q, want %q: a retired name must never be reused", rec.Name, "math-x2")
	}
}

func testNotFound(t *testing.T, s store.Store) {
	ctx := ctxFor(t)
	missing := store.Record{Name: "nothing", AppID: AppID(7)}
	for name, get := range lookups(s, missing) {
		if _, err := get(ctx); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("%s: error = %v, want ErrNotFound", name, err)
		}
	}
}

func testList(t *testing.T, s store.Store) {
	ctx := ctxFor(t)
	names := []string{"beta", "alpha", "alpha-b", "alphabet-x1", "gamma", "al"}
	for i, name := range names {
		mustClaim(t, s, store.Claim{
			AppID: AppID(i), AppName: name, Candidates: []string{name}, Time: when,
		})
	}

	tests := []struct {
		query    store.ListQuery
		want     []string
		wantMore bool
	}{
		{store.ListQuery{Limit: 10},
			[]string{"al", "alpha", "alpha-b", "alphabet-x1", "beta", "gamma"}, false},
		{store.ListQuery{Limit: 2}, []string{"al", "alpha"}, true},
		{store.ListQuery{Limit: 6},
			[]string{"al", "alpha", "alpha-b", "alphabet-x1", "beta", "gamma"}, false},
		{store.ListQuery{Prefix: "alpha", Limit: 10},
			[]string{"alpha", "alpha-b", "alphabet-x1"}, false},
		{store.ListQuery{Prefix: "alpha", After: "alpha", Limit: 1}, []string{"alpha-b"}, true},
		{store.ListQuery{After: "alphabet-x1", Limit: 10}, []string{"beta", "gamma"}, false},
		{store.ListQuery{After: "a", Prefix: "b", Limit: 10}, []string{"beta"}, false},
		{store.ListQuery{Prefix: "zeta", Limit: 10}, nil, false},
		{store.ListQuery{After: "gamma", Limit: 10}, nil, false},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%+v", tt.query), func(t *testing.T) {
			recs, more, err := s.List(ctx, tt.query)
			if err != nil {
				t.Fatalf("List: %v", err)
			}
			if got := recordNames(recs); fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Errorf("names = %v, want %v", got, tt.want)
			}
			if more != tt.wantMore {
				t.Errorf("more = %v, want %v", more, tt.wantMore)
			}
		})
	}
}

func testListPages(t *testing.T, s store.Store) {
	ctx := ctxFor(t)
	const total = 250
	for i := range total {
		name := fmt.Sprintf("app%03d", i)
		mustClaim(t, s, store.Claim{
			AppID: AppID(i), AppName: name, Candidates: []string{name}, Time: when,
		})
	}

	var seen []string
	after := ""
	for pages := 0; ; pages++ {
		if pages > total {
			t.Fatalf("paging did not end after %d pages", pages)
		}
		recs, more, err := s.List(ctx, store.ListQuery{After: after, Limit: 7})
		if err != nil {
			t.Fatalf("List: %v", err)
		}
		seen = append(seen, recordNames(recs)...)
		if !more {
			break
		}
		after = recs[len(recs)-1].Name
	}

	if len(seen) != total {
		t.Fatalf("paging saw %d records, want %d", len(seen), total)
	}
	for i, name := range seen {
		if want := fmt.Sprintf("app%03d", i); name != want {
			t.Fatalf("record %d = %q, want %q", i, name, want)
		}
	}
}

// testConcurrentClaims races many apps over a few names whose keys collide.
func testConcurrentClaims(t *testing.T, s store.Store) {
	ctx := ctxFor(t)
	const apps = 256
	bases := []string{"race", "ra-ce", "r-ace", "rac-e"}

	var wg sync.WaitGroup
	results := make([]store.Record, apps)
	errs := make([]error, apps)
	for i := range apps {
		wg.Go(func() {
			base := bases[i%len(bases)]
			tag := fmt.Sprintf("%s-x%d", base, i)
			results[i], _, errs[i] = s.Claim(ctx, store.Claim{
				AppID: AppID(i), AppName: base, Candidates: []string{base, tag}, Time: when,
			})
		})
	}
	wg.Wait()

	owners := map[string]string{}
	baseWinners := 0
	for i, rec := range results {
		if errs[i] != nil {
			t.Fatalf("app %d: %v", i, errs[i])
		}
		if prev, ok := owners[rec.Name]; ok {
			t.Fatalf("namespace %q given to %s and %s", rec.Name, prev, rec.AppID)
		}
		owners[rec.Name] = rec.AppID
		for _, b := range bases {
			if rec.Name == b {
				baseWinners++
			}
		}
	}
	if baseWinners != 1 {
		t.Errorf("%d apps got a name with key %q, want exactly 1", baseWinners, "race")
	}

	for i := range apps {
		got, err := s.ByApp(ctx, AppID(i))
		if err != nil {
			t.Fatalf("ByApp(%d): %v", i, err)
		}
		assertRecord(t, "ByApp", got, results[i])
	}
}

func testSecret(t *testing.T, s store.Store) {
	ctx := ctxFor(t)
	first, err := s.Secret(ctx)
	if err != nil {
		t.Fatalf("Secret: %v", err)
	}
	if len(first) < 16 {
		t.Errorf("Secret is %d bytes, want at least 16", len(first))
	}
	second, err := s.Secret(ctx)
	if err != nil {
		t.Fatalf("second Secret: %v", err)
	}
	if string(first) != string(second) {
		t.Errorf("Secret changed between calls")
	}
}

func testClosed(t *testing.T, s store.Store) {
	ctx := ctxFor(t)
	_, _, err := s.Claim(ctx, store.Claim{
		AppID: AppID(1), AppName: "a", Candidates: []string{"a"}, Time: when,
	})
	if !errors.Is(err, store.ErrClosed) {
		t.Errorf("Claim after Close: error = %v, want ErrClosed", err)
	}
	if _, err := s.ByApp(ctx, AppID(1)); !errors.Is(err, store.ErrClosed) {
		t.Errorf("ByApp after Close: error = %v, want ErrClosed", err)
	}
	if _, err := s.Retire(ctx, AppID(1), when, "test"); !errors.Is(err, store.ErrClosed) {
		t.Errorf("Retire after Close: error = %v, want ErrClosed", err)
	}
}

// lookups returns the three ways to find rec, by name.
func lookups(s store.Store, rec store.Record) map[string]lookup {
	return map[string]lookup{
		"ByName": func(ctx context.Context) (store.Record, error) {
			return s.ByName(ctx, rec.Name)
		},
		"ByApp": func(ctx context.Context) (store.Record, error) {
			return s.ByApp(ctx, rec.AppID)
		},
		"ByKey": func(ctx context.Context) (store.Record, error) {
			return s.ByKey(ctx, keyOf(rec.Name))
		},
	}
}

// lookup finds one record.
type lookup func(ctx context.Context) (store.Record, error)

// keyOf removes dashes; the suite does not depend on package naming so that
// it checks the contract, not the rules.
func keyOf(name string) string {
	out := make([]byte, 0, len(name))
	for i := 0; i < len(name); i++ {
		if name[i] != '-' {
			out = append(out, name[i])
		}
	}
	return string(out)
}

func recordNames(recs []store.Record) []string {
	var names []string
	for _, r := range recs {
		names = append(names, r.Name)
	}
	return names
}

func assertRecord(t *testing.T, what string, got, want store.Record) {
	t.Helper()
	if got.Name != want.Name || got.AppID != want.AppID || got.AppName != want.AppName ||
		got.State != want.State || !got.CreateTime.Equal(want.CreateTime) ||
		!got.RetireTime.Equal(want.RetireTime) || got.CreatedBy != want.CreatedBy ||
		got.RetiredBy != want.RetiredBy {
		t.Errorf("%s = %+v, want %+v", what, got, want)
	}
}
