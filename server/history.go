package server

import (
	"context"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	nsallocv1 "github.com/nsalloc/nsalloc/proto/nsalloc/v1"
	"github.com/nsalloc/nsalloc/store"
)

// backupChunkSize is the most snapshot bytes one BackupResponse carries.
const backupChunkSize = 64 << 10

// History lists a namespace's changes, oldest first.
func (s *Service) History(
	ctx context.Context, req *nsallocv1.HistoryRequest,
) (*nsallocv1.HistoryResponse, error) {
	var c checker
	c.namespace("namespace", req.GetNamespace())
	if err := c.err(); err != nil {
		return nil, s.status(ctx, err)
	}

	rec, err := s.store.ByName(ctx, req.GetNamespace())

	if err != nil {
		return nil, s.status(ctx, explainLookup(err, "", req.GetNamespace()))
	}

	// A record changes twice at most: its times and callers are the whole
	// history.
	events := []*nsallocv1.Event{
		event(rec, nsallocv1.EventKind_EVENT_KIND_RESERVED, rec.CreateTime, rec.CreatedBy),
	}
	if rec.State == store.StateRetired {
		events = append(events,
			event(rec, nsallocv1.EventKind_EVENT_KIND_RETIRED, rec.RetireTime, rec.RetiredBy))
	}
	return &nsallocv1.HistoryResponse{Events: events}, nil
}

// event builds one event of rec's history.
func event(rec store.Record, kind nsallocv1.EventKind, t time.Time, caller string,
) *nsallocv1.Event {
	if caller == "" {
		caller = UnknownCaller
	}
	return &nsallocv1.Event{
		Kind: kind, Namespace: rec.Name, AppId: rec.AppID, Time: timestamppb.New(t),
		Caller: caller,
	}
}

// Backup streams a consistent snapshot of the store.
func (s *Service) Backup(
	req *nsallocv1.BackupRequest, stream nsallocv1.NamespaceService_BackupServer,
) error {
	ctx := stream.Context()
	w := &chunkWriter{send: stream.Send, buf: make([]byte, 0, backupChunkSize)}

	start := time.Now()
	n, err := s.store.Backup(ctx, w)
	if err == nil {
		err = w.flush()
	}

	if err != nil {
		return s.status(ctx, err)
	}
	s.log.InfoContext(ctx, "backup sent", "bytes", n, "caller", CallerFrom(ctx),
		"duration", time.Since(start))
	return nil
}

// chunkWriter cuts what is written to it into BackupResponses of at most
// backupChunkSize bytes.
type chunkWriter struct {
	send func(*nsallocv1.BackupResponse) error
	buf  []byte
}

// Write buffers p, sending every full chunk.
func (w *chunkWriter) Write(p []byte) (int, error) {
	written := 0
	for len(p) > 0 {
		n := min(len(p), cap(w.buf)-len(w.buf))
		w.buf = append(w.buf, p[:n]...)
		p = p[n:]
		written += n
		if len(w.buf) == cap(w.buf) {
			if err := w.flush(); err != nil {
				return written, err
			}
		}
	}
	return written, nil
}

// flush sends what is buffered, if anything.
func (w *chunkWriter) flush() error {
	if len(w.buf) == 0 {
		return nil
	}
	// A sent message must not change afterwards (stats handlers may read it
	// late), so each chunk gets a buffer of its own.
	err := w.send(&nsallocv1.BackupResponse{Data: w.buf})
	w.buf = make([]byte, 0, backupChunkSize)
	return err
}
