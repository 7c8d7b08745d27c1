package naming

import (
	"errors"
	"fmt"
	"strings"
)

const (
	// appIDLen is the length of a UUID written 8-4-4-4-12.
	appIDLen = 36

	// appIDHexLen is the number of hexadecimal digits in a UUID.
	appIDHexLen = 32

	nilAppID = "00000000-0000-0000-0000-000000000000"
)

// tagDigits are the tag lengths, in hexadecimal digits, that Candidates
// tries in order: short enough to read, long enough that a clash is rare,
// and finally the whole id, which no other app has.
var tagDigits = [...]int{8, 12, 32}

// ParseAppID checks an app id and returns its canonical form. An app id is
// a UUID written as 8-4-4-4-12 hexadecimal digits, in upper or lower case;
// the canonical form is lower-case. Other spellings of a UUID (braces, a
// "urn:uuid:" prefix, no dashes) are rejected, and so is the nil UUID. The
// error says what is wrong without repeating s, which the caller is
// expected to name.
func ParseAppID(s string) (string, error) {
	if err := checkUUIDShape(s); err != nil {
		return "", err
	}

	id := s
	if hasUpper(s) {
		id = strings.ToLower(s)
	}

	if id == nilAppID {
		return "", errors.New("the nil UUID is not an app id")
	}
	return id, nil
}

func checkUUIDShape(s string) error {
	if len(s) != appIDLen {
		return uuidError(describeUUIDLength(s))
	}

	for i := 0; i < len(s); i++ {
		dash := isDashOffset(i)
		if dash && s[i] != '-' || !dash && !isHex(s[i]) {
			return uuidCharError(s, i, dash)
		}
	}
	return nil
}

func uuidCharError(s string, i int, wantDash bool) error {
	if wantDash {
		return uuidError(fmt.Sprintf("%s at offset %d, want '-'", describeAt(s, i), i))
	}
	return uuidError(fmt.Sprintf("%s at offset %d is not a hexadecimal digit",
		describeAt(s, i), i))
}

// describeUUIDLength explains a wrong length, naming the usual other
// spellings of a UUID so that the fix is obvious.
func describeUUIDLength(s string) string {
	switch {
	case s == "":
		return "empty"
	case strings.TrimSpace(s) != s:
		return "surrounding white space"
	case strings.HasPrefix(s, "{"):
		return "braces are not allowed"
	case len(s) >= 4 && strings.EqualFold(s[:4], "urn:"):
		return "a urn: prefix is not allowed"
	case len(s) == appIDHexLen && allHex(s):
		return "dashes missing"
	default:
		return fmt.Sprintf("%d characters long", len(s))
	}
}

func uuidError(why string) error {
	return fmt.Errorf("not a UUID: %s (want 8-4-4-4-12 hexadecimal digits)", why)
}

func isDashOffset(i int) bool { return i == 8 || i == 13 || i == 18 || i == 23 }

func isHex(c byte) bool {
	return isDigit(c) || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func allHex(s string) bool {
	for i := 0; i < len(s); i++ {
		if !isHex(s[i]) {
			return false
		}
	}
	return true
}

func hasUpper(s string) bool {
	for i := 0; i < len(s); i++ {
		if 'A' <= s[i] && s[i] <= 'Z' {
			return true
		}
	}
	return false
}

// Tag returns the tag of length n of an app id: "x" followed by the first
// n hexadecimal digits of the id, dashes left out, in lower case. The "x"
// keeps the tag a valid word when the id starts with a digit. Tag accepts
// any app id that ParseAppID accepts. It panics when appID is not an app
// id or n is outside 1 to 32, as both are mistakes of the caller.
func Tag(appID string, n int) string {
	id, err := ParseAppID(appID)
	if err != nil {
		panic(fmt.Sprintf("naming.Tag: app id: %v", err))
	}
	if n < 1 || n > appIDHexLen {
		panic(fmt.Sprintf("naming.Tag: %d digits, want 1 to %d", n, appIDHexLen))
	}
	return tagOf(id, n)
}

// tagOf is Tag for an id already in canonical form and n already checked.
func tagOf(id string, n int) string {
	tag := make([]byte, 0, 1+n)
	tag = append(tag, 'x')
	for i := 0; len(tag) <= n; i++ {
		if id[i] != '-' {
			tag = append(tag, id[i])
		}
	}
	return string(tag)
}
