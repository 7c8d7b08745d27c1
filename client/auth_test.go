package client_test

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	"github.com/nsalloc/nsalloc/client"
	"github.com/nsalloc/nsalloc/server"
)

// TestServerAuth runs the client against the server's own token checks.
func TestServerAuth(t *testing.T) {
	tokens := map[string]string{
		"dashboard": "reader-token-0123456789",
		"backend":   "writer-token-0123456789",
		"ops":       "admin-token-0123456789",
	}
	file := fmt.Sprintf("reader dashboard %s\nwriter backend %s\nadmin ops %s\n",
		server.HashToken(tokens["dashboard"]), server.HashToken(tokens["backend"]),
		server.HashToken(tokens["ops"]))
	callers, err := server.ParseCallers(strings.NewReader(file), "tokens")
	if err != nil {
		t.Fatalf("ParseCallers: %v", err)
	}
	guard := server.NewGuard(callers, server.Limits{})
	ts := startServer(t, serverConfig{opts: guard.ServerOptions()})
	ctx := testCtx(t)

	as := func(caller string) *client.Client {
		if caller == "" {
			return dial(t, ts.Addr())
		}
		token, ok := tokens[caller]
		if !ok {
			token = "unknown-token"
		}
		return dial(t, ts.Addr(), client.WithToken(token))
	}
	reserve := func(c *client.Client) error {
		_, _, err := c.Reserve(ctx, appMath, "Math")
		return err
	}
	resolve := func(c *client.Client) error {
		_, err := c.ResolveApp(ctx, appMath)
		return err
	}
	backup := func(c *client.Client) error {
		_, err := c.Backup(ctx, &bytes.Buffer{})
		return err
	}

	// The cases run in order: the writer's reservation comes first.
	tests := []struct {
		name    string
		caller  string // "" for no token
		call    func(*client.Client) error
		wantErr *wantError
	}{
		{name: "writer reserves", caller: "backend", call: reserve},
		{name: "reader resolves", caller: "dashboard", call: resolve},
		{name: "admin backs up", caller: "ops", call: backup},
		{name: "no token", caller: "", call: resolve, wantErr: &wantError{
			is: client.ErrUnauthenticated, reason: client.ReasonUnauthenticated}},
		{name: "unknown token", caller: "stranger", call: resolve, wantErr: &wantError{
			is: client.ErrUnauthenticated, reason: client.ReasonUnauthenticated}},
		{name: "reader reserves", caller: "dashboard", call: reserve, wantErr: &wantError{
			is: client.ErrPermissionDenied, reason: client.ReasonPermissionDenied}},
		{name: "writer backs up", caller: "backend", call: backup, wantErr: &wantError{
			is: client.ErrPermissionDenied, reason: client.ReasonPermissionDenied}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.call(as(tt.caller))

			if tt.wantErr != nil {
				checkError(t, err, *tt.wantErr)
				return
			}
			if err != nil {
				t.Fatalf("call: %v", err)
			}
		})
	}

	events, err := as("dashboard").History(ctx, "math")
	if err != nil || len(events) == 0 || events[0].Caller != "backend" {
		t.Errorf("History: got %+v, %v; want the reservation made by backend", events, err)
	}
}

func TestServerRateLimit(t *testing.T) {
	guard := server.NewGuard(nil, server.Limits{Rate: 0.001, Burst: 1})
	ts := startServer(t, serverConfig{opts: guard.ServerOptions()})
	var attempts attemptCounter
	c := dial(t, ts.Addr(), attempts.option())
	ctx := testCtx(t)

	if _, _, err := c.Reserve(ctx, appMath, "Math"); err != nil {
		t.Fatalf("first call: %v", err)
	}
	_, err := c.ResolveApp(ctx, appMath)

	checkError(t, err, wantError{is: client.ErrRateLimited, reason: client.ReasonRateLimited})
	if got := attempts.n.Load(); got != 2 {
		t.Errorf("got %d attempts for two calls, want 2", got)
	}
}
