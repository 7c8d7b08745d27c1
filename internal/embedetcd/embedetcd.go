// Package embedetcd runs real etcd servers inside the current process, on
// loopback ports and in caller-provided directories. The benchmark harness
// uses a single member as a reference store; tests of etcd-backed storage
// use three members so that they can lose the leader, or quorum, on demand.
package embedetcd

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"go.etcd.io/etcd/client/pkg/v3/transport"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/server/v3/embed"
	"go.uber.org/zap"
)

const (
	// startTimeout bounds how long Start and RestartMember wait for members
	// to become ready. A fresh three-member cluster under the race detector
	// on two cores needs a few seconds; much longer means it is stuck.
	startTimeout = 30 * time.Second

	// startAttempts is how many times Start picks fresh ports after a port
	// it probed as free was taken by someone else before etcd bound it.
	startAttempts = 3

	// dialTimeout is how long a client from Client waits for its first
	// connection; members on loopback answer within milliseconds unless
	// they are down.
	dialTimeout = 5 * time.Second
)

// member is one etcd server of a Cluster, with what is needed to bring it
// back on the same data directory and addresses.
type member struct {
	name      string
	dir       string
	clientURL url.URL
	peerURL   url.URL
	etcd      *embed.Etcd // nil while stopped
}

// Cluster is a set of etcd members started together by Start. Its methods
// are safe for concurrent use.
type Cluster struct {
	lg             *zap.Logger
	initialCluster string
	token          string
	clientTLS      *ClientTLS // nil when clients speak plaintext

	mu      sync.Mutex
	members []*member
}

// Start starts an etcd cluster of the given number of members, each with a
// data directory under dir and client and peer URLs on 127.0.0.1, and waits
// until every member serves clients. Logs of etcd and of clients made by
// Client go to lg; a nil lg keeps only entries about to end the process, so
// that the many routine messages of members starting and stopping do not
// drown the caller's output. Close must be called to stop the members; dir
// is left in place for the caller to remove.
func Start(dir string, members int, lg *zap.Logger) (*Cluster, error) {
	return startCluster(dir, members, lg, nil)
}

// ClientTLS are the PEM files with which members serve clients over TLS.
type ClientTLS struct {
	// CertFile and KeyFile are the members' certificate, valid for
	// 127.0.0.1, and its key.
	CertFile, KeyFile string
	// ClientCAFile, when set, makes members require client certificates
	// signed by it.
	ClientCAFile string
}

// StartTLS is Start with members that serve clients over TLS only, on
// https URLs. Client does not dial such a cluster: callers bring their own
// TLS configuration.
func StartTLS(dir string, members int, tls ClientTLS) (*Cluster, error) {
	return startCluster(dir, members, nil, &tls)
}

// startCluster is Start with optional client TLS.
func startCluster(dir string, members int, lg *zap.Logger, tls *ClientTLS) (*Cluster, error) {
	if members < 1 {
		return nil, fmt.Errorf("embedetcd: start with %d members: need at least one", members)
	}
	if lg == nil {
		var err error
		if lg, err = quietLogger(); err != nil {
			return nil, err
		}
	}
	var lastErr error
	for range startAttempts {
		c, err := startOnce(dir, members, lg, tls)
		if err == nil {
			return c, nil
		}
		lastErr = err
		if !errors.Is(err, syscall.EADDRINUSE) {
			break
		}
	}
	return nil, lastErr
}

// quietLogger logs only what ends the process, on stderr, so that a fatal
// error still says why. Error level would not do: etcd logs the listeners
// closing under it every time a member stops.
func quietLogger() (*zap.Logger, error) {
	cfg := zap.NewProductionConfig()
	cfg.Level = zap.NewAtomicLevelAt(zap.DPanicLevel)
	cfg.Encoding = "console"
	cfg.Sampling = nil
	lg, err := cfg.Build()
	if err != nil {
		return nil, fmt.Errorf("embedetcd: build logger: %w", err)
	}
	return lg, nil
}

// startOnce makes one attempt at Start with newly picked ports. The ports are
// probed free and then released before etcd binds them, because an initial
// cluster must name every peer URL up front; another process may grab one in
// between, which the caller retries.
func startOnce(dir string, n int, lg *zap.Logger, tls *ClientTLS) (*Cluster, error) {
	ports, err := pickPorts(2 * n)
	if err != nil {
		return nil, err
	}
	c := &Cluster{
		lg:        lg,
		token:     fmt.Sprintf("embedetcd-%d", time.Now().UnixNano()),
		clientTLS: tls,
	}
	peers := make([]string, n)
	for i := range n {
		m := &member{
			name:      fmt.Sprintf("m%d", i),
			dir:       filepath.Join(dir, fmt.Sprintf("m%d", i)),
			clientURL: loopbackURL(ports[2*i], tls != nil),
			peerURL:   loopbackURL(ports[2*i+1], false),
		}
		// A directory left by a failed attempt holds a WAL for other peer
		// URLs; etcd would rejoin that cluster instead of forming this one.
		if err := os.RemoveAll(m.dir); err != nil {
			return nil, fmt.Errorf("embedetcd: clear %s: %w", m.dir, err)
		}
		c.members = append(c.members, m)
		peers[i] = m.name + "=" + m.peerURL.String()
	}
	c.initialCluster = strings.Join(peers, ",")

	for _, m := range c.members {
		e, err := embed.StartEtcd(c.config(m))
		if err != nil {
			c.Close()
			return nil, fmt.Errorf("embedetcd: start member %s: %w", m.name, err)
		}
		m.etcd = e
	}
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	for _, m := range c.members {
		if err := waitReady(ctx, m.name, m.etcd); err != nil {
			c.Close()
			return nil, err
		}
	}
	return c, nil
}

// pickPorts is freePorts, replaced in tests to force a port collision.
var pickPorts = freePorts

// freePorts returns n distinct loopback TCP ports that were free a moment ago.
// All listeners stay open until every port is picked, so that the kernel
// cannot hand out the same port twice.
func freePorts(n int) ([]int, error) {
	ports := make([]int, 0, n)
	var lns []net.Listener
	defer func() {
		for _, ln := range lns {
			_ = ln.Close()
		}
	}()
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("embedetcd: pick a free port: %w", err)
		}
		lns = append(lns, ln)
		ports = append(ports, ln.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

func loopbackURL(port int, secure bool) url.URL {
	scheme := "http"
	if secure {
		scheme = "https"
	}
	return url.URL{Scheme: scheme, Host: fmt.Sprintf("127.0.0.1:%d", port)}
}

// config builds a fresh configuration for m; embed keeps state in a Config
// once started, so a restart must not reuse the old one.
func (c *Cluster) config(m *member) *embed.Config {
	cfg := embed.NewConfig()
	cfg.Name = m.name
	cfg.Dir = m.dir
	cfg.ListenClientUrls = []url.URL{m.clientURL}
	cfg.AdvertiseClientUrls = []url.URL{m.clientURL}
	cfg.ListenPeerUrls = []url.URL{m.peerURL}
	cfg.AdvertisePeerUrls = []url.URL{m.peerURL}
	cfg.InitialCluster = c.initialCluster
	cfg.InitialClusterToken = c.token
	cfg.ClusterState = embed.ClusterStateFlagNew
	cfg.Logger = "zap"
	cfg.ZapLoggerBuilder = embed.NewZapLoggerBuilder(c.lg.Named(m.name))
	if c.clientTLS != nil {
		cfg.ClientTLSInfo = transport.TLSInfo{
			CertFile: c.clientTLS.CertFile, KeyFile: c.clientTLS.KeyFile,
			TrustedCAFile:  c.clientTLS.ClientCAFile,
			ClientCertAuth: c.clientTLS.ClientCAFile != "",
		}
	}
	return cfg
}

// waitReady waits until member e serves clients, fails, or ctx ends.
func waitReady(ctx context.Context, name string, e *embed.Etcd) error {
	select {
	case <-e.Server.ReadyNotify():
		return nil
	case err := <-e.Err():
		return fmt.Errorf("embedetcd: member %s failed while starting: %w", name, err)
	case <-e.Server.StopNotify():
		return fmt.Errorf("embedetcd: member %s stopped while starting", name)
	case <-ctx.Done():
		return fmt.Errorf("embedetcd: wait for member %s to be ready: %w", name, ctx.Err())
	}
}

// Endpoints returns the client URLs of the running members, in member order.
func (c *Cluster) Endpoints() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var eps []string
	for _, m := range c.members {
		if m.etcd != nil {
			eps = append(eps, m.clientURL.String())
		}
	}
	return eps
}

// Client returns a client balanced over the members running now, which gives
// up dialing after five seconds. The caller closes it.
func (c *Cluster) Client() (*clientv3.Client, error) {
	eps := c.Endpoints()
	if len(eps) == 0 {
		return nil, errors.New("embedetcd: new client: no member is running")
	}
	cli, err := clientv3.New(clientv3.Config{
		Endpoints:   eps,
		DialTimeout: dialTimeout,
		Logger:      c.lg.Named("client"),
	})
	if err != nil {
		return nil, fmt.Errorf("embedetcd: new client for %v: %w", eps, err)
	}
	return cli, nil
}

// Leader returns the index of the member that is leader now. It does not
// wait for an election: with no leader, or one that is not running, it fails.
func (c *Cluster) Leader() (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	// Asking the leader itself rather than any follower avoids naming a
	// leader that a lagging follower has not yet noticed is gone.
	leader := -1
	for i, m := range c.members {
		if m.etcd == nil {
			continue
		}
		s := m.etcd.Server
		if s.Leader() != s.MemberID() {
			continue
		}
		if leader >= 0 {
			return -1, fmt.Errorf("embedetcd: members %d and %d both claim leadership", leader, i)
		}
		leader = i
	}
	if leader < 0 {
		return -1, errors.New("embedetcd: no running member is leader")
	}
	return leader, nil
}

// WaitLeader polls Leader until a running member leads or ctx ends, as an
// election after losing the leader takes one to two election timeouts.
func (c *Cluster) WaitLeader(ctx context.Context) (int, error) {
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		i, err := c.Leader()
		if err == nil {
			return i, nil
		}
		select {
		case <-ctx.Done():
			return -1, fmt.Errorf("embedetcd: wait for a leader: %w (last: %w)", ctx.Err(), err)
		case <-tick.C:
		}
	}
}

// StopMember stops member i as if it had crashed: a leader does not hand
// leadership over first, so the others must notice and elect a new one. Its
// data directory is kept for RestartMember. Stopping a stopped member, or an
// index out of range, does nothing.
func (c *Cluster) StopMember(i int) {
	c.mu.Lock()
	if i < 0 || i >= len(c.members) || c.members[i].etcd == nil {
		c.mu.Unlock()
		return
	}
	e := c.members[i].etcd
	c.members[i].etcd = nil
	c.mu.Unlock()
	stop(e)
}

// stop halts raft before Close so that Close's graceful leadership transfer
// finds nothing to transfer.
func stop(e *embed.Etcd) {
	e.Server.HardStop()
	e.Close()
}

// RestartMember starts stopped member i again on its data directory and
// URLs, and waits until it serves clients, which needs a quorum of members
// running. It fails if one of the member's ports has been taken meanwhile.
func (c *Cluster) RestartMember(i int) error {
	c.mu.Lock()
	if i < 0 || i >= len(c.members) {
		c.mu.Unlock()
		return fmt.Errorf("embedetcd: restart member %d: cluster has %d members", i, len(c.members))
	}
	m := c.members[i]
	if m.etcd != nil {
		c.mu.Unlock()
		return fmt.Errorf("embedetcd: restart member %s: still running", m.name)
	}
	e, err := embed.StartEtcd(c.config(m))
	if err != nil {
		c.mu.Unlock()
		return fmt.Errorf("embedetcd: restart member %s: %w", m.name, err)
	}
	m.etcd = e
	c.mu.Unlock()

	// The lock is released while waiting so that Leader and the other
	// methods keep answering during the catch-up.
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	if err := waitReady(ctx, m.name, e); err != nil {
		c.mu.Lock()
		// StopMember or Close may have taken it meanwhile; stopping twice
		// would close etcd's error channel twice.
		mine := m.etcd == e
		if mine {
			m.etcd = nil
		}
		c.mu.Unlock()
		if mine {
			stop(e)
		}
		return err
	}
	return nil
}

// Close stops every running member, concurrently since each stop can wait
// up to a second for peer connections to drain. It is safe to call more
// than once.
func (c *Cluster) Close() {
	c.mu.Lock()
	var running []*embed.Etcd
	for _, m := range c.members {
		if m.etcd != nil {
			running = append(running, m.etcd)
			m.etcd = nil
		}
	}
	c.mu.Unlock()
	var wg sync.WaitGroup
	for _, e := range running {
		wg.Go(func() { stop(e) })
	}
	wg.Wait()
}

// RunShared runs the tests of m with one cluster of the given number of
// members, started in a temporary directory and handed to use first, and
// stopped and removed after them. It returns the exit code for os.Exit, so
// that a package's TestMain reads os.Exit(embedetcd.RunShared(m, 1, ...)).
func RunShared(m interface{ Run() int }, members int, use func(*Cluster)) int {
	dir, err := os.MkdirTemp("", "embedetcd-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer func() { _ = os.RemoveAll(dir) }()

	c, err := Start(dir, members, nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer c.Close()
	use(c)
	return m.Run()
}
