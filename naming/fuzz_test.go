package naming

import (
	"fmt"
	"slices"
	"testing"
)

func FuzzBase(f *testing.F) {
	seeds := []string{"math", "My Cool App!", "Straße", "3D Printer", "日本語"}
	for _, seed := range seeds {
		f.Add(seed)
	}

	f.Fuzz(func(t *testing.T, name string) {
		if got, want := IsNamespace(name), ValidateNamespace(name) == nil; got != want {
			t.Fatalf("IsNamespace(%q): got %v, want %v", name, got, want)
		}

		base, ok := Base(name)
		if !ok {
			if base != "" {
				t.Fatalf("Base(%q) = %q, false; want an empty base", name, base)
			}
			return
		}

		if err := ValidateNamespace(base); err != nil {
			t.Fatalf("Base(%q) = %q, not a namespace: %v", name, base, err)
		}
		if again, _ := Base(base); again != base {
			t.Fatalf("Base(%q): got %q, want %q", base, again, base)
		}
	})
}

func FuzzCandidates(f *testing.F) {
	f.Add("math", []byte{0x94, 0x23, 0xdf, 0xaa})
	f.Add("", []byte{})

	f.Fuzz(func(t *testing.T, name string, seed []byte) {
		id := appIDFromBytes(seed)
		base, _ := Base(name)

		list := Candidates(base, id)
		checkCandidates(t, list)

		if base != "" && list[0] != base {
			t.Fatalf("Candidates(%q, %q)[0]: got %q, want the base", base, id, list[0])
		}

		// Candidates puts a raw name through Base itself, so it must agree.
		if raw := Candidates(name, id); !slices.Equal(raw, list) {
			t.Fatalf("Candidates(%q, %q): got %q, want %q", name, id, raw, list)
		}
	})
}

// appIDFromBytes formats up to 16 bytes of seed as an app id, padding with
// zeros and making sure the id is not the nil UUID.
func appIDFromBytes(seed []byte) string {
	var b [16]byte
	copy(b[:], seed)
	if b == [16]byte{} {
		b[15] = 1
	}
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}
