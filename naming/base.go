package naming

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// letterFolds spells in ASCII the letters that compatibility decomposition
// leaves alone because they are letters of their own rather than accented
// ones. Without it "Straße" would become "stra-e".
var letterFolds = map[rune]string{
	'ß': "ss", 'ẞ': "ss",
	'æ': "ae", 'Æ': "ae",
	'œ': "oe", 'Œ': "oe",
	'ø': "o", 'Ø': "o",
	'ł': "l", 'Ł': "l",
	'đ': "d", 'Đ': "d",
	'ð': "d", 'Ð': "d",
	'þ': "th", 'Þ': "th",
	'ı': "i",
	'ħ': "h", 'Ħ': "h",
	'ŧ': "t", 'Ŧ': "t",
	'ŋ': "n", 'Ŋ': "n",
	'ĸ': "k",
	'ƒ': "f",
	'ɨ': "i", 'Ɨ': "i",
	'ƀ': "b", 'Ƀ': "b",
	'ǥ': "g", 'Ǥ': "g",
}

// middleDotL holds the Catalan letters ŀ and Ŀ, which decompose to an "l"
// and a middle dot; folded after decomposition, the dot would split the word.
const middleDotL = "ŀĿ"

var middleDotLFold = strings.NewReplacer("ŀ", "l", "Ŀ", "l")

// Base derives the base namespace from an app's human name, following the
// steps in the package documentation. It reports ok=false when the name
// holds nothing usable, such as only punctuation or only letters of
// scripts that have no ASCII spelling. A valid namespace is its own base.
func Base(appName string) (base string, ok bool) {
	var b baseBuilder
	if isASCII(appName) {
		b.addASCIIString(appName)
	} else {
		b.addUnicodeString(appName)
	}

	base = cut(string(b.buf[:b.n]), MaxLen)
	return base, base != ""
}

// baseBuilder writes the words of a base as it reads an app name. It stops
// once it holds more than MaxLen bytes: the cut to MaxLen looks no further,
// so a long name costs no more than a short one.
type baseBuilder struct {
	// buf leaves room for the longest single step, "app" and a digit, made
	// when holding MaxLen bytes.
	buf [MaxLen + 4]byte
	n   int

	// pending is set by a separator and spent by the next letter, so that
	// runs of separators and separators at either end leave no dashes.
	pending bool
}

func (b *baseBuilder) full() bool { return b.n > MaxLen }

func (b *baseBuilder) addASCIIString(s string) {
	for i := 0; i < len(s) && !b.full(); i++ {
		b.addASCII(s[i])
	}
}

func (b *baseBuilder) addUnicodeString(s string) {
	if strings.ContainsAny(s, middleDotL) {
		s = middleDotLFold.Replace(s)
	}

	var it norm.Iter
	it.InitString(norm.NFKD, s)

	for !it.Done() && !b.full() {
		seg := it.Next()
		for len(seg) > 0 {
			r, size := utf8.DecodeRune(seg)
			b.addRune(r)
			seg = seg[size:]
		}
	}
}

func (b *baseBuilder) addRune(r rune) {
	switch {
	case r < utf8.RuneSelf:
		b.addASCII(byte(r))
	case unicode.Is(unicode.Mn, r):
		// Decomposition split "é" into "e" and a combining accent; the
		// accent alone would otherwise separate words.
	default:
		fold, ok := letterFolds[r]
		if !ok {
			b.separate()
			return
		}
		for i := 0; i < len(fold); i++ {
			b.add(fold[i])
		}
	}
}

func (b *baseBuilder) addASCII(c byte) {
	switch {
	case isLower(c) || isDigit(c):
		b.add(c)
	case 'A' <= c && c <= 'Z':
		b.add(c - 'A' + 'a')
	default:
		b.separate()
	}
}

func (b *baseBuilder) separate() {
	if b.n > 0 {
		b.pending = true
	}
}

// add appends c, a lower-case letter or digit. A dash before a digit would
// start a word with a digit, which labels forbid, so the digit joins the
// word before it instead; a digit with no word before it gets "app".
func (b *baseBuilder) add(c byte) {
	if b.full() {
		return
	}

	switch {
	case b.n == 0 && isDigit(c):
		b.n += copy(b.buf[b.n:], "app")
	case b.pending && !isDigit(c):
		b.buf[b.n] = '-'
		b.n++
	}

	b.pending = false
	b.buf[b.n] = c
	b.n++
}

// cut shortens the valid label s to at most limit bytes, keeping whole
// words where at least one fits and cutting the first word otherwise.
// Either way the result is still a valid label, or empty when limit is 0.
func cut(s string, limit int) string {
	if len(s) <= limit {
		return s
	}
	if i := strings.LastIndexByte(s[:limit+1], '-'); i > 0 {
		return s[:i]
	}
	return s[:limit]
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}
