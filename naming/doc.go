// Package naming holds the rules for nsalloc namespaces: what a valid
// namespace looks like, how one is derived from an app's human name, and
// which namespaces an app may be given.
//
// # Labels
//
// A namespace is the first half of a WebAssembly package reference
// <namespace>:<component>@<version>, so it must be a label that
// wasm-pkg-tools accepts: words joined by single dashes, each word starting
// with a lower-case ASCII letter followed by lower-case letters and digits,
// as in the pattern ^[a-z][a-z0-9]*(-[a-z][a-z0-9]*)*$. A namespace is also
// at most MaxLen bytes long. "math-x9423dfaa" is a namespace;
// "math-9423dfaa" is not, because its second word starts with a digit.
//
// # Deriving a base
//
// Base turns an app name into its preferred namespace:
//
//  1. fold to ASCII: compatibility decomposition, combining marks dropped,
//     and a small table for letters such as ß, æ and ł that do not
//     decompose; any other non-ASCII character separates words;
//  2. lower-case, turn each run of other characters into one dash and trim
//     dashes at both ends;
//  3. join a word that starts with a digit to the word before it, and put
//     "app" in front of a first word that starts with a digit;
//  4. cut to MaxLen bytes, keeping whole words where possible.
//
// # Keys
//
// Two namespaces that differ only in their dashes, such as "my-app" and
// "myapp", would be easy to confuse, so at most one of them may exist. Key
// removes the dashes; uniqueness is decided on keys, and so is whether a
// name is in a Reserved set.
//
// # Tags
//
// When an app's base is taken or reserved, it gets the base followed by a
// tag drawn from its app id: "x" and the first 8, 12 or 32 hexadecimal
// digits of the id. The "x" keeps the tag a valid word, as a word may not
// start with a digit. Candidates lists the base and the tagged names in
// order of preference.
package naming
