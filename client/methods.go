package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"iter"
	"math"

	nsallocv1 "github.com/nsalloc/nsalloc/proto/nsalloc/v1"
)

// listPageSize is how many namespaces List asks for at a time: the most the
// server returns.
const listPageSize = 1000

// ReserveOption changes what Reserve asks for.
type ReserveOption func(*reserveOptions)

// reserveOptions is what the options of one Reserve set.
type reserveOptions struct {
	exact bool
}

// Exact asks Reserve for the base name derived from the app name and
// nothing else: when it is taken, retired or reserved, Reserve fails with
// ErrTaken instead of adding a tag from the app id.
func Exact() ReserveOption {
	return func(o *reserveOptions) { o.exact = true }
}

// ResolveOption changes what ResolveApp and ResolveName accept.
type ResolveOption func(*resolveOptions)

// resolveOptions is what the options of one look-up set.
type resolveOptions struct {
	includeRetired bool
}

// IncludeRetired makes a look-up return a retired namespace instead of
// failing with ErrRetired.
func IncludeRetired() ResolveOption {
	return func(o *resolveOptions) { o.includeRetired = true }
}

// Reserve gives an app its namespace, derived from appName, and reports
// whether this call created it. It is idempotent by appID: an app that has
// a namespace gets it back, whatever name it sends, with created false. So
// created is also false when an attempt created the namespace but its
// answer was lost and the retry found it. The answer comes only once the
// reservation is durable.
//
// Errors: ErrInvalid for a bad app id or name, ErrTaken with Exact when the
// base name cannot be had, ErrRetired when the app was released.
func (c *Client) Reserve(
	ctx context.Context, appID, appName string, opts ...ReserveOption,
) (ns Namespace, created bool, err error) {
	var o reserveOptions
	for _, opt := range opts {
		if opt != nil {
			opt(&o)
		}
	}
	req := &nsallocv1.ReserveRequest{AppId: appID, AppName: appName, Exact: o.exact}

	var resp *nsallocv1.ReserveResponse
	err = c.invoke(ctx, c.timeout, func(ctx context.Context) (err error) {
		resp, err = c.rpc.Reserve(ctx, req)
		return err
	})
	if err != nil {
		return Namespace{}, false, err
	}
	return namespaceOf(resp.GetNamespace()), resp.GetCreated(), nil
}

// ResolveApp returns the namespace of an app. Errors: ErrNotFound when the
// app has none, ErrRetired when it was released (unless IncludeRetired),
// ErrInvalid when appID is not a UUID.
func (c *Client) ResolveApp(
	ctx context.Context, appID string, opts ...ResolveOption,
) (Namespace, error) {
	req := &nsallocv1.ResolveRequest{Key: &nsallocv1.ResolveRequest_AppId{AppId: appID}}
	return c.resolve(ctx, req, opts)
}

// ResolveName returns the namespace of the given name, exactly as it was
// handed out. Errors: ErrNotFound when no namespace has that name,
// ErrRetired when it is retired (unless IncludeRetired), ErrInvalid when
// name is not a valid namespace.
func (c *Client) ResolveName(
	ctx context.Context, name string, opts ...ResolveOption,
) (Namespace, error) {
	req := &nsallocv1.ResolveRequest{Key: &nsallocv1.ResolveRequest_Namespace{Namespace: name}}
	return c.resolve(ctx, req, opts)
}

// resolve runs one look-up.
func (c *Client) resolve(
	ctx context.Context, req *nsallocv1.ResolveRequest, opts []ResolveOption,
) (Namespace, error) {
	var o resolveOptions
	for _, opt := range opts {
		if opt != nil {
			opt(&o)
		}
	}
	req.IncludeRetired = o.includeRetired

	var resp *nsallocv1.ResolveResponse
	err := c.invoke(ctx, c.timeout, func(ctx context.Context) (err error) {
		resp, err = c.rpc.Resolve(ctx, req)
		return err
	})
	if err != nil {
		return Namespace{}, err
	}
	return namespaceOf(resp.GetNamespace()), nil
}

// Release retires the namespace of a deleted app and returns it. The name
// stays taken for ever. Releasing a released app returns its namespace
// again. Errors: ErrNotFound when the app has no namespace.
func (c *Client) Release(ctx context.Context, appID string) (Namespace, error) {
	req := &nsallocv1.ReleaseRequest{AppId: appID}

	var resp *nsallocv1.ReleaseResponse
	err := c.invoke(ctx, c.timeout, func(ctx context.Context) (err error) {
		resp, err = c.rpc.Release(ctx, req)
		return err
	})
	if err != nil {
		return Namespace{}, err
	}
	return namespaceOf(resp.GetNamespace()), nil
}

// List returns every namespace whose name starts with prefix (all of them
// for ""), ordered by name, asking for one page at a time as the loop goes
// on. Each page is one call with its own retries and, when ctx has no
// deadline, its own default deadline. After an error, which is yielded
// with the zero Namespace, the sequence ends.
//
//	for ns, err := range c.List(ctx, "math") {
//		if err != nil {
//			return err
//		}
//		fmt.Println(ns.Name)
//	}
func (c *Client) List(ctx context.Context, prefix string) iter.Seq2[Namespace, error] {
	return func(yield func(Namespace, error) bool) {
		token := ""
		for {
			page, err := c.ListPage(ctx, prefix, token, listPageSize)
			if err != nil {
				yield(Namespace{}, err)
				return
			}
			for _, ns := range page.Namespaces {
				if !yield(ns, nil) {
					return
				}
			}
			if page.NextPageToken == "" {
				return
			}
			token = page.NextPageToken
		}
	}
}

// ListPage returns one page of at most pageSize namespaces (0 means 100;
// the server accepts up to 1000) whose name starts with prefix, after
// pageToken: "" for the first page, else the NextPageToken of the page
// before, listed with the same prefix. Errors: ErrInvalid for a page size,
// prefix or token the server refuses.
func (c *Client) ListPage(
	ctx context.Context, prefix, pageToken string, pageSize int,
) (Page, error) {
	// An out-of-range size is clamped rather than wrapped around, so that
	// the server refuses it instead of serving another size.
	size := int32(max(min(pageSize, math.MaxInt32), math.MinInt32))
	req := &nsallocv1.ListRequest{Prefix: prefix, PageToken: pageToken, PageSize: size}

	var resp *nsallocv1.ListResponse
	err := c.invoke(ctx, c.timeout, func(ctx context.Context) (err error) {
		resp, err = c.rpc.List(ctx, req)
		return err
	})
	if err != nil {
		return Page{}, err
	}

	page := Page{
		Namespaces:    make([]Namespace, len(resp.GetNamespaces())),
		NextPageToken: resp.GetNextPageToken(),
	}
	for i, ns := range resp.GetNamespaces() {
		page.Namespaces[i] = namespaceOf(ns)
	}
	return page, nil
}

// Preview tells what Reserve would answer now for appName, without writing
// anything. appID may be empty; when set, the preview also says which
// namespace that app would get, and its existing one. Errors: ErrInvalid
// for a bad app name or id.
func (c *Client) Preview(ctx context.Context, appName, appID string) (Preview, error) {
	req := &nsallocv1.PreviewRequest{AppName: appName, AppId: appID}

	var resp *nsallocv1.PreviewResponse
	err := c.invoke(ctx, c.timeout, func(ctx context.Context) (err error) {
		resp, err = c.rpc.Preview(ctx, req)
		return err
	})
	if err != nil {
		return Preview{}, err
	}
	return previewOf(resp), nil
}

// History returns every change of a namespace, oldest first: its
// reservation and, once its app was released, its retirement. Errors:
// ErrNotFound when no namespace has that name, ErrInvalid when namespace is
// not a valid one.
func (c *Client) History(ctx context.Context, namespace string) ([]Event, error) {
	req := &nsallocv1.HistoryRequest{Namespace: namespace}

	var resp *nsallocv1.HistoryResponse
	err := c.invoke(ctx, c.timeout, func(ctx context.Context) (err error) {
		resp, err = c.rpc.History(ctx, req)
		return err
	})
	if err != nil {
		return nil, err
	}

	events := make([]Event, len(resp.GetEvents()))
	for i, e := range resp.GetEvents() {
		events[i] = eventOf(e)
	}
	return events, nil
}

// Backup writes a consistent snapshot of the server's database to w, in
// order, and returns how many bytes it wrote. The bytes form a bbolt file
// that nsallocd serves when given it as --db. The server keeps serving
// while it is taken.
//
// While nothing was written to w, an unavailable server makes Backup start
// over; once bytes were written, an error ends it, and the caller should
// discard what w got. When ctx has no deadline, the whole copy gets
// DefaultBackupTimeout. An error of w is returned wrapped, as it is.
func (c *Client) Backup(ctx context.Context, w io.Writer) (int64, error) {
	var written int64
	err := c.invoke(ctx, DefaultBackupTimeout, func(ctx context.Context) error {
		// Ending the context ends the stream when a write fails.
		ctx, cancel := context.WithCancel(ctx)
		defer cancel()

		stream, err := c.rpc.Backup(ctx, &nsallocv1.BackupRequest{})
		if err != nil {
			return err
		}
		for {
			chunk, err := stream.Recv()
			if errors.Is(err, io.EOF) {
				return nil
			}
			if err != nil && written > 0 {
				return final(fromStatus(err))
			}
			if err != nil {
				return err
			}

			n, err := w.Write(chunk.GetData())
			written += int64(n)
			if err == nil && n < len(chunk.GetData()) {
				err = io.ErrShortWrite
			}
			if err != nil {
				return final(fmt.Errorf("nsalloc: backup: write: %w", err))
			}
		}
	})
	return written, err
}
