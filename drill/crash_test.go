package drill

import (
	"context"
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/nsalloc/nsalloc/internal/daemon"
	"github.com/nsalloc/nsalloc/internal/load"
	nsallocv1 "github.com/nsalloc/nsalloc/proto/nsalloc/v1"
	"github.com/nsalloc/nsalloc/store/bolt"
)

const (
	// crashWriters is how many clients reserve at once.
	crashWriters = 32
	// crashConns is how many connections the writers share.
	crashConns = 4
	// minAcked is the fewest reservations a round must acknowledge before
	// its kill, so that a daemon that writes nothing fails the drill.
	minAcked = 20
	// maxReported caps the problems reported one by one per check.
	maxReported = 10
)

// crashNames are the app names the writers draw from. Most share a key, so
// that tags are handed out; the rest of the writes use unique names.
var crashNames = []string{"math", "Math", "ma-th", "MATH", "graph", "Graph", "gra-ph", "my app"}

// crashRound is what one round of writes saw.
type crashRound struct {
	acked    map[string]string  // app id → namespace, acknowledged by an OK
	failed   map[codes.Code]int // failed calls by code
	early    []error            // calls that failed before the kill
	wrong    []string           // OK answers that do not fit the request
	inFlight int64              // calls in flight when the kill came
	killedAt time.Duration      // how long the writes ran before the kill
}

func TestCrashDrill(t *testing.T) {
	rounds := scale(3, 20)
	dbPath := filepath.Join(t.TempDir(), "nsalloc.db")
	acked := make(map[string]string) // app id → namespace, over all rounds

	for round := 1; round <= rounds; round++ {
		// Write from many clients and kill the daemon in the middle.
		writer := startDaemon(t, dbPath)
		delay := time.Duration(100+rand.IntN(501)) * time.Millisecond
		got := writeUntilKilled(t, writer, delay)
		checkWrites(t, round, got)
		maps.Copy(acked, got.acked)

		// The file must be sound with no daemon running.
		checkFile(t, round, dbPath)

		// A restarted daemon must answer for everything acknowledged so far.
		checker := startDaemon(t, dbPath)
		listed := checkServed(t, round, checker, acked)
		if err := checker.Stop(syscall.SIGTERM, 10*time.Second); err != nil {
			t.Errorf("round %d: stop after the check: %v", round, err)
		}

		restart := checker.Serving.Sub(checker.Started).Round(time.Millisecond)
		t.Logf("round %2d: killed after %s with %d calls in flight; acked %d (%d tagged),"+
			" failed %v; restart served in %s; total acked %d, listed %d, file %d KiB",
			round, got.killedAt, got.inFlight, len(got.acked), tagged(got.acked), got.failed,
			restart, len(acked), listed, fileSize(dbPath)>>10)
		if t.Failed() {
			t.Fatalf("round %d failed; log of the killed daemon:\n%s\nlog of the check:\n%s",
				round, writer.Logs(), checker.Logs())
		}
	}
}

// checkWrites checks what the writers of one round saw: every call before
// the kill succeeded with a fitting answer, calls cut off by the kill failed
// as UNAVAILABLE, and enough were acknowledged.
func checkWrites(t *testing.T, round int, got crashRound) {
	t.Helper()
	var problems []string
	for _, err := range got.early {
		problems = append(problems, fmt.Sprintf("Reserve failed before the kill: %v", err))
	}
	problems = append(problems, got.wrong...)
	for code, n := range got.failed {
		if code != codes.Unavailable {
			problems = append(problems, fmt.Sprintf("got %d calls failed with %v at the kill,"+
				" want %v", n, code, codes.Unavailable))
		}
	}
	if len(got.acked) < minAcked {
		problems = append(problems, fmt.Sprintf("got %d acknowledged reservations in %s,"+
			" want at least %d", len(got.acked), got.killedAt, minAcked))
	}
	if got.inFlight == 0 {
		problems = append(problems, "got 0 calls in flight at the kill, want some")
	}
	report(t, fmt.Sprintf("round %d", round), problems)
}

// report fails t with each problem, up to maxReported of them.
func report(t *testing.T, prefix string, problems []string) {
	t.Helper()
	for i, msg := range problems {
		if i == maxReported {
			t.Errorf("%s: and %d more problems", prefix, len(problems)-i)
			return
		}
		t.Errorf("%s: %s", prefix, msg)
	}
}

// tagged counts the namespaces that carry a tag from their app id, given
// because the base name was taken.
func tagged(acked map[string]string) int {
	n := 0
	for app, ns := range acked {
		if strings.Contains(ns, "-x"+app[:8]) {
			n++
		}
	}
	return n
}

// fileSize returns the size of the file at path, or 0 when it cannot.
func fileSize(path string) int64 {
	fi, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return fi.Size()
}

// writeUntilKilled reserves new apps from crashWriters clients and kills p
// with SIGKILL after delay, while the writes are running.
func writeUntilKilled(t *testing.T, p *daemon.Process, delay time.Duration) crashRound {
	t.Helper()
	conns := dial(t, p.Addr(), crashConns)
	ctx, cancel := context.WithTimeout(context.Background(), delay+30*time.Second)
	defer cancel()

	var (
		mu       sync.Mutex
		got      = crashRound{acked: make(map[string]string), failed: make(map[codes.Code]int)}
		killing  atomic.Bool
		inFlight atomic.Int64
		wg       sync.WaitGroup
	)
	start := time.Now()
	for w := range crashWriters {
		client := nsallocv1.NewNamespaceServiceClient(conns[w%crashConns])
		wg.Go(func() {
			for !killing.Load() {
				appID := load.RandomAppID()
				name := crashNames[rand.IntN(len(crashNames))]
				if rand.IntN(4) == 0 {
					name = "unique " + appID[:8]
				}

				inFlight.Add(1)
				callCtx, callCancel := context.WithTimeout(ctx, 10*time.Second)
				resp, err := client.Reserve(callCtx, &nsallocv1.ReserveRequest{
					AppId: appID, AppName: name,
				})
				callCancel()
				inFlight.Add(-1)

				mu.Lock()
				switch {
				case err != nil && !killing.Load():
					got.early = append(got.early, err)
				case err != nil:
					got.failed[status.Code(err)]++
				default:
					if msg := checkReserved(appID, name, resp); msg != "" {
						got.wrong = append(got.wrong, msg)
					}
					got.acked[appID] = resp.GetNamespace().GetName()
				}
				mu.Unlock()
			}
		})
	}

	// The writers stop starting calls before the kill, so that every call
	// that fails was in flight when the daemon died.
	time.Sleep(delay)
	killing.Store(true)
	got.inFlight = inFlight.Load()
	got.killedAt = time.Since(start).Round(time.Millisecond)
	if err := p.Kill(); err != nil {
		t.Fatalf("kill: %v", err)
	}
	wg.Wait()
	return got
}

// checkReserved says what is wrong with the answer to a first Reserve of
// appID under name; it returns "" when nothing is.
func checkReserved(appID, name string, resp *nsallocv1.ReserveResponse) string {
	ns := resp.GetNamespace()
	switch {
	case ns.GetAppId() != appID:
		return fmt.Sprintf("Reserve(%s, %q) got app id %q, want %q",
			appID, name, ns.GetAppId(), appID)
	case ns.GetName() == "":
		return fmt.Sprintf("Reserve(%s, %q) got no namespace", appID, name)
	case !resp.GetCreated():
		return fmt.Sprintf("Reserve(%s, %q) of a new app got created = false, want true",
			appID, name)
	}
	return ""
}

// checkFile opens the file of a killed daemon and runs the store's check:
// bbolt's page consistency and the agreement of the three indexes.
func checkFile(t *testing.T, round int, dbPath string) {
	t.Helper()
	db, err := bolt.Open(dbPath, &bolt.Options{LockTimeout: 5 * time.Second})
	if err != nil {
		t.Fatalf("round %d: open the file after the kill: %v", round, err)
	}
	defer func() {
		if err := db.Close(); err != nil {
			t.Errorf("round %d: close the file: %v", round, err)
		}
	}()
	if err := db.Check(); err != nil {
		t.Errorf("round %d: check of the file after the kill: %v", round, err)
	}
}

// checkServed checks through p that every acknowledged reservation resolves
// both ways, and that List shows no namespace twice and no app with two
// namespaces. It returns how many namespaces List showed.
func checkServed(t *testing.T, round int, p *daemon.Process, acked map[string]string) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	conns := dial(t, p.Addr(), crashConns)

	var problems []string
	byApp, listProblems := listAll(ctx, nsallocv1.NewNamespaceServiceClient(conns[0]))
	problems = append(problems, listProblems...)
	for app, ns := range acked {
		if got, ok := byApp[app]; !ok || got != ns {
			problems = append(problems,
				fmt.Sprintf("List: app %s got namespace %q, want %q", app, got, ns))
		}
	}
	problems = append(problems, resolveAll(ctx, conns, acked)...)

	slices.Sort(problems)
	report(t, fmt.Sprintf("round %d: after restart", round), problems)
	return len(byApp)
}

// listAll pages through every namespace. It returns each app's namespace
// and the problems seen: a name listed twice, an app with two namespaces, a
// namespace not active.
func listAll(
	ctx context.Context, client nsallocv1.NamespaceServiceClient,
) (map[string]string, []string) {
	byApp := make(map[string]string)
	names := make(map[string]bool)
	var problems []string
	token := ""
	for {
		resp, err := client.List(ctx, &nsallocv1.ListRequest{PageSize: 1000, PageToken: token})
		if err != nil {
			return byApp, append(problems, fmt.Sprintf("List: %v", err))
		}
		for _, ns := range resp.GetNamespaces() {
			name, app := ns.GetName(), ns.GetAppId()
			if names[name] {
				problems = append(problems, fmt.Sprintf("List: namespace %q listed twice", name))
			}
			names[name] = true
			if other, ok := byApp[app]; ok {
				problems = append(problems, fmt.Sprintf("List: app %s holds %q and %q",
					app, other, name))
			}
			byApp[app] = name
			if ns.GetState() != nsallocv1.State_STATE_ACTIVE {
				problems = append(problems, fmt.Sprintf("List: %q got state %v, want %v",
					name, ns.GetState(), nsallocv1.State_STATE_ACTIVE))
			}
		}
		if token = resp.GetNextPageToken(); token == "" {
			return byApp, problems
		}
	}
}

// resolveAll resolves every acknowledged app by id, and its namespace by
// name, from several clients at once; it returns the problems seen.
func resolveAll(
	ctx context.Context, conns []*grpc.ClientConn, acked map[string]string,
) []string {
	type pair struct{ app, ns string }
	pairs := make(chan pair)
	var (
		mu       sync.Mutex
		problems []string
		wg       sync.WaitGroup
	)
	report := func(format string, args ...any) {
		mu.Lock()
		problems = append(problems, fmt.Sprintf(format, args...))
		mu.Unlock()
	}
	for w := range 4 * len(conns) {
		client := nsallocv1.NewNamespaceServiceClient(conns[w%len(conns)])
		wg.Go(func() {
			for pr := range pairs {
				byID, err := client.Resolve(ctx, &nsallocv1.ResolveRequest{
					Key: &nsallocv1.ResolveRequest_AppId{AppId: pr.app},
				})
				if err != nil {
					report("Resolve(app %s): %v", pr.app, err)
				} else if got := byID.GetNamespace().GetName(); got != pr.ns {
					report("Resolve(app %s) got %q, want %q", pr.app, got, pr.ns)
				}

				byName, err := client.Resolve(ctx, &nsallocv1.ResolveRequest{
					Key: &nsallocv1.ResolveRequest_Namespace{Namespace: pr.ns},
				})
				if err != nil {
					report("Resolve(namespace %q): %v", pr.ns, err)
				} else if got := byName.GetNamespace().GetAppId(); got != pr.app {
					report("Resolve(namespace %q) got app %s, want %s", pr.ns, got, pr.app)
				}
			}
		})
	}
	for app, ns := range acked {
		pairs <- pair{app, ns}
	}
	close(pairs)
	wg.Wait()
	return problems
}
