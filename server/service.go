// Package server implements nsalloc.v1.NamespaceService over a store.Store,
// and the gRPC server that carries it with health checks, reflection,
// logging and panic recovery.
//
// Each handler reads as four steps: check the request, call the store, map
// the error, build the response. Every error leaves through toStatus, the one
// place that chooses a gRPC code.
package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/nsalloc/nsalloc/naming"
	nsallocv1 "github.com/nsalloc/nsalloc/proto/nsalloc/v1"
	"github.com/nsalloc/nsalloc/store"
)

// Options configures a Service. Store is required; the zero value of every
// other field means its default.
type Options struct {
	// Store keeps the namespaces.
	Store store.Store

	// Reserved lists the names no app may get; nil means the built-in list.
	Reserved *naming.Reserved

	// Logger receives the service's log lines; nil discards them.
	Logger *slog.Logger

	// Now tells the time stored in records; nil means time.Now.
	Now func() time.Time

	// Observer is told how calls were answered, for metrics; nil means
	// none.
	Observer Observer
}

// Service implements nsallocv1.NamespaceServiceServer.
type Service struct {
	// The service embeds the Unsafe marker instead of the Unimplemented
	// server: a method added to the proto must be implemented here before
	// the build passes, rather than answer UNIMPLEMENTED in production.
	nsallocv1.UnsafeNamespaceServiceServer

	store    store.Store
	reserved *naming.Reserved
	log      *slog.Logger
	now      func() time.Time
	tokens   pageTokens
	observer Observer
}

var _ nsallocv1.NamespaceServiceServer = (*Service)(nil)

// NewService returns a Service over opts.Store.
func NewService(ctx context.Context, opts Options) (*Service, error) {
	if opts.Store == nil {
		return nil, errors.New("server: Options.Store is nil")
	}

	s := &Service{store: opts.Store, reserved: opts.Reserved, log: opts.Logger, now: opts.Now}
	if s.reserved == nil {
		reserved, err := naming.NewReserved()
		if err != nil {
			return nil, fmt.Errorf("server: built-in reserved names: %w", err)
		}
		s.reserved = reserved
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.now == nil {
		s.now = time.Now
	}
	s.observer = opts.Observer
	if s.observer == nil {
		s.observer = noObserver{}
	}

	secret, err := opts.Store.Secret(ctx)
	if err != nil {
		return nil, fmt.Errorf("server: read the store's secret: %w", err)
	}
	s.tokens = pageTokens{key: secret}
	return s, nil
}

// Reserve gives an app its namespace; see the proto for the contract.
func (s *Service) Reserve(
	ctx context.Context, req *nsallocv1.ReserveRequest,
) (*nsallocv1.ReserveResponse, error) {
	var c checker
	appID := c.appID("app_id", req.GetAppId())
	c.appName("app_name", req.GetAppName())
	if err := c.err(); err != nil {
		return nil, s.status(ctx, err)
	}

	p := s.plan(req.GetAppName(), appID, req.GetExact())
	rec, created, err := s.store.Claim(ctx, store.Claim{
		AppID: appID, AppName: req.GetAppName(), Candidates: p.candidates, Time: s.now(),
		Caller: CallerFrom(ctx),
	})

	if err != nil {
		return nil, s.status(ctx, s.explainClaim(ctx, err, appID, rec, p))
	}

	if created {
		s.log.DebugContext(ctx, "namespace reserved", "namespace", rec.Name, "app_id", rec.AppID)
	}
	s.observer.Reserved(reserveOutcome(rec.Name, created, p))
	return &nsallocv1.ReserveResponse{Namespace: toProto(rec), Created: created}, nil
}

// Resolve looks a namespace up by app id or by name.
func (s *Service) Resolve(
	ctx context.Context, req *nsallocv1.ResolveRequest,
) (*nsallocv1.ResolveResponse, error) {
	var c checker
	var appID string
	switch key := req.GetKey().(type) {
	case *nsallocv1.ResolveRequest_AppId:
		appID = c.appID("app_id", key.AppId)
	case *nsallocv1.ResolveRequest_Namespace:
		c.namespace("namespace", key.Namespace)
	default:
		c.fail("key", "is required: set app_id or namespace")
	}
	if err := c.err(); err != nil {
		return nil, s.status(ctx, err)
	}

	var (
		rec store.Record
		err error
	)
	if appID != "" {
		rec, err = s.store.ByApp(ctx, appID)
	} else {
		rec, err = s.store.ByName(ctx, req.GetNamespace())
	}

	if err != nil {
		return nil, s.status(ctx, explainLookup(err, appID, req.GetNamespace()))
	}
	if rec.State == store.StateRetired && !req.GetIncludeRetired() {
		return nil, s.status(ctx, &refusal{
			cause:  errRetired,
			reason: ReasonNamespaceRetired,
			msg: fmt.Sprintf("namespace %q is retired: app %s was released; "+
				"set include_retired to see it", rec.Name, rec.AppID),
			meta: map[string]string{"namespace": rec.Name, "app_id": rec.AppID},
		})
	}

	return &nsallocv1.ResolveResponse{Namespace: toProto(rec)}, nil
}

// Release retires the namespace of a deleted app.
func (s *Service) Release(
	ctx context.Context, req *nsallocv1.ReleaseRequest,
) (*nsallocv1.ReleaseResponse, error) {
	var c checker
	appID := c.appID("app_id", req.GetAppId())
	if err := c.err(); err != nil {
		return nil, s.status(ctx, err)
	}

	rec, err := s.store.Retire(ctx, appID, s.now(), CallerFrom(ctx))

	if err != nil {
		return nil, s.status(ctx, explainLookup(err, appID, ""))
	}

	s.log.DebugContext(ctx, "namespace retired", "namespace", rec.Name, "app_id", rec.AppID)
	return &nsallocv1.ReleaseResponse{Namespace: toProto(rec)}, nil
}

// List returns one page of namespaces in name order.
func (s *Service) List(
	ctx context.Context, req *nsallocv1.ListRequest,
) (*nsallocv1.ListResponse, error) {
	var c checker
	limit := c.pageSize("page_size", req.GetPageSize())
	c.prefix("prefix", req.GetPrefix())
	after := ""
	if token := req.GetPageToken(); token != "" {
		var err error
		if after, err = s.tokens.parse(token, req.GetPrefix()); err != nil {
			c.fail("page_token", "%q: %v", truncate(token, 40), err)
		}
	}
	if err := c.err(); err != nil {
		return nil, s.status(ctx, err)
	}

	recs, more, err := s.store.List(ctx, store.ListQuery{
		Prefix: req.GetPrefix(), After: after, Limit: limit,
	})

	if err != nil {
		return nil, s.status(ctx, err)
	}

	resp := &nsallocv1.ListResponse{Namespaces: make([]*nsallocv1.Namespace, len(recs))}
	for i, rec := range recs {
		resp.Namespaces[i] = toProto(rec)
	}
	if more {
		resp.NextPageToken = s.tokens.issue(req.GetPrefix(), recs[len(recs)-1].Name)
	}
	return resp, nil
}

// Preview tells what Reserve would answer now, without writing.
func (s *Service) Preview(
	ctx context.Context, req *nsallocv1.PreviewRequest,
) (*nsallocv1.PreviewResponse, error) {
	var c checker
	c.appName("app_name", req.GetAppName())
	appID := c.optionalAppID("app_id", req.GetAppId())
	if err := c.err(); err != nil {
		return nil, s.status(ctx, err)
	}

	p := s.plan(req.GetAppName(), appID, false)
	resp := &nsallocv1.PreviewResponse{BaseName: p.base, Unavailability: p.why}
	if p.why == nsallocv1.Unavailability_UNAVAILABILITY_UNSPECIFIED {
		holder, err := s.store.ByKey(ctx, naming.Key(p.base))
		switch {
		case errors.Is(err, store.ErrNotFound):
			resp.BaseFree = true
		case err != nil:
			return nil, s.status(ctx, err)
		default:
			resp.Unavailability = unavailabilityOf(holder)
			resp.ConflictingNamespace = holder.Name
		}
	}

	if appID != "" {
		if err := s.previewFor(ctx, appID, p, resp); err != nil {
			return nil, s.status(ctx, err)
		}
	}
	return resp, nil
}

// previewFor fills in what Reserve would give appID: its namespace if it has
// an active one, nothing if it was released, else the first free candidate.
func (s *Service) previewFor(
	ctx context.Context, appID string, p plan, resp *nsallocv1.PreviewResponse,
) error {
	existing, err := s.store.ByApp(ctx, appID)
	if err == nil {
		resp.Existing = toProto(existing)
		if existing.State == store.StateActive {
			resp.Namespace = existing.Name
		}
		return nil
	}
	if !errors.Is(err, store.ErrNotFound) {
		return err
	}

	for _, candidate := range p.candidates {
		_, err := s.store.ByKey(ctx, naming.Key(candidate))
		if errors.Is(err, store.ErrNotFound) {
			resp.Namespace = candidate
			return nil
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// plan is what the naming rules make of one request.
type plan struct {
	base       string                   // the derived base name; "" when there is none
	why        nsallocv1.Unavailability // why base cannot be used as it is, before asking the store
	candidates []string                 // the namespaces to try, best first
}

// plan derives the base name and the candidates for an app. With exact, only
// the base name is a candidate. Reserved names are never candidates.
func (s *Service) plan(appName, appID string, exact bool) plan {
	base, ok := naming.Base(appName)
	p := plan{base: base}
	switch {
	case !ok:
		p.why = nsallocv1.Unavailability_UNAVAILABILITY_NO_USABLE_CHARACTERS
	case s.reserved.Contains(base):
		p.why = nsallocv1.Unavailability_UNAVAILABILITY_RESERVED
	}

	if exact {
		if p.why == nsallocv1.Unavailability_UNAVAILABILITY_UNSPECIFIED {
			p.candidates = []string{base}
		}
		return p
	}
	if appID == "" {
		return p
	}
	for _, candidate := range naming.Candidates(base, appID) {
		if !s.reserved.Contains(candidate) {
			p.candidates = append(p.candidates, candidate)
		}
	}
	return p
}

// explainClaim turns a refused claim into words for the caller.
func (s *Service) explainClaim(
	ctx context.Context, err error, appID string, rec store.Record, p plan,
) error {
	switch {
	case errors.Is(err, store.ErrAppRetired):
		return &refusal{
			cause:  err,
			reason: ReasonAppRetired,
			msg: fmt.Sprintf("app_id %q was released; its namespace %q is retired and "+
				"a released app never gets a namespace again", appID, rec.Name),
			meta: map[string]string{"app_id": appID, "namespace": rec.Name},
		}
	case !errors.Is(err, store.ErrNamespaceTaken):
		return err
	}

	switch p.why {
	case nsallocv1.Unavailability_UNAVAILABILITY_NO_USABLE_CHARACTERS:
		var c checker
		c.fail("app_name", "has no characters usable in a namespace, so exact cannot be met")
		return c.err()
	case nsallocv1.Unavailability_UNAVAILABILITY_RESERVED:
		return &refusal{
			cause:  errReserved,
			reason: ReasonNamespaceReserved,
			msg:    fmt.Sprintf("namespace %q is reserved", p.base),
			meta:   map[string]string{"namespace": p.base},
		}
	}

	// Every tagged candidate taken takes a name chosen to collide with them.
	meta := map[string]string{"namespace": p.base}
	if len(p.candidates) > 1 {
		return &refusal{
			cause: err, reason: ReasonNamespaceTaken, meta: meta,
			msg: fmt.Sprintf("namespace %q and all %d tagged forms for app_id %q are taken",
				p.base, len(p.candidates)-1, appID),
		}
	}

	// The base belongs to another app.
	msg := fmt.Sprintf("namespace %q is taken", p.base)
	reason := ReasonNamespaceTaken
	if holder, lookupErr := s.store.ByKey(ctx, naming.Key(p.base)); lookupErr == nil {
		if holder.Name != p.base {
			meta["holder"] = holder.Name
			msg = fmt.Sprintf("namespace %q is taken: %q has the same key", p.base, holder.Name)
		}
		if holder.State == store.StateRetired {
			reason = ReasonNamespaceRetired
			msg += " (retired, never handed out again)"
		}
	}
	return &refusal{cause: err, reason: reason, msg: msg, meta: meta}
}

// status maps err to the status the caller gets. A fault of the server is
// logged with its cause first, since the caller sees only its code.
func (s *Service) status(ctx context.Context, err error) error {
	st := toStatus(err)
	switch codeFor(err) {
	case codes.Internal, codes.DataLoss:
		s.log.ErrorContext(ctx, "call failed inside the server", "error", err)
	}
	return st
}

// explainLookup turns a failed look-up into words for the caller.
func explainLookup(err error, appID, namespace string) error {
	if !errors.Is(err, store.ErrNotFound) {
		return err
	}
	if appID != "" {
		return &refusal{
			cause: err, reason: ReasonAppNotFound,
			msg:  fmt.Sprintf("app_id %q has no namespace", appID),
			meta: map[string]string{"app_id": appID},
		}
	}
	return &refusal{
		cause: err, reason: ReasonNamespaceNotFound,
		msg:  fmt.Sprintf("namespace %q does not exist", namespace),
		meta: map[string]string{"namespace": namespace},
	}
}

// unavailabilityOf tells why a holder's key is not free.
func unavailabilityOf(holder store.Record) nsallocv1.Unavailability {
	if holder.State == store.StateRetired {
		return nsallocv1.Unavailability_UNAVAILABILITY_RETIRED
	}
	return nsallocv1.Unavailability_UNAVAILABILITY_TAKEN
}

// toProto converts a record to its wire form.
func toProto(rec store.Record) *nsallocv1.Namespace {
	ns := &nsallocv1.Namespace{
		Name:       rec.Name,
		AppId:      rec.AppID,
		AppName:    rec.AppName,
		State:      nsallocv1.State_STATE_ACTIVE,
		CreateTime: timestamppb.New(rec.CreateTime),
	}
	if rec.State == store.StateRetired {
		ns.State = nsallocv1.State_STATE_RETIRED
		ns.RetireTime = timestamppb.New(rec.RetireTime)
	}
	return ns
}
