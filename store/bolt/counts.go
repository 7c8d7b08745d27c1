package bolt

import (
	"encoding/binary"
	"fmt"
	"log/slog"
	"time"

	bbolt "go.etcd.io/bbolt"

	"github.com/nsalloc/nsalloc/store"
)

// The file keeps how many records are in each state in its meta bucket, so
// that reading the counts costs the same at a thousand namespaces as at a
// million. Each claim and each retirement notes its change in DB.pending;
// the commit adds the changes of all its writes to the counts, once, in the
// same transaction, and stamps its transaction id next to them.
//
// A program that does not keep the counts (an older nsallocd, bbolt's own
// tools) leaves them stale and the stamp behind the file's last transaction.
// Open notices, counts the records once and stores the result; a file whose
// stamp is current is only read, so that a start still costs no commit.

// Counts returns how many namespaces are active and how many are retired.
// It reads two numbers, whatever the size of the store.
func (s *DB) Counts() (active, retired int64, err error) {
	err = s.view(func(tx *bbolt.Tx) error {
		var err error
		active, retired, err = readCounts(tx.Bucket(bucketMeta))
		return err
	})
	return active, retired, err
}

// countsKept reports whether the file's counts are there and were kept by
// its last transaction. tx must be a read-only transaction, whose id is that
// of the last commit.
func countsKept(tx *bbolt.Tx) bool {
	meta := tx.Bucket(bucketMeta)
	stamp := meta.Get(metaCountedTx)
	if len(stamp) != 8 || binary.BigEndian.Uint64(stamp) != uint64(tx.ID()) {
		return false
	}
	_, _, err := readCounts(meta)
	return err == nil
}

// readCounts reads the counts from the meta bucket.
func readCounts(meta *bbolt.Bucket) (active, retired int64, err error) {
	a, r := meta.Get(metaCountActive), meta.Get(metaCountRetired)
	if len(a) != 8 || len(r) != 8 {
		return 0, 0, fmt.Errorf("%w: the namespace counts are missing", store.ErrCorrupt)
	}
	return int64(binary.BigEndian.Uint64(a)), int64(binary.BigEndian.Uint64(r)), nil
}

// countDelta is a change to the counts.
type countDelta struct {
	active, retired int64
}

// keepCounts adds the changes of a commit's writes to the counts and stamps
// them, as the last step of the commit's transaction.
func (s *DB) keepCounts(tx *bbolt.Tx) error {
	if s.pending != (countDelta{}) {
		if err := addCounts(tx, s.pending.active, s.pending.retired); err != nil {
			return err
		}
	}
	return stampCounts(tx)
}

// addCounts adds to the counts, in a read-write transaction.
func addCounts(tx *bbolt.Tx, active, retired int64) error {
	meta := tx.Bucket(bucketMeta)
	a, r, err := readCounts(meta)
	if err != nil {
		return err
	}
	return writeCounts(meta, a+active, r+retired)
}

// writeCounts stores the counts.
func writeCounts(meta *bbolt.Bucket, active, retired int64) error {
	if err := meta.Put(metaCountActive, uint64Bytes(uint64(active))); err != nil {
		return err
	}
	return meta.Put(metaCountRetired, uint64Bytes(uint64(retired)))
}

// stampCounts marks the counts as kept by tx. Every read-write transaction
// of this package calls it last, so that Open can tell a file another
// program wrote since.
func stampCounts(tx *bbolt.Tx) error {
	return tx.Bucket(bucketMeta).Put(metaCountedTx, uint64Bytes(uint64(tx.ID())))
}

// uint64Bytes encodes n as 8 bytes big-endian, in a slice of its own: bbolt
// keeps the values it is given until the transaction ends.
func uint64Bytes(n uint64) []byte {
	return binary.BigEndian.AppendUint64(make([]byte, 0, 8), n)
}

// recount counts every record and stores the counts, in a read-write
// transaction.
func recount(tx *bbolt.Tx) error {
	active, retired := countRecords(tx.Bucket(bucketNames))
	if err := writeCounts(tx.Bucket(bucketMeta), active, retired); err != nil {
		return err
	}
	return stampCounts(tx)
}

// recountFile counts the records of a file whose counts are missing or
// stale, once, and logs how long it took: a full pass over the records.
func recountFile(bdb *bbolt.DB, logger *slog.Logger) error {
	start := time.Now()
	if err := bdb.Update(recount); err != nil {
		return fmt.Errorf("count the namespaces: %w", err)
	}
	logger.Info("namespaces counted: the file's counts were missing or stale",
		"duration", time.Since(start))
	return nil
}

// countRecords counts records by the state byte of each. A record too short
// to have one, or in an unknown state, is left for Check to report.
func countRecords(names *bbolt.Bucket) (active, retired int64) {
	c := names.Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		if len(v) < 2 {
			continue
		}
		switch store.State(v[1]) {
		case store.StateActive:
			active++
		case store.StateRetired:
			retired++
		}
	}
	return active, retired
}

// checkCounts reports when the stored counts disagree with the records.
func checkCounts(tx *bbolt.Tx) []string {
	storedActive, storedRetired, err := readCounts(tx.Bucket(bucketMeta))
	if err != nil {
		return []string{err.Error()}
	}
	active, retired := countRecords(tx.Bucket(bucketNames))
	if active != storedActive || retired != storedRetired {
		return []string{fmt.Sprintf("counts say %d active and %d retired, records are %d and %d",
			storedActive, storedRetired, active, retired)}
	}
	return nil
}
