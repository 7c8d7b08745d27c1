package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"
)

// readmeAddr is the address the README's examples use.
const readmeAddr = "127.0.0.1:50051"

// example is one command of the README and the output it shows.
type example struct {
	command string
	output  string
}

// TestReadmeWalkthrough runs every grpcurl command of the README's console
// blocks, in order, against a new daemon, and compares what it prints with
// what the README shows. Times differ from run to run and are compared by
// presence only.
func TestReadmeWalkthrough(t *testing.T) {
	text, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	examples := readmeExamples(string(text))
	if len(examples) < 10 {
		t.Fatalf("found %d grpcurl examples in README.md, want the whole walkthrough",
			len(examples))
	}

	d := startDaemon(t, filepath.Join(t.TempDir(), "nsalloc.db"))
	for _, ex := range examples {
		cmd := exec.Command("sh", "-c", strings.ReplaceAll(ex.command, readmeAddr, d.Addr()))
		path := binDir + string(os.PathListSeparator) + os.Getenv("PATH")
		cmd.Env = append(os.Environ(), "PATH="+path)
		out, err := cmd.CombinedOutput()

		wantFailure := strings.HasPrefix(ex.output, "ERROR:")
		if (err != nil) != wantFailure {
			t.Errorf("$ %s\nexit error = %v, README expects failure: %v\n%s",
				ex.command, err, wantFailure, out)
			continue
		}
		if !sameOutput(string(out), ex.output) {
			t.Errorf("$ %s\ngot:\n%s\nREADME shows:\n%s", ex.command, out, ex.output)
		}
	}
	d.stop(t, syscall.SIGTERM)
}

// readmeExamples finds the "$ grpcurl" commands of ```console blocks, with
// their continuation lines, and the output lines that follow each.
func readmeExamples(text string) []example {
	var (
		examples  []example
		inBlock   bool
		current   *example
		continued bool
	)
	for _, line := range strings.Split(text, "\n") {
		switch {
		case strings.HasPrefix(line, "```console"):
			inBlock = true
			continue
		case inBlock && strings.HasPrefix(line, "```"):
			inBlock, current = false, nil
			continue
		case !inBlock:
			continue
		}

		switch {
		case continued:
			current.command += "\n" + line
			continued = strings.HasSuffix(line, "\\")
		case strings.HasPrefix(line, "$ grpcurl "):
			examples = append(examples, example{command: strings.TrimPrefix(line, "$ ")})
			current = &examples[len(examples)-1]
			continued = strings.HasSuffix(line, "\\")
		case strings.HasPrefix(line, "$ "):
			current = nil
		case current != nil:
			current.output += line + "\n"
		}
	}
	return examples
}

// sameOutput compares JSON documents with their times blanked out, and
// anything else as text.
func sameOutput(got, want string) bool {
	got, want = strings.TrimSpace(got), strings.TrimSpace(want)
	if !strings.HasPrefix(want, "{") {
		return got == want
	}

	var gotDoc, wantDoc any
	if json.Unmarshal([]byte(got), &gotDoc) != nil ||
		json.Unmarshal([]byte(want), &wantDoc) != nil {
		return false
	}
	return reflect.DeepEqual(blankTimes(gotDoc), blankTimes(wantDoc))
}

// blankTimes replaces the value of every field named "time" or whose name
// ends in "Time".
func blankTimes(v any) any {
	switch v := v.(type) {
	case map[string]any:
		for k, field := range v {
			if k == "time" || strings.HasSuffix(k, "Time") {
				v[k] = "<time>"
			} else {
				v[k] = blankTimes(field)
			}
		}
	case []any:
		for i := range v {
			v[i] = blankTimes(v[i])
		}
	}
	return v
}
