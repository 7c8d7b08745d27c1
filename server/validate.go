package server

import (
	"fmt"
	"unicode"
	"unicode/utf8"

	"google.golang.org/genproto/googleapis/rpc/errdetails"

	"github.com/nsalloc/nsalloc/naming"
)

// MaxAppNameBytes is the longest app name accepted, in bytes.
const MaxAppNameBytes = 256

// Page sizes of List.
const (
	// DefaultPageSize is the page size of a List that asks for none.
	DefaultPageSize = 100
	// MaxPageSize is the largest page size List accepts.
	MaxPageSize = 1000
)

// checker collects the problems of one request, so that a caller learns
// about all of them at once.
type checker struct {
	violations []*errdetails.BadRequest_FieldViolation
}

// fail records a problem with field; the description starts with the field
// name, as the client sees it in the status message.
func (c *checker) fail(field, format string, args ...any) {
	c.violations = append(c.violations, &errdetails.BadRequest_FieldViolation{
		Field:       field,
		Description: field + " " + fmt.Sprintf(format, args...),
	})
}

// err returns the problems found, or nil.
func (c *checker) err() error {
	if len(c.violations) == 0 {
		return nil
	}
	return &invalidRequest{violations: c.violations}
}

// appID checks a required app id and returns its canonical form.
func (c *checker) appID(field, value string) string {
	if value == "" {
		c.fail(field, "is required")
		return ""
	}
	id, err := naming.ParseAppID(value)
	if err != nil {
		c.fail(field, "%q: %v", value, err)
		return ""
	}
	return id
}

// optionalAppID checks an app id that may be left empty.
func (c *checker) optionalAppID(field, value string) string {
	if value == "" {
		return ""
	}
	return c.appID(field, value)
}

// appName checks a human app name: present, not too long, valid UTF-8 and
// free of control characters.
func (c *checker) appName(field, value string) {
	switch {
	case value == "":
		c.fail(field, "is required")
	case len(value) > MaxAppNameBytes:
		c.fail(field, "%q: is %d bytes, the limit is %d",
			truncate(value, 40), len(value), MaxAppNameBytes)
	case !utf8.ValidString(value):
		c.fail(field, "%q: is not valid UTF-8", value)
	default:
		for i, r := range value {
			if unicode.IsControl(r) {
				c.fail(field, "%q: has control character %U at byte %d", value, r, i)
				return
			}
		}
	}
}

// namespace checks a namespace name given for a look-up.
func (c *checker) namespace(field, value string) {
	if value == "" {
		c.fail(field, "is required")
		return
	}
	if err := naming.ValidateNamespace(value); err != nil {
		c.fail(field, "%q: not a valid namespace: %v", truncate(value, 80), err)
	}
}

// prefix checks a List prefix: the start of some namespace.
func (c *checker) prefix(field, value string) {
	if len(value) > naming.MaxLen {
		c.fail(field, "%q: is %d bytes, no namespace is longer than %d",
			truncate(value, 80), len(value), naming.MaxLen)
		return
	}
	for i := 0; i < len(value); i++ {
		b := value[i]
		if (b < 'a' || b > 'z') && (b < '0' || b > '9') && b != '-' {
			c.fail(field, "%q: has %q at byte %d; namespaces hold only a-z, 0-9 and '-'",
				value, b, i)
			return
		}
	}
}

// pageSize checks a List page size and applies the default.
func (c *checker) pageSize(field string, value int32) int {
	switch {
	case value == 0:
		return DefaultPageSize
	case value < 0 || value > MaxPageSize:
		c.fail(field, "%d: must be between 1 and %d (0 means %d)",
			value, MaxPageSize, DefaultPageSize)
		return 0
	default:
		return int(value)
	}
}

// truncate shortens long values quoted in messages.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
