package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

const (
	appMath    = "9423dfaa-2bd8-43fa-bcd9-b0599ea44d5e"
	appMath2   = "5b1e6c4a-0f3d-4e2b-9a8c-7d6e5f4a3b2c"
	appOther   = "0c9a8b7d-6e5f-4a3b-8c2d-1e0f9a8b7c6d"
	appUnknown = "aaaaaaaa-0000-4000-8000-000000000000"
)

// contains returns a check that stdout holds each of want.
func contains(want ...string) func(*testing.T, ctlRun) {
	return func(t *testing.T, r ctlRun) {
		t.Helper()
		for _, w := range want {
			if !strings.Contains(r.stdout, w) {
				t.Errorf("stdout lacks %q:\n%s", w, r.stdout)
			}
		}
	}
}

// lines returns a check that stdout has n lines.
func lines(n int) func(*testing.T, ctlRun) {
	return func(t *testing.T, r ctlRun) {
		t.Helper()
		if got := strings.Count(r.stdout, "\n"); got != n {
			t.Errorf("got %d lines, want %d:\n%s", got, n, r.stdout)
		}
	}
}

// TestCommands runs every subcommand but import and backup, in both
// output formats, against one daemon; each step sees what the steps
// before it did.
func TestCommands(t *testing.T) {
	d := startDaemon(t)

	steps := []struct {
		name     string
		args     []string
		wantCode int
		check    func(*testing.T, ctlRun)
	}{
		{"reserve", []string{"reserve", appMath, "Math"}, exitOK,
			contains("NAMESPACE", "math ", appMath, "active", "yes")},
		{"reserve json tagged", []string{"reserve", appMath2, "math", "-o", "json"}, exitOK,
			func(t *testing.T, r ctlRun) {
				got := decode[reserveJSON](t, r)
				if got.Namespace.Name != "math-x5b1e6c4a" || !got.Created ||
					got.Namespace.AppID != appMath2 || got.Namespace.State != "active" {
					t.Errorf("got %+v, want math-x5b1e6c4a, created, active", got)
				}
			}},
		{"reserve again", []string{"-o", "json", "reserve", appMath, "Other"}, exitOK,
			func(t *testing.T, r ctlRun) {
				got := decode[reserveJSON](t, r)
				if got.Namespace.Name != "math" || got.Created {
					t.Errorf("got %+v, want math, not created", got)
				}
			}},
		{"reserve exact taken", []string{"reserve", appOther, "MATH", "--exact"}, exitRefused,
			nil},
		{"reserve bad id", []string{"reserve", "9423dfaa", "Math"}, exitRefused, nil},
		{"resolve app", []string{"resolve", appMath}, exitOK,
			contains("math ", appMath, "Math")},
		{"resolve name json", []string{"resolve", "--namespace", "math-x5b1e6c4a", "-o", "json"},
			exitOK, func(t *testing.T, r ctlRun) {
				got := decode[namespaceJSON](t, r)
				if got.AppID != appMath2 || got.AppName != "math" || got.RetireTime != nil {
					t.Errorf("got %+v, want app %s named math, active", got, appMath2)
				}
			}},
		{"resolve unknown app", []string{"resolve", appUnknown}, exitNotFound, nil},
		{"resolve unknown name json", []string{"resolve", "-o", "json", "--namespace", "nope"},
			exitNotFound, lines(0)},
		{"list", []string{"list"}, exitOK, lines(3)},
		{"list json", []string{"list", "-o", "json"}, exitOK, func(t *testing.T, r ctlRun) {
			got := decode[[]namespaceJSON](t, r)
			if len(got) != 2 || got[0].Name != "math" || got[1].Name != "math-x5b1e6c4a" {
				t.Errorf("got %+v, want math and math-x5b1e6c4a", got)
			}
		}},
		{"list prefix limit", []string{"list", "--prefix", "math", "--limit", "1", "-o", "json"},
			exitOK, func(t *testing.T, r ctlRun) {
				if got := decode[[]namespaceJSON](t, r); len(got) != 1 || got[0].Name != "math" {
					t.Errorf("got %+v, want math alone", got)
				}
			}},
		{"list none json", []string{"list", "--prefix", "zz", "-o", "json"}, exitOK,
			contains("[]")},
		{"list bad prefix", []string{"list", "--prefix", "Ma"}, exitRefused, nil},
		{"preview", []string{"preview", "Math", "--app-id", appOther}, exitOK,
			contains("base name", "math", "taken", "math-x0c9a8b7d")},
		{"preview json", []string{"preview", "-o", "json", "Math", "--app-id", appMath}, exitOK,
			func(t *testing.T, r ctlRun) {
				got := decode[previewJSON](t, r)
				if got.BaseName != "math" || got.BaseFree || got.Unavailability != "taken" ||
					got.Namespace != "math" || got.Existing == nil ||
					got.Existing.Name != "math" {
					t.Errorf("got %+v, want base math, taken, the app's own math", got)
				}
			}},
		{"preview no usable characters json", []string{"preview", "!!!", "-o", "json"}, exitOK,
			contains(`"unavailability": "no_usable_characters"`)},
		{"preview empty name", []string{"preview", ""}, exitRefused, nil},
		{"history", []string{"history", "math"}, exitOK,
			contains("EVENT", "reserved", appMath, "anonymous")},
		{"history unknown", []string{"history", "nope"}, exitNotFound, nil},
		{"release json", []string{"release", appMath, "-o", "json"}, exitOK,
			func(t *testing.T, r ctlRun) {
				got := decode[namespaceJSON](t, r)
				if got.Name != "math" || got.State != "retired" || got.RetireTime == nil {
					t.Errorf("got %+v, want math retired", got)
				}
			}},
		{"release again", []string{"release", appMath}, exitOK, contains("math ", "retired")},
		{"release unknown", []string{"release", appUnknown}, exitNotFound, nil},
		{"history json", []string{"history", "-o", "json", "math"}, exitOK,
			func(t *testing.T, r ctlRun) {
				got := decode[[]eventJSON](t, r)
				if len(got) != 2 || got[0].Kind != "reserved" || got[1].Kind != "retired" ||
					got[1].Caller != "anonymous" {
					t.Errorf("got %+v, want reserved then retired by anonymous", got)
				}
			}},
		{"resolve retired", []string{"resolve", appMath}, exitRefused, nil},
		{"resolve retired included", []string{"resolve", appMath, "--include-retired"}, exitOK,
			contains("retired")},
		{"reserve released app", []string{"reserve", appMath, "Math"}, exitRefused, nil},
	}
	for _, step := range steps {
		t.Run(step.name, func(t *testing.T) {
			r := ctl(t, invocation{}, append([]string{"--addr", d.Addr()}, step.args...)...)

			if r.code != step.wantCode {
				t.Fatalf("got exit code %d, want %d; stderr:\n%s", r.code, step.wantCode,
					r.stderr)
			}
			if step.wantCode != exitOK && !strings.HasPrefix(r.stderr, "nsallocctl: ") {
				t.Errorf("got stderr %q, want the error", r.stderr)
			}
			if step.check != nil {
				step.check(t, r)
			}
		})
	}
}

func TestAddressFromEnvironment(t *testing.T) {
	d := startDaemon(t)
	env := invocation{env: []string{"NSALLOC_ADDR=" + d.Addr()}}

	if r := ctl(t, env, "list"); r.code != exitOK {
		t.Errorf("list with NSALLOC_ADDR: got exit code %d, want 0; stderr:\n%s",
			r.code, r.stderr)
	}
	if r := ctl(t, env, "list", "--addr", closedAddr(t), "--timeout", "300ms"); r.code !=
		exitUnreachable {
		t.Errorf("--addr over NSALLOC_ADDR: got exit code %d, want %d", r.code,
			exitUnreachable)
	}
}

func TestUsageErrors(t *testing.T) {
	tests := []struct {
		name string
		args []string
	}{
		{"no subcommand", nil},
		{"unknown subcommand", []string{"frobnicate"}},
		{"unknown flag", []string{"list", "--frob"}},
		{"unknown global flag", []string{"--frob", "list"}},
		{"missing argument", []string{"reserve", appMath}},
		{"extra argument", []string{"release", appMath, "again"}},
		{"resolve without key", []string{"resolve"}},
		{"resolve with both keys", []string{"resolve", appMath, "--namespace", "math"}},
		{"bad output", []string{"list", "-o", "yaml"}},
		{"bad limit", []string{"list", "--limit", "-1"}},
		{"bad timeout", []string{"list", "--timeout", "0s"}},
		{"insecure and TLS", []string{"list", "--insecure", "--tls"}},
		{"key without certificate", []string{"list", "--tls-key", "k.pem"}},
		{"bad concurrency", []string{"import", "--concurrency", "0", "-"}},
		{"token in plaintext", []string{"list", "--addr", "nsalloc.example:50051",
			"--insecure", "--token", "t"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := ctl(t, invocation{}, tt.args...)
			if r.code != exitUsage {
				t.Errorf("got exit code %d, want %d; stderr:\n%s", r.code, exitUsage, r.stderr)
			}
			if r.stderr == "" {
				t.Errorf("got no error on stderr")
			}
		})
	}

	t.Run("help", func(t *testing.T) {
		r := ctl(t, invocation{}, "help")
		if r.code != exitOK || !strings.Contains(r.stdout, "exit codes") {
			t.Errorf("got exit code %d and %q, want 0 and the usage", r.code, r.stdout)
		}
	})
}

func TestUnreachable(t *testing.T) {
	addr := closedAddr(t)
	file := filepath.Join(t.TempDir(), "backup.db")
	tests := [][]string{
		{"reserve", appMath, "Math"},
		{"resolve", appMath},
		{"release", appMath},
		{"list"},
		{"preview", "Math"},
		{"history", "math"},
		{"backup", file},
	}
	for _, args := range tests {
		for _, format := range []string{formatTable, formatJSON} {
			t.Run(args[0]+" "+format, func(t *testing.T) {
				args := append([]string{"--addr", addr, "--timeout", "300ms", "-o", format},
					args...)
				r := ctl(t, invocation{}, args...)
				if r.code != exitUnreachable || r.stdout != "" {
					t.Errorf("got exit code %d and stdout %q, want %d and nothing; "+
						"stderr:\n%s", r.code, r.stdout, exitUnreachable, r.stderr)
				}
			})
		}
	}
	if _, err := os.Stat(file + ".partial"); !os.IsNotExist(err) {
		t.Errorf("a failed backup left %s.partial: %v", file, err)
	}

	t.Run("TLS to a plaintext server", func(t *testing.T) {
		d := startDaemon(t)
		r := ctl(t, invocation{}, "--addr", d.Addr(), "--tls", "--timeout", "1s", "list")
		if r.code != exitUnreachable {
			t.Errorf("got exit code %d, want %d; stderr:\n%s", r.code, exitUnreachable,
				r.stderr)
		}
	})
}

func TestBackup(t *testing.T) {
	d := startDaemon(t)
	base := []string{"--addr", d.Addr()}
	if r := ctl(t, invocation{}, append(base, "reserve", appMath, "Math")...); r.code != 0 {
		t.Fatalf("reserve: exit code %d; stderr:\n%s", r.code, r.stderr)
	}
	file := filepath.Join(t.TempDir(), "backup.db")

	r := ctl(t, invocation{}, append(base, "backup", file, "-o", "json")...)
	if r.code != exitOK {
		t.Fatalf("backup: got exit code %d, want 0; stderr:\n%s", r.code, r.stderr)
	}
	got := decode[backupJSON](t, r)
	info, err := os.Stat(file)
	if err != nil || got.File != file || got.Bytes != info.Size() || got.Bytes == 0 {
		t.Fatalf("got %+v and stat %v, %v; want the file and its size", got, info, err)
	}
	if _, err := os.Stat(file + ".partial"); !os.IsNotExist(err) {
		t.Errorf("%s.partial is left: %v", file, err)
	}

	t.Run("refuses to overwrite", func(t *testing.T) {
		r := ctl(t, invocation{}, append(base, "backup", file)...)
		if r.code != exitError || !strings.Contains(r.stderr, "--force") {
			t.Errorf("got exit code %d, stderr %q; want 1 and a hint of --force", r.code,
				r.stderr)
		}
	})
	t.Run("force", func(t *testing.T) {
		r := ctl(t, invocation{}, append(base, "backup", "--force", file)...)
		if r.code != exitOK || !strings.Contains(r.stdout, "bytes") {
			t.Errorf("got exit code %d, stdout %q; want 0 and the size", r.code, r.stdout)
		}
	})
	t.Run("served", func(t *testing.T) {
		restored := startDaemon(t, "--db", file)
		r := ctl(t, invocation{}, "--addr", restored.Addr(), "resolve", appMath)
		if r.code != exitOK || !strings.Contains(r.stdout, "math") {
			t.Errorf("resolve on the backup: got exit code %d, stdout %q; want math",
				r.code, r.stdout)
		}
	})
}

// TestTokens runs nsallocctl against a daemon that checks tokens, with
// tokens of a writer and of a reader made by nsallocd token.
func TestTokens(t *testing.T) {
	dir := t.TempDir()
	var file strings.Builder
	tokens := map[string]string{}
	for _, c := range []struct{ role, name string }{{"writer", "ops"}, {"reader", "dash"}} {
		out, err := exec.Command(filepath.Join(binDir, "nsallocd"), "token",
			"--role", c.role, "--name", c.name).Output()
		if err != nil {
			t.Fatalf("nsallocd token --role %s --name %s: %v", c.role, c.name, err)
		}
		token, line, ok := strings.Cut(strings.TrimSuffix(string(out), "\n"), "\n")
		if !ok {
			t.Fatalf("nsallocd token printed %q, want two lines", out)
		}
		tokens[c.name] = token
		file.WriteString(line + "\n")
	}
	tokensFile := filepath.Join(dir, "tokens.txt")
	if err := os.WriteFile(tokensFile, []byte(file.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	d := startDaemon(t, "--tokens", tokensFile)
	envToken := func(name string) string { return "NSALLOC_TOKEN=" + tokens[name] }

	tests := []struct {
		name     string
		env      []string
		args     []string
		wantCode int
	}{
		{"no token", nil, []string{"reserve", appMath, "Math"}, exitRefused},
		{"unknown token", nil, []string{"list", "--token", "nope"}, exitRefused},
		{"writer flag", nil, []string{"reserve", appMath, "Math", "--token", tokens["ops"]},
			exitOK},
		{"writer env", []string{envToken("ops")}, []string{"reserve", appMath2, "Graph"},
			exitOK},
		{"reader env", []string{envToken("dash")}, []string{"reserve", appOther, "X"},
			exitRefused},
		{"flag wins over env", []string{envToken("dash")},
			[]string{"--token", tokens["ops"], "reserve", appOther, "X"}, exitOK},
		{"reader lists", []string{envToken("dash")}, []string{"list"}, exitOK},
		{"writer may not back up", []string{envToken("ops")},
			[]string{"backup", filepath.Join(dir, "b.db")}, exitRefused},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := ctl(t, invocation{env: tt.env}, append([]string{"--addr", d.Addr()},
				tt.args...)...)
			if r.code != tt.wantCode {
				t.Errorf("got exit code %d, want %d; stderr:\n%s", r.code, tt.wantCode,
					r.stderr)
			}
		})
	}

	t.Run("history names the writer", func(t *testing.T) {
		r := ctl(t, invocation{env: []string{envToken("dash")}}, "--addr", d.Addr(),
			"history", "math", "-o", "json")
		events := decode[[]eventJSON](t, r)
		if len(events) != 1 || events[0].Caller != "ops" {
			t.Errorf("got %+v, want one reservation by ops", events)
		}
	})
	if _, err := os.Stat(filepath.Join(dir, "b.db.partial")); !os.IsNotExist(err) {
		t.Errorf("a refused backup left its .partial file: %v", err)
	}
}
