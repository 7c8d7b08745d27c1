package client

import (
	"errors"
	"fmt"
	"strings"

	"github.com/nsalloc/nsalloc/naming"
)

// maxTagLen is the longest OCI tag; a package's version becomes its tag.
const maxTagLen = 128

// PackageRef returns the package reference "<namespace>:<component>@<version>"
// that `spin deps publish` takes, once each part passes its check:
//
//   - namespace must be a valid namespace, as the service hands out
//     (naming.ValidateNamespace);
//   - component must obey the same label rule, without its length limit:
//     dash-separated words of lower-case ASCII letters and digits, each
//     starting with a letter (naming.ValidateLabel);
//   - version must be a semantic version 2.0.0, MAJOR.MINOR.PATCH with an
//     optional pre-release such as 1.0.0-rc.1, without build metadata and
//     at most 128 characters long: the registry stores the version as an
//     OCI tag, which holds neither a '+' nor more characters.
//
// A refusal matches ErrInvalid and says which part is wrong and why.
func PackageRef(namespace, component, version string) (string, error) {
	if err := naming.ValidateNamespace(namespace); err != nil {
		return "", &partError{part: "namespace", value: namespace, err: err}
	}
	if err := naming.ValidateLabel(component); err != nil {
		return "", &partError{part: "component", value: component, err: err}
	}
	if err := checkVersion(version); err != nil {
		return "", &partError{part: "version", value: version, err: err}
	}
	return namespace + ":" + component + "@" + version, nil
}

// partError is PackageRef's refusal of one part.
type partError struct {
	part, value string
	err         error
}

// Error names the part, quotes its value and says what is wrong.
func (e *partError) Error() string {
	return fmt.Sprintf("nsalloc: package %s %q: %v", e.part, e.value, e.err)
}

// Unwrap returns ErrInvalid and the cause.
func (e *partError) Unwrap() []error { return []error{ErrInvalid, e.err} }

// checkVersion reports whether v is a semantic version 2.0.0 without build
// metadata that fits in an OCI tag.
//
// The grammar, from semver.org: a version core of three numeric
// identifiers MAJOR.MINOR.PATCH, then optionally '-' and a pre-release of
// dot-separated identifiers made of [0-9A-Za-z-]. A numeric identifier, in
// the core or the pre-release, has no leading zero.
func checkVersion(v string) error {
	switch {
	case v == "":
		return errors.New("empty, want MAJOR.MINOR.PATCH such as 1.0.0")
	case strings.Contains(v, "+"):
		_, build, _ := strings.Cut(v, "+")
		return fmt.Errorf("has build metadata %q: an OCI tag cannot hold '+'", "+"+build)
	case v[0] == 'v' || v[0] == 'V':
		return fmt.Errorf("starts with %q, want MAJOR.MINOR.PATCH without a prefix, "+
			"such as 1.0.0", v[:1])
	case len(v) > maxTagLen:
		return fmt.Errorf("%d characters long, want at most %d: the version becomes an OCI tag",
			len(v), maxTagLen)
	}

	core, pre, hasPre := strings.Cut(v, "-")
	numbers := strings.Split(core, ".")
	if len(numbers) != 3 {
		return fmt.Errorf("version core %q has %d dot-separated numbers, "+
			"want 3: MAJOR.MINOR.PATCH", core, len(numbers))
	}
	for i, name := range []string{"MAJOR", "MINOR", "PATCH"} {
		if err := checkNumber(name, numbers[i]); err != nil {
			return err
		}
	}

	if hasPre {
		return checkPrerelease(pre)
	}
	return nil
}

// checkNumber checks one number of the version core.
func checkNumber(name, s string) error {
	switch {
	case s == "":
		return fmt.Errorf("%s is empty, want a number", name)
	case !allDigits(s):
		return fmt.Errorf("%s %q is not a number", name, s)
	case len(s) > 1 && s[0] == '0':
		return fmt.Errorf("%s %q has a leading zero", name, s)
	}
	return nil
}

// checkPrerelease checks the pre-release, the part after the first '-'.
func checkPrerelease(pre string) error {
	if pre == "" {
		return errors.New("empty pre-release after '-'")
	}

	for _, id := range strings.Split(pre, ".") {
		if id == "" {
			return fmt.Errorf("pre-release %q has an empty identifier", pre)
		}
		for _, r := range id {
			if !isIdentChar(r) {
				return fmt.Errorf("pre-release identifier %q has %q, "+
					"want 0-9, A-Z, a-z or '-'", id, r)
			}
		}
		if len(id) > 1 && id[0] == '0' && allDigits(id) {
			return fmt.Errorf("pre-release identifier %q is a number with a leading zero", id)
		}
	}
	return nil
}

// isIdentChar reports whether r may appear in a pre-release identifier.
func isIdentChar(r rune) bool {
	return '0' <= r && r <= '9' || 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || r == '-'
}

// allDigits reports whether s is made of ASCII digits only.
func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
