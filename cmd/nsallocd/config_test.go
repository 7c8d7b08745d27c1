package main

import (
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"
)

func TestParseConfig(t *testing.T) {
	// withDefaults fills in the fields every case below leaves at their
	// defaults.
	withDefaults := func(c config) config {
		c.maxInFlight = 1024
		c.admissionWait = 20 * time.Millisecond
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
			},
			want: config{listen: "0.0.0.0:7000", db: "/var/lib/ns.db",
				reservedNames: "/etc/reserved", logLevel: slog.LevelDebug, logFormat: "json",
				shutdownTimeout: 3 * time.Second, lockTimeout: 500 * time.Millisecond,
				maxInFlight: 64, admissionWait: 5 * time.Millisecond,
				debugListen: "127.0.0.1:6060"}},
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
			if got != tt.want {
				t.Errorf("parseConfig = %+v, want %+v", got, tt.want)
			}
		})
	}
}
