package naming

import (
	"fmt"
	"strings"
	"testing"
)

func TestBase(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want string // "" means ok=false
	}{
		{"plain", "math", "math"},
		{"upper", "Math", "math"},
		{"words and punctuation", "My Cool App!", "my-cool-app"},
		{"accent", "Café", "cafe"},
		{"sharp s", "Straße", "strasse"},
		{"capital sharp s", "STRAẞE", "strasse"},
		{"leading digit word", "3D Printer", "app3d-printer"},
		{"leading digit", "9lives", "app9lives"},
		{"digit word joins", "math 2", "math2"},
		{"digit then word", "2 fast", "app2-fast"},
		{"digits only", "1 2 3", "app123"},
		{"digits inside", "Top 10 Apps", "top10-apps"},
		{"dashes only", "---", ""},
		{"bangs only", "!!!", ""},
		{"empty", "", ""},
		{"spaces only", "   ", ""},
		{"no ASCII spelling", "日本語", ""},
		{"mixed scripts", "日本 app", "app"},
		{"scripts separate words", "math日本語app", "math-app"},
		{"danish", "Ærøskøbing", "aeroskobing"},
		{"polish", "Łódź", "lodz"},
		{"icelandic", "Þórður", "thordur"},
		{"french ligature", "Œuvre", "oeuvre"},
		{"catalan", "Paŀla", "palla"},
		{"turkish dotless i", "Kırmızı", "kirmizi"},
		{"turkish dotted I", "İstanbul", "istanbul"},
		{"fi ligature", "ﬁle", "file"},
		{"fullwidth", "Ｍath", "math"},
		{"superscript", "x²", "x2"},
		{"circled", "Ⓜath", "math"},
		{"combining mark", "e\u0301te\u0301", "ete"},
		{"underscores", "__init__", "init"},
		{"dots", "a.b.c", "a-b-c"},
		{"runs collapse", "a -- b", "a-b"},
		{"tabs and newlines", "a\tb\nc", "a-b-c"},
		{"invalid UTF-8", "a\xffb", "a-b"},
		{"emoji", "🚀 Rocket", "rocket"},
		{"already a namespace", "math-x9423dfaa", "math-x9423dfaa"},
		{"dash then digit", "math-9423dfaa", "math9423dfaa"},
	}

	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkBase(t, tt.in, tt.want)
		})
	}
}

// checkBase checks Base(in) against want, where "" means ok=false, and
// that any base it gives is a valid namespace.
func checkBase(t *testing.T, in, want string) {
	t.Helper()

	got, ok := Base(in)
	if got != want || ok != (want != "") {
		t.Fatalf("Base(%q) = %q, %v; want %q, %v", in, got, ok, want, want != "")
	}
	if ok {
		if err := ValidateNamespace(got); err != nil {
			t.Fatalf("Base(%q) = %q, not a namespace: %v", in, got, err)
		}
	}
}

func TestBaseLong(t *testing.T) {
	// 60 words of five letters: the longest whole-word prefix is ten words.
	words := strings.TrimSuffix(strings.Repeat("abcde ", 60), " ")
	tenWords := strings.TrimSuffix(strings.Repeat("abcde-", 10), "-")
	c61 := strings.Repeat("c", 61)

	tests := []struct {
		name string
		in   string
		want string
	}{
		{"many words", words, tenWords},
		{"one long word", strings.Repeat("a", 300), strings.Repeat("a", MaxLen)},
		{"exactly max", strings.Repeat("b", MaxLen), strings.Repeat("b", MaxLen)},
		{"word ends at max", strings.Repeat("c", 61) + " d efg", c61 + "-d"},
		{"dash at max", strings.Repeat("c", MaxLen) + " d", strings.Repeat("c", MaxLen)},
		{"long first word", strings.Repeat("d", 70) + " e", strings.Repeat("d", MaxLen)},
		{"long after accents", strings.Repeat("é", 300), strings.Repeat("e", MaxLen)},
		{"long ligatures", strings.Repeat("ﬃ", 100), strings.Repeat("ffi", 21)},
		{"digits long", strings.Repeat("1", 300), "app" + strings.Repeat("1", 60)},
		{"long noise then word", strings.Repeat("!", 1000) + "math", "math"},
	}

	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkBase(t, tt.in, tt.want)
			if got, _ := Base(tt.in); len(got) > MaxLen {
				t.Fatalf("len(Base) = %d, want <= %d", len(got), MaxLen)
			}
		})
	}
}

func TestBasePunctuation(t *testing.T) {
	for c := byte(0x21); c < 0x7f; c++ {
		if isLower(c) || isDigit(c) || 'A' <= c && c <= 'Z' {
			continue
		}

		// The character is named by code point, as '/' in a subtest name
		// would start a nested one.
		p := string(c)
		t.Run(fmt.Sprintf("alone U+%04X", c), func(t *testing.T) {
			checkBase(t, p, "")
		})
		t.Run(fmt.Sprintf("between U+%04X", c), func(t *testing.T) {
			checkBase(t, "a"+p+"b", "a-b")
		})
	}
}

func TestCut(t *testing.T) {
	tests := []struct {
		in    string
		limit int
		want  string
	}{
		{"abc", 5, "abc"},
		{"abc", 3, "abc"},
		{"abc-def", 6, "abc"},
		{"abc-def", 3, "abc"},
		{"abc-def", 2, "ab"},
		{"ab-cd-ef", 5, "ab-cd"},
		{"ab-cd-ef", 4, "ab"},
		{"a-bcdef", 4, "a"},
		{"abcdef", 0, ""},
	}

	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			if got := cut(tt.in, tt.limit); got != tt.want {
				t.Fatalf("cut(%q, %d): got %q, want %q",
					tt.in, tt.limit, got, tt.want)
			}
		})
	}
}

func BenchmarkBase(b *testing.B) {
	benchmarks := []struct {
		name string
		in   string
	}{
		{"ascii", "My Cool App!"},
		{"unicode", "Ærøskøbing Café"},
		{"long", strings.Repeat("word ", 60)},
	}

	for _, bm := range benchmarks {
		b.Run(bm.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				Base(bm.in)
			}
		})
	}
}
