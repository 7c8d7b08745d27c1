package naming

import (
	"strings"
	"testing"
)

const (
	testAppID = "9423dfaa-2bd8-4c5e-9f01-6a7b8c9d0e1f"
	maxAppID  = "ffffffff-ffff-ffff-ffff-ffffffffffff"
	nilAppIDs = "00000000-0000-0000-0000-000000000000"
)

func TestParseAppID(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    string
		wantErr string
	}{
		{"canonical", testAppID, testAppID, ""},
		{"upper case", strings.ToUpper(testAppID), testAppID, ""},
		{"mixed case", "9423DFAA-2bd8-4C5E-9f01-6A7B8C9D0E1F", testAppID, ""},
		{"all f", maxAppID, maxAppID, ""},
		{"nil", nilAppIDs, "", "the nil UUID is not an app id"},
		{"empty", "", "", "not a UUID: empty (want 8-4-4-4-12 hexadecimal digits)"},
		{"no dashes", "9423dfaa2bd84c5e9f016a7b8c9d0e1f", "", "dashes missing"},
		{"braces", "{" + testAppID + "}", "", "braces are not allowed"},
		{"urn", "urn:uuid:" + testAppID, "", "a urn: prefix is not allowed"},
		{"white space", " " + testAppID, "", "surrounding white space"},
		{"too short", testAppID[:35], "", "35 characters long"},
		{"too long", testAppID + "0", "", "37 characters long"},
		{"non-hex", "9423dfag-2bd8-4c5e-9f01-6a7b8c9d0e1f", "",
			"'g' at offset 7 is not a hexadecimal digit"},
		{"dash moved", "9423dfa-a2bd8-4c5e-9f01-6a7b8c9d0e1f", "", "'-' at offset 7"},
		{"dash missing", "9423dfaa02bd8-4c5e-9f01-6a7b8c9d0e1f", "",
			"'0' at offset 8, want '-'"},
		{"non-ASCII", "9423dfaé-2bd8-4c5e-9f01-6a7b8c9d0e1", "", "'é' at offset 7"},
	}

	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseAppID(tt.in)
			checkErr(t, "ParseAppID", err, tt.wantErr)
			if got != tt.want {
				t.Fatalf("ParseAppID(%q): got %q, want %q", tt.in, got, tt.want)
			}
			if err != nil && tt.in != "" && strings.Contains(err.Error(), tt.in) {
				t.Fatalf("ParseAppID(%q): error %q repeats the value", tt.in, err)
			}
		})
	}
}

func TestTag(t *testing.T) {
	tests := []struct {
		id   string
		n    int
		want string
	}{
		{testAppID, 8, "x9423dfaa"},
		{testAppID, 12, "x9423dfaa2bd8"},
		{testAppID, 32, "x9423dfaa2bd84c5e9f016a7b8c9d0e1f"},
		{strings.ToUpper(testAppID), 12, "x9423dfaa2bd8"},
		{testAppID, 1, "x9"},
	}

	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			got := Tag(tt.id, tt.n)
			if got != tt.want {
				t.Fatalf("Tag(%q, %d): got %q, want %q", tt.id, tt.n, got, tt.want)
			}
			if err := ValidateLabel(got); err != nil {
				t.Fatalf("Tag(%q, %d) = %q, not a label: %v",
					tt.id, tt.n, got, err)
			}
		})
	}
}

func TestTagPanics(t *testing.T) {
	tests := []struct {
		name string
		id   string
		n    int
	}{
		{"zero digits", testAppID, 0},
		{"too many digits", testAppID, 33},
		{"bad id", "not-an-id", 8},
		{"nil id", nilAppIDs, 8},
	}

	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Fatalf("Tag(%q, %d): got no panic, want one",
						tt.id, tt.n)
				}
			}()
			Tag(tt.id, tt.n)
		})
	}
}
