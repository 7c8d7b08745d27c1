// Package drill puts the real nsallocd binary through failures that unit
// tests cannot stage in their own process. It holds tests only.
//
// TestCrashDrill kills the daemon with SIGKILL, round after round on one
// file, while many clients reserve namespaces. After each kill the file must
// pass bbolt's consistency check and the store's index check, and a
// restarted daemon must still answer every reservation it acknowledged, with
// no namespace handed out twice.
//
// TestOverloadDrill measures what the daemon can take, then offers it twice
// that from an open loop. The admission limit must shed the excess, keep the
// latency of the calls it admits near the unloaded latency, keep memory
// bounded and health answering, and let go of its goroutines when the load
// stops.
//
// go test runs the short crash drill, three rounds, as part of make test. The
// overload drill needs a client that can outrun the server, which the race
// detector of make test forbids on a small machine, so it runs only in the
// full form. make drill runs the full forms, with more rounds and longer
// phases:
//
//	go test -count=1 -v -run . ./drill/ -args -drill.full
package drill
