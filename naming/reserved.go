package naming

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"strings"
)

// builtinReserved are names that would mislead if an app held them: the
// WebAssembly standards and tool makers, and words that read as roles or
// versions rather than as an app.
var builtinReserved = []string{
	"wasi", "wasm", "wit", "component",
	"spin", "fermyon", "bytecodealliance",
	"root", "admin", "system", "local", "default", "latest",
	"nsalloc", "registry",
}

// BuiltinReserved returns the names that are always reserved. The caller
// may change the returned slice.
func BuiltinReserved() []string {
	return append([]string(nil), builtinReserved...)
}

// Reserved is a set of reserved namespaces, compared by Key, so that
// reserving "bytecodealliance" also keeps out "bytecode-alliance". Build one
// with NewReserved or LoadReserved; the zero value holds no names at all,
// not even the built-in ones. A Reserved is safe for concurrent use once
// built, as it is never changed.
type Reserved struct {
	keys map[string]struct{}
}

// NewReserved returns a set of the built-in reserved names plus extra.
// Each extra name must be a valid namespace; the error names the first that
// is not.
func NewReserved(extra ...string) (*Reserved, error) {
	r := &Reserved{keys: make(map[string]struct{}, len(builtinReserved)+len(extra))}
	for _, name := range builtinReserved {
		r.keys[Key(name)] = struct{}{}
	}

	for _, name := range extra {
		if err := ValidateNamespace(name); err != nil {
			return nil, fmt.Errorf("reserved name %q: %w", name, err)
		}
		r.keys[Key(name)] = struct{}{}
	}
	return r, nil
}

// ReadReserved parses a list of reserved names: one name per line, with
// text after '#' ignored, surrounding white space trimmed and blank lines
// skipped. Each name must be a valid namespace; the error gives the line
// number and the name of the first that is not.
func ReadReserved(r io.Reader) ([]string, error) {
	var names []string
	sc := bufio.NewScanner(r)

	for line := 1; sc.Scan(); line++ {
		name := stripComment(sc.Text())
		if name == "" {
			continue
		}
		if err := ValidateNamespace(name); err != nil {
			return nil, fmt.Errorf("line %d: name %q: %w", line, name, err)
		}
		names = append(names, name)
	}

	if err := sc.Err(); err != nil {
		return nil, err
	}
	return names, nil
}

func stripComment(line string) string {
	if i := strings.IndexByte(line, '#'); i >= 0 {
		line = line[:i]
	}
	return strings.TrimSpace(line)
}

// LoadReserved reads the reserved-names file at path, in the format of
// ReadReserved, and returns a set of the built-in names plus the file's.
// Errors name the file.
func LoadReserved(path string) (*Reserved, error) {
	f, err := os.Open(path)
	if err != nil {
		// The error from Open already names the file.
		return nil, fmt.Errorf("reserved names: %w", err)
	}
	defer f.Close()

	names, err := ReadReserved(f)
	if err != nil {
		return nil, fmt.Errorf("reserved names %s: %w", path, err)
	}
	return NewReserved(names...)
}

// Contains reports whether namespace's key is reserved.
func (r *Reserved) Contains(namespace string) bool {
	_, ok := r.keys[Key(namespace)]
	return ok
}

// Len reports how many keys the set holds; names that share a key count
// once.
func (r *Reserved) Len() int {
	return len(r.keys)
}
