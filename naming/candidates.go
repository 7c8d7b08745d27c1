package naming

import "fmt"

// Candidates returns, best first, the namespaces an app may be given: the
// base itself unless it is empty, then the base followed by a dash and each
// of the app's tags of 8, 12 and 32 digits (see Tag). With an empty base
// the tagged names start with "app" instead, as in "app-x9423dfaa".
//
// Where a tagged name would be longer than MaxLen, the base is cut to make
// room, at a word boundary where one fits and otherwise inside its first
// word. Every candidate is therefore a valid namespace.
//
// A candidate whose key matches an earlier one's is left out, since it
// could only ever be refused. Tagged names never match each other, as their
// "x" falls at different places from the end, so only a base that happens
// to end in the app's own tag loses a tagged name: the list holds three or
// four names.
//
// base should come from Base; a base that is not a valid namespace is put
// through Base first, and counts as empty when Base finds nothing usable.
// Candidates panics when appID is not an app id that ParseAppID accepts.
func Candidates(base, appID string) []string {
	if base != "" && !IsNamespace(base) {
		base, _ = Base(base)
	}

	id, err := ParseAppID(appID)
	if err != nil {
		panic(fmt.Sprintf("naming.Candidates: app id: %v", err))
	}

	out := make([]string, 0, 1+len(tagDigits))
	if base != "" {
		out = append(out, base)
	}

	stem := base
	if stem == "" {
		stem = "app"
	}
	for _, n := range tagDigits {
		tag := tagOf(id, n)
		out = appendNewKey(out, cut(stem, MaxLen-1-len(tag))+"-"+tag)
	}
	return out
}

// appendNewKey appends name unless a name in list already has its key.
func appendNewKey(list []string, name string) []string {
	key := Key(name)
	for _, have := range list {
		if Key(have) == key {
			return list
		}
	}
	return append(list, name)
}
