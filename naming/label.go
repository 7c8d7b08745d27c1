package naming

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// MaxLen is the longest namespace, in bytes.
const MaxLen = 63

// ValidateLabel reports whether s obeys the label rule: dash-separated
// words, each a lower-case ASCII letter followed by lower-case letters and
// digits. It sets no length limit. The error says what is wrong.
func ValidateLabel(s string) error {
	if s == "" {
		return errors.New("empty label")
	}

	for start := 0; start <= len(s); {
		end := strings.IndexByte(s[start:], '-')
		if end < 0 {
			end = len(s)
		} else {
			end += start
		}
		if err := checkWord(s, start, end); err != nil {
			return err
		}
		start = end + 1
	}
	return nil
}

// checkWord checks the word s[start:end]; it takes the whole label so that
// errors can give offsets into it.
func checkWord(s string, start, end int) error {
	word := s[start:end]
	if word == "" {
		return emptyWordError(s, start)
	}

	switch c := word[0]; {
	case isDigit(c):
		return fmt.Errorf("word %q starts with a digit, want a lower-case letter", word)
	case !isLower(c):
		return fmt.Errorf("word %q starts with %s, want a lower-case letter",
			word, describeAt(s, start))
	}

	for i := 1; i < len(word); i++ {
		if c := word[i]; !isLower(c) && !isDigit(c) {
			return charError(s, start+i)
		}
	}
	return nil
}

func charError(s string, i int) error {
	return fmt.Errorf("character %s at offset %d is not allowed, want a-z, 0-9 or '-'",
		describeAt(s, i), i)
}

func emptyWordError(s string, start int) error {
	switch {
	case start == 0:
		return errors.New("empty word: label starts with '-'")
	case start == len(s):
		return errors.New("empty word: label ends with '-'")
	default:
		return fmt.Errorf("empty word: \"--\" at offset %d", start-1)
	}
}

// describeAt quotes the character at s[i]; a byte that is not valid UTF-8
// is shown in hexadecimal, since quoting it would only show U+FFFD.
func describeAt(s string, i int) string {
	r, size := utf8.DecodeRuneInString(s[i:])
	if r == utf8.RuneError && size <= 1 {
		return fmt.Sprintf("byte 0x%02x", s[i])
	}
	return fmt.Sprintf("%q", r)
}

// ValidateNamespace reports whether s is a valid namespace: a label of at
// most MaxLen bytes. The error says what is wrong.
func ValidateNamespace(s string) error {
	if err := ValidateLabel(s); err != nil {
		return err
	}
	if len(s) > MaxLen {
		return fmt.Errorf("%d bytes long, want at most %d", len(s), MaxLen)
	}
	return nil
}

// IsNamespace reports whether s is a valid namespace. It gives the same
// answer as ValidateNamespace without building an error.
func IsNamespace(s string) bool {
	if len(s) == 0 || len(s) > MaxLen {
		return false
	}

	wordStart := true
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case isLower(c):
			wordStart = false
		case isDigit(c):
			if wordStart {
				return false
			}
		case c == '-':
			if wordStart {
				return false
			}
			wordStart = true
		default:
			return false
		}
	}
	return !wordStart
}

// Key returns the uniqueness key of a namespace: the namespace with its
// dashes removed, so that "my-app" and "myapp" share the key "myapp". Key
// does not check that namespace is valid.
func Key(namespace string) string {
	// ReplaceAll returns namespace itself, without copying, when it has no
	// dash.
	return strings.ReplaceAll(namespace, "-", "")
}

func isLower(c byte) bool { return 'a' <= c && c <= 'z' }

func isDigit(c byte) bool { return '0' <= c && c <= '9' }
