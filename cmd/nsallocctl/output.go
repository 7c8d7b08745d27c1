package main

import (
	"encoding/json"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/nsalloc/nsalloc/client"
)

// The JSON documents below are the output scripts read with -o json: their
// field names are stable, snake_case as in the proto, and times are
// RFC 3339 in UTC.

// namespaceJSON is one namespace.
type namespaceJSON struct {
	Name       string     `json:"name"`
	AppID      string     `json:"app_id"`
	AppName    string     `json:"app_name"`
	State      string     `json:"state"` // "active" or "retired"
	CreateTime time.Time  `json:"create_time"`
	RetireTime *time.Time `json:"retire_time,omitempty"`
}

// reserveJSON is the answer of reserve.
type reserveJSON struct {
	Namespace namespaceJSON `json:"namespace"`
	Created   bool          `json:"created"`
}

// previewJSON is the answer of preview.
type previewJSON struct {
	BaseName             string         `json:"base_name"`
	BaseFree             bool           `json:"base_free"`
	Unavailability       string         `json:"unavailability"`
	ConflictingNamespace string         `json:"conflicting_namespace"`
	Namespace            string         `json:"namespace"`
	Existing             *namespaceJSON `json:"existing,omitempty"`
}

// eventJSON is one event of history.
type eventJSON struct {
	Kind      string    `json:"kind"` // "reserved" or "retired"
	Namespace string    `json:"namespace"`
	AppID     string    `json:"app_id"`
	Time      time.Time `json:"time"`
	Caller    string    `json:"caller"`
}

// backupJSON is the answer of backup.
type backupJSON struct {
	File  string `json:"file"`
	Bytes int64  `json:"bytes"`
}

// emit writes v as one JSON document with -o json; otherwise it lets table
// write an aligned table.
func (a *app) emit(v any, table func(w io.Writer)) error {
	if a.g.output == formatJSON {
		enc := json.NewEncoder(a.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	}
	tw := tabwriter.NewWriter(a.stdout, 0, 0, 2, ' ', 0)
	table(tw)
	return tw.Flush()
}

// namespaceOut converts a namespace for JSON.
func namespaceOut(ns client.Namespace) namespaceJSON {
	out := namespaceJSON{
		Name: ns.Name, AppID: ns.AppID, AppName: ns.AppName,
		State: ns.State.String(), CreateTime: ns.CreateTime.UTC(),
	}
	if !ns.RetireTime.IsZero() {
		retired := ns.RetireTime.UTC()
		out.RetireTime = &retired
	}
	return out
}

// namespaceHeader is the header of a table of namespaces.
const namespaceHeader = "NAMESPACE\tAPP ID\tAPP NAME\tSTATE\tCREATED\tRETIRED"

// namespaceRow is one row of a table of namespaces.
func namespaceRow(ns client.Namespace) string {
	return fmt.Sprintf("%s\t%s\t%s\t%s\t%s\t%s", ns.Name, ns.AppID, ns.AppName, ns.State,
		tableTime(ns.CreateTime), tableTime(ns.RetireTime))
}

// tableTime writes a time for a table, to the second; "-" for none.
func tableTime(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}

// unavailabilityOut names why a base name is not free, for JSON: "" when
// it is, else "taken", "reserved", "retired" or "no_usable_characters".
func unavailabilityOut(u client.Unavailability) string {
	switch u {
	case client.UnavailabilityNone:
		return ""
	case client.UnavailabilityNoUsableCharacters:
		return "no_usable_characters"
	default:
		return u.String()
	}
}

// orDash returns s, or "-" when it is empty, for a table cell.
func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
