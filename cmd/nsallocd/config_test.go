package main

import (
	"io"
	"log/slog"
	"reflect"
	"strings"
	"testing"
	"time"

	"golang.org/x/time/rate"

	"github.com/nsalloc/nsalloc/server"
)

func TestParseConfig(t *testing.T) {
	// withDefaults fills in the fields every case below leaves at their
	// defaults.
	withDefaults := func(c config) config {
		c.maxInFlight = 1024
		c.admissionWait = 20 * time.Millisecond
		if c.security.limits == (server.Limits{}) {
			c.security.limits = defaultLimits
		}
		if c.backend.kind == "" {
			c.backend = backendConfig{kind: "bolt", prefix: "/nsalloc/", timeout: 5 * time.Second}
		}
		return c
	}

	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		want    config
		wantErr []string
	}{
		{name: "defaults",
			want: withDefaults(config{listen: "127.0.0.1:50051", db: "nsalloc.db",
				logLevel: slog.LevelInfo, logFormat: "text", shutdownTimeout: 10 * time.Second,
				lockTimeout: 2 * time.Second})},
		{name: "environment",
			env: map[string]string{
				"NSALLOC_LISTEN": "0.0.0.0:7000", "NSALLOC_DB": "/var/lib/ns.db",
				"NSALLOC_RESERVED_NAMES": "/etc/reserved", "NSALLOC_LOG_LEVEL": "debug",
				"NSALLOC_LOG_FORMAT": "json", "NSALLOC_SHUTDOWN_TIMEOUT": "3s",
				"NSALLOC_LOCK_TIMEOUT": "500ms", "NSALLOC_MAX_IN_FLIGHT": "64",
				"NSALLOC_ADMISSION_WAIT": "5ms", "NSALLOC_DEBUG_LISTEN": "127.0.0.1:6060",
				"NSALLOC_METRICS_LISTEN": "127.0.0.1:9090",
				"NSALLOC_TOKENS":         "/etc/nsalloc/tokens",
			},
			want: config{listen: "0.0.0.0:7000", db: "/var/lib/ns.db",
				reservedNames: "/etc/reserved", logLevel: slog.LevelDebug, logFormat: "json",
				shutdownTimeout: 3 * time.Second, lockTimeout: 500 * time.Millisecond,
				maxInFlight: 64, admissionWait: 5 * time.Millisecond,
				debugListen: "127.0.0.1:6060", metricsListen: "127.0.0.1:9090",
				security: securityConfig{tokens: "/etc/nsalloc/tokens", limits: defaultLimits},
				backend: backendConfig{kind: "bolt", prefix: "/nsalloc/",
					timeout: 5 * time.Second}}},
		{name: "metrics flag wins over its variable",
			args: []string{"--metrics-listen", "127.0.0.1:9091"},
			env:  map[string]string{"NSALLOC_METRICS_LISTEN": "127.0.0.1:9090"},
			want: withDefaults(config{listen: "127.0.0.1:50051", db: "nsalloc.db",
				logLevel: slog.LevelInfo, logFormat: "text", shutdownTimeout: 10 * time.Second,
				lockTimeout: 2 * time.Second, metricsListen: "127.0.0.1:9091"})},
		{name: "flags win over environment",
			args: []string{"--listen", "127.0.0.1:1", "--db=x.db", "--log-level", "warn"},
			env:  map[string]string{"NSALLOC_LISTEN": "0.0.0.0:7000", "NSALLOC_DB": "y.db"},
			want: withDefaults(config{listen: "127.0.0.1:1", db: "x.db",
				logLevel: slog.LevelWarn, logFormat: "text", shutdownTimeout: 10 * time.Second,
				lockTimeout: 2 * time.Second})},
		{name: "bad values are all reported",
			args: []string{"--log-level", "loud", "--log-format", "xml",
				"--shutdown-timeout", "-1s", "--lock-timeout", "soon",
				"--max-in-flight", "0", "--admission-wait", "1"},
			wantErr: []string{`--log-level "loud"`, `--log-format "xml"`,
				`--shutdown-timeout "-1s"`, `--lock-timeout "soon"`, `--max-in-flight "0"`,
				`--admission-wait "1"`}},

		// The store backend.
		{name: "etcd from flags and environment",
			args: []string{"--store", "etcd", "--etcd-endpoints",
				"http://10.0.0.1:2379, http://10.0.0.2:2379", "--etcd-prefix", "/ns/"},
			env: map[string]string{"NSALLOC_ETCD_USER": "nsalloc",
				"NSALLOC_ETCD_PASSWORD": "secret", "NSALLOC_ETCD_TIMEOUT": "2s"},
			want: withDefaults(config{listen: "127.0.0.1:50051", db: "nsalloc.db",
				logLevel: slog.LevelInfo, logFormat: "text", shutdownTimeout: 10 * time.Second,
				lockTimeout: 2 * time.Second, backend: backendConfig{kind: "etcd",
					endpoints: []string{"http://10.0.0.1:2379", "http://10.0.0.2:2379"},
					prefix:    "/ns/", timeout: 2 * time.Second, user: "nsalloc",
					password: "secret"}})},
		{name: "bad backend flags",
			args: []string{"--store", "etcd", "--etcd-prefix", "ns", "--etcd-cert", "c.pem",
				"--etcd-timeout", "never"},
			env: map[string]string{"NSALLOC_ETCD_PASSWORD": "secret"},
			wantErr: []string{"--etcd-endpoints", `--etcd-prefix "ns"`,
				"--etcd-cert and --etcd-key", "without --etcd-user", `--etcd-timeout "never"`}},
		{name: "unknown backend", args: []string{"--store", "redis"},
			wantErr: []string{`--store "redis": want bolt or etcd`}},

		// Callers, TLS and limits.
		{name: "security and limits from the environment",
			env: map[string]string{
				"NSALLOC_TOKENS": "/etc/nsalloc/tokens", "NSALLOC_TLS_CERT": "/etc/tls/cert.pem",
				"NSALLOC_TLS_KEY": "/etc/tls/key.pem", "NSALLOC_TLS_CLIENT_CA": "/etc/tls/ca.pem",
				"NSALLOC_MAX_REQUEST_BYTES": "4096", "NSALLOC_MAX_STREAMS": "8",
				"NSALLOC_KEEPALIVE_MIN_TIME": "1m", "NSALLOC_KEEPALIVE_TIME": "2m",
				"NSALLOC_MAX_CONNECTION_IDLE": "3m", "NSALLOC_CALL_TIMEOUT": "1s",
				"NSALLOC_STREAM_TIMEOUT": "1h", "NSALLOC_RATE_LIMIT": "2.5",
				"NSALLOC_RATE_BURST": "5",
			},
			want: withDefaults(config{listen: "127.0.0.1:50051", db: "nsalloc.db",
				logLevel: slog.LevelInfo, logFormat: "text", shutdownTimeout: 10 * time.Second,
				lockTimeout: 2 * time.Second, security: securityConfig{
					tokens: "/etc/nsalloc/tokens", tlsCert: "/etc/tls/cert.pem",
					tlsKey: "/etc/tls/key.pem", tlsClientCA: "/etc/tls/ca.pem",
					limits: server.Limits{MaxRequestBytes: 4096, MaxStreams: 8,
						KeepaliveMinTime: time.Minute, KeepaliveTime: 2 * time.Minute,
						MaxConnectionIdle: 3 * time.Minute, CallTimeout: time.Second,
						StreamTimeout: time.Hour, Rate: 2.5, Burst: 5},
				}})},
		{name: "security flags win over environment, and rate limit 0 is off",
			args: []string{"--tokens", "t.txt", "--listen", "0.0.0.0:1", "--rate-limit", "0",
				"--tls-cert", "c.pem", "--tls-key", "k.pem"},
			env: map[string]string{"NSALLOC_TOKENS": "/etc/nsalloc/tokens",
				"NSALLOC_RATE_LIMIT": "7"},
			want: withDefaults(config{listen: "0.0.0.0:1", db: "nsalloc.db",
				logLevel: slog.LevelInfo, logFormat: "text", shutdownTimeout: 10 * time.Second,
				lockTimeout: 2 * time.Second, security: securityConfig{
					tokens: "t.txt", tlsCert: "c.pem", tlsKey: "k.pem",
					limits: withRate(defaultLimits, rate.Inf),
				}})},
		{name: "bad limits are all reported",
			args: []string{"--max-request-bytes", "0", "--max-streams", "-1",
				"--keepalive-min-time", "often", "--keepalive-time", "0s",
				"--max-connection-idle", "-5m", "--call-timeout", "1", "--stream-timeout", "",
				"--rate-limit", "fast", "--rate-burst", "0"},
			wantErr: []string{`--max-request-bytes "0"`, `--max-streams "-1"`,
				`--keepalive-min-time "often"`, `--keepalive-time "0s"`,
				`--max-connection-idle "-5m"`, `--call-timeout "1"`, `--stream-timeout ""`,
				`--rate-limit "fast"`, `--rate-burst "0"`}},
		{name: "negative rate", args: []string{"--rate-limit", "-1"},
			wantErr: []string{`--rate-limit "-1"`}},
		{name: "certificate without key", args: []string{"--tls-cert", "c.pem"},
			wantErr: []string{`--tls-cert "c.pem" and --tls-key ""`, "both or neither"}},
		{name: "key without certificate", args: []string{"--tls-key", "k.pem"},
			wantErr: []string{`--tls-key "k.pem"`, "both or neither"}},
		{name: "client CA without TLS", args: []string{"--tls-client-ca", "ca.pem"},
			wantErr: []string{`--tls-client-ca "ca.pem" needs --tls-cert and --tls-key`}},
		{name: "every interface without tokens", args: []string{"--listen", "0.0.0.0:7000"},
			wantErr: []string{`--listen "0.0.0.0:7000" is not a loopback address`,
				"anyone who can reach the port", "--tokens FILE", "127.0.0.1"}},
		{name: "every interface from the environment without tokens",
			env:     map[string]string{"NSALLOC_LISTEN": ":7000"},
			wantErr: []string{`--listen ":7000" is not a loopback address`}},

		{name: "level with an offset", args: []string{"--log-level", "info+2"},
			wantErr: []string{`--log-level "info+2"`}},
		{name: "empty db", args: []string{"--db", ""}, wantErr: []string{"--db is empty"}},
		{name: "stray argument", args: []string{"serve"}, wantErr: []string{`"serve"`}},
		{name: "unknown flag", args: []string{"--port", "1"}, wantErr: []string{"port"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseConfig(tt.args, func(k string) string { return tt.env[k] }, io.Discard)
			if len(tt.wantErr) > 0 {
				if err == nil {
					t.Fatalf("parseConfig = %+v, want an error", got)
				}
				for _, want := range tt.wantErr {
					if !strings.Contains(err.Error(), want) {
						t.Errorf("error %q does not mention %q", err, want)
					}
				}
				return
			}
			if err != nil {
				t.Fatalf("parseConfig: %v", err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("parseConfig = %+v, want %+v", got, tt.want)
			}
		})
	}
}
