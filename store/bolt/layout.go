package bolt

import (
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/nsalloc/nsalloc/store"
)

// The database holds four buckets. Their names and the layout of their keys
// and values are declared here, once:
//
//	meta   "schema" -> schemaVersion as one byte
//	       "secret" -> 32 random bytes, made when the file is created
//	       "count-active", "count-retired" -> how many records are in each
//	                  state, as 8 bytes big-endian
//	       "counted-tx" -> the id of the last transaction that kept the
//	                  counts, as 8 bytes big-endian (see countsKept)
//	names  namespace name -> encoded record (see encodeRecord)
//	apps   app id as 16 raw bytes -> namespace name
//	keys   uniqueness key -> namespace name
//
// Every record appears in all three of names, apps and keys, and never
// leaves them: a retired record keeps its name, app and key.
var (
	bucketMeta  = []byte("meta")
	bucketNames = []byte("names")
	bucketApps  = []byte("apps")
	bucketKeys  = []byte("keys")

	metaSchema = []byte("schema")
	metaSecret = []byte("secret")

	metaCountActive  = []byte("count-active")
	metaCountRetired = []byte("count-retired")
	metaCountedTx    = []byte("counted-tx")
)

// schemaVersion is the layout this package reads and writes.
const schemaVersion = 1

// Record formats: the first byte of an encoded record, so that the encoding
// can change without a new schema version. Format 1 records, written before
// callers were kept, are still read; every write uses recordFormat.
const (
	recordFormatNoCallers = 1
	recordFormat          = 2
)

// appIDLen is the length of an app id as raw bytes.
const appIDLen = 16

// encodeRecord lays a record out as
//
//	format(1) state(1) app id(16) create time(varint ns)
//	retire time(varint ns, 0 when unset)
//	created by (uvarint length, bytes) retired by (uvarint length, bytes)
//	app name(rest)
//
// Format 1 lacks the two callers. The record's name is the key it is stored
// under, so it is not repeated.
func encodeRecord(r store.Record) ([]byte, error) {
	id, err := appIDBytes(r.AppID)
	if err != nil {
		return nil, err
	}

	size := 2 + appIDLen + 4*binary.MaxVarintLen64 + len(r.CreatedBy) + len(r.RetiredBy) +
		len(r.AppName)
	buf := make([]byte, 0, size)
	buf = append(buf, recordFormat, byte(r.State))
	buf = append(buf, id...)
	buf = binary.AppendVarint(buf, unixNanos(r.CreateTime))
	buf = binary.AppendVarint(buf, unixNanos(r.RetireTime))
	buf = appendString(buf, r.CreatedBy)
	buf = appendString(buf, r.RetiredBy)
	buf = append(buf, r.AppName...)
	return buf, nil
}

// appendString appends s with its length in front.
func appendString(buf []byte, s string) []byte {
	buf = binary.AppendUvarint(buf, uint64(len(s)))
	return append(buf, s...)
}

// decodeRecord is the inverse of encodeRecord, for both formats.
func decodeRecord(name, buf []byte) (store.Record, error) {
	bad := func(what string) (store.Record, error) {
		return store.Record{}, fmt.Errorf("%w: record %q has %s", store.ErrCorrupt, name, what)
	}
	if len(buf) < 2+appIDLen || (buf[0] != recordFormat && buf[0] != recordFormatNoCallers) {
		return bad("a bad header")
	}

	rec := store.Record{
		Name:  string(name),
		State: store.State(buf[1]),
		AppID: appIDString(buf[2 : 2+appIDLen]),
	}
	if rec.State != store.StateActive && rec.State != store.StateRetired {
		return bad(fmt.Sprintf("state %d", buf[1]))
	}

	rest := buf[2+appIDLen:]
	created, n := binary.Varint(rest)
	if n <= 0 {
		return bad("a bad create time")
	}
	rest = rest[n:]
	retired, n := binary.Varint(rest)
	if n <= 0 {
		return bad("a bad retire time")
	}
	rest = rest[n:]
	rec.CreateTime = fromUnixNanos(created)
	rec.RetireTime = fromUnixNanos(retired)

	if buf[0] == recordFormat {
		var ok bool
		if rec.CreatedBy, rest, ok = cutString(rest); !ok {
			return bad("a bad creating caller")
		}
		if rec.RetiredBy, rest, ok = cutString(rest); !ok {
			return bad("a bad retiring caller")
		}
	}
	rec.AppName = string(rest)
	return rec, nil
}

// cutString reads a string that appendString wrote and returns the rest.
func cutString(buf []byte) (string, []byte, bool) {
	size, n := binary.Uvarint(buf)
	if n <= 0 || size > uint64(len(buf)-n) {
		return "", nil, false
	}
	end := n + int(size)
	return string(buf[n:end]), buf[end:], true
}

// appIDBytes turns a canonical UUID string into its 16 bytes.
func appIDBytes(id string) ([]byte, error) {
	if len(id) != 36 || id[8] != '-' || id[13] != '-' || id[18] != '-' || id[23] != '-' {
		return nil, fmt.Errorf("app id %q is not a canonical UUID", id)
	}

	hexDigits := id[0:8] + id[9:13] + id[14:18] + id[19:23] + id[24:36]
	out := make([]byte, appIDLen)
	if _, err := hex.Decode(out, []byte(hexDigits)); err != nil {
		return nil, fmt.Errorf("app id %q is not a canonical UUID: %w", id, err)
	}
	return out, nil
}

// appIDString turns 16 bytes back into the canonical lower-case UUID.
func appIDString(b []byte) string {
	h := hex.EncodeToString(b)
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

// unixNanos returns t in nanoseconds since the epoch, or 0 for the zero time.
func unixNanos(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

// fromUnixNanos is the inverse of unixNanos; times come back in UTC.
func fromUnixNanos(ns int64) time.Time {
	if ns == 0 {
		return time.Time{}
	}
	return time.Unix(0, ns).UTC()
}
