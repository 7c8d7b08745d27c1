package etcd

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/nsalloc/nsalloc/store"
)

// Every key lives under the store's prefix. Their names and values are
// declared here, once:
//
//	<prefix>names/<name>  -> the record, as JSON (see recordJSON)
//	<prefix>apps/<app id> -> namespace name
//	<prefix>keys/<key>    -> namespace name
//	<prefix>meta/secret   -> 32 random bytes, written once by whichever
//	                         process opens the store first
//
// Every record appears under names, apps and keys, written in one
// transaction, and never leaves them: a retired record keeps its name, app
// and key.
const (
	dirNames  = "names/"
	dirApps   = "apps/"
	dirKeys   = "keys/"
	keySecret = "meta/secret"
)

// secretLen is the size of the store's secret in bytes.
const secretLen = 32

// recordJSON is how a record is stored: JSON, so that an operator can read
// it with etcdctl. The name is the key it is stored under and is not
// repeated; times are RFC 3339 in UTC with nanoseconds, and RetireTime is
// left out while the record is active.
type recordJSON struct {
	AppID      string     `json:"app_id"`
	AppName    string     `json:"app_name"`
	State      string     `json:"state"`
	CreateTime time.Time  `json:"create_time"`
	RetireTime *time.Time `json:"retire_time,omitempty"`
	CreatedBy  string     `json:"created_by,omitempty"`
	RetiredBy  string     `json:"retired_by,omitempty"`
}

// encodeRecord returns the stored form of r.
func encodeRecord(r store.Record) ([]byte, error) {
	v := recordJSON{
		AppID:      r.AppID,
		AppName:    r.AppName,
		State:      r.State.String(),
		CreateTime: r.CreateTime.UTC(),
		CreatedBy:  r.CreatedBy,
		RetiredBy:  r.RetiredBy,
	}
	if !r.RetireTime.IsZero() {
		t := r.RetireTime.UTC()
		v.RetireTime = &t
	}
	buf, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("encode record %q: %w", r.Name, err)
	}
	return buf, nil
}

// decodeRecord is the inverse of encodeRecord.
func decodeRecord(name string, buf []byte) (store.Record, error) {
	var v recordJSON
	if err := json.Unmarshal(buf, &v); err != nil {
		return store.Record{}, fmt.Errorf("%w: record %q: %w", store.ErrCorrupt, name, err)
	}

	rec := store.Record{
		Name:       name,
		AppID:      v.AppID,
		AppName:    v.AppName,
		CreateTime: v.CreateTime.UTC(),
		CreatedBy:  v.CreatedBy,
		RetiredBy:  v.RetiredBy,
	}
	switch v.State {
	case "active":
		rec.State = store.StateActive
	case "retired":
		rec.State = store.StateRetired
	default:
		return store.Record{}, fmt.Errorf("%w: record %q has state %q",
			store.ErrCorrupt, name, v.State)
	}
	if v.RetireTime != nil {
		rec.RetireTime = v.RetireTime.UTC()
	}
	return rec, nil
}

// canonicalAppID checks that id is a UUID in its 8-4-4-4-12 form and returns
// it in lower case, so that an app has one key whatever the case it is given
// in.
func canonicalAppID(id string) (string, error) {
	if len(id) != 36 {
		return "", fmt.Errorf("app id %q is not a canonical UUID", id)
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		switch {
		case i == 8 || i == 13 || i == 18 || i == 23:
			if c != '-' {
				return "", fmt.Errorf("app id %q is not a canonical UUID", id)
			}
		case '0' <= c && c <= '9', 'a' <= c && c <= 'f', 'A' <= c && c <= 'F':
		default:
			return "", fmt.Errorf("app id %q is not a canonical UUID", id)
		}
	}
	return strings.ToLower(id), nil
}
