package naming

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestBuiltinReserved(t *testing.T) {
	names := BuiltinReserved()
	for _, want := range []string{"wasi", "wasm", "wit", "bytecodealliance", "latest"} {
		if !slices.Contains(names, want) {
			t.Errorf("BuiltinReserved() lacks %q", want)
		}
	}

	for _, name := range names {
		if err := ValidateNamespace(name); err != nil {
			t.Errorf("built-in reserved name %q: %v", name, err)
		}
	}

	names[0] = "changed"
	if BuiltinReserved()[0] == "changed" {
		t.Error("BuiltinReserved returned its own slice")
	}
}

func TestReservedContains(t *testing.T) {
	r, err := NewReserved("my-corp", "acme")
	if err != nil {
		t.Fatalf("NewReserved: %v", err)
	}

	tests := []struct {
		name string
		want bool
	}{
		{"wasi", true},
		{"wasm", true},
		{"bytecodealliance", true},
		{"by-tecodealliance", true},
		{"bytecode-alliance", true},
		{"my-corp", true},
		{"mycorp", true},
		{"acme", true},
		{"a-cme", true},
		{"math", false},
		{"wasi-x9423dfaa", false},
		{"wasix", false},
	}

	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := r.Contains(tt.name); got != tt.want {
				t.Fatalf("Contains(%q): got %v, want %v", tt.name, got, tt.want)
			}
		})
	}
}

func TestNewReserved(t *testing.T) {
	builtin, err := NewReserved()
	if err != nil {
		t.Fatalf("NewReserved(): %v", err)
	}
	if got, want := builtin.Len(), len(BuiltinReserved()); got != want {
		t.Fatalf("NewReserved().Len(): got %d, want %d", got, want)
	}

	// "my-corp" and "mycorp" share a key, and "wasi" is built in.
	r, err := NewReserved("my-corp", "mycorp", "wasi")
	if err != nil {
		t.Fatalf("NewReserved: %v", err)
	}
	if got, want := r.Len(), builtin.Len()+1; got != want {
		t.Fatalf("Len(): got %d, want %d", got, want)
	}

	_, err = NewReserved("fine", "Bad_Name")
	want := `reserved name "Bad_Name": word "Bad_Name" starts with 'B'`
	checkErr(t, "NewReserved", err, want)
}

func TestReadReserved(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    []string
		wantErr string
	}{
		{
			name: "comments and blank lines",
			in: "# reserved names\n" +
				"\n" +
				"acme\n" +
				"  my-corp  # our brand\n" +
				"\t\n" +
				"#nope\n" +
				"last",
			want: []string{"acme", "my-corp", "last"},
		},
		{name: "empty", in: "", want: nil},
		{name: "only comments", in: "# a\n# b\n", want: nil},
		{name: "CRLF", in: "acme\r\nmy-corp\r\n", want: []string{"acme", "my-corp"}},
		{
			name:    "bad line",
			in:      "acme\n\nBad Name # comment\nfine\n",
			wantErr: `line 3: name "Bad Name": word "Bad Name" starts with 'B'`,
		},
		{
			name:    "digit word",
			in:      "acme\nmath-9423dfaa\n",
			wantErr: `line 2: name "math-9423dfaa": word "9423dfaa" starts with`,
		},
		{
			name:    "too long",
			in:      strings.Repeat("a", 64),
			wantErr: "line 1: name",
		},
	}

	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ReadReserved(strings.NewReader(tt.in))
			checkErr(t, "ReadReserved", err, tt.wantErr)
			if !slices.Equal(got, tt.want) {
				t.Fatalf("ReadReserved: got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestLoadReserved(t *testing.T) {
	dir := t.TempDir()

	good := filepath.Join(dir, "reserved.txt")
	writeFile(t, good, "# ours\nacme\nmy-corp\n")
	r, err := LoadReserved(good)
	if err != nil {
		t.Fatalf("LoadReserved: %v", err)
	}
	for _, name := range []string{"acme", "mycorp", "wasi"} {
		if !r.Contains(name) {
			t.Errorf("LoadReserved(%q): Contains(%q) = false, want true", good, name)
		}
	}

	bad := filepath.Join(dir, "bad.txt")
	writeFile(t, bad, "acme\nnot_ok\n")
	_, err = LoadReserved(bad)
	checkErr(t, "LoadReserved", err, bad+`: line 2: name "not_ok"`)

	missing := filepath.Join(dir, "missing.txt")
	_, err = LoadReserved(missing)
	checkErr(t, "LoadReserved", err, missing)
	if !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("LoadReserved(%q): got %v, want an fs.ErrNotExist error", missing, err)
	}
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}
