// cti-envoy-standin: a stand-in for Envoy in the project's real-node tests. It is NOT Envoy and
// proxies nothing. No Envoy binary can be had on the machines the project runs on, so this
// small program does the part of Envoy's start-up that the product's TLS is about: it reads
// the bootstrap the real `contour bootstrap` wrote (`-c`), follows exactly the paths Envoy
// would read (file-based SDS under --resources-dir, or the inline paths), resolves the xDS
// address through the pod's resolver (cluster DNS, the Contour Service), and completes an xDS
// exchange over mutual TLS with Contour (gRPC DiscoveryRequest and DiscoveryResponse, on the
// streams the bootstrap names: ADS, or StreamClusters and StreamListeners as Contour's bootstrap
// configures), again every STANDIN_RECONNECT_INTERVAL (default 500ms) on a new connection,
// re-reading the files whenever they change. It serves Envoy's readiness endpoint (GET /ready
// on :8002, where Contour's stats listener serves it for a real Envoy) only once an exchange
// succeeded. Every attempt is one log line; no key material is ever logged.
package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
)

const name = "cti-envoy-standin"

var version = "0.1.0"

type options struct {
	Config      string
	ServiceNode string
	ServiceCl   string
	Interval    time.Duration
	ReadyAddr   string
}

// parseArgs takes Envoy's flags as the upstream DaemonSet passes them (some as one argv element
// holding flag and value, e.g. "--service-node envoy-abc"); flags the stand-in has no use for
// are accepted and ignored.
func parseArgs(args []string, env func(string) string) (options, error) {
	o := options{Interval: 500 * time.Millisecond, ReadyAddr: ":8002"}
	var tokens []string
	for _, a := range args {
		if strings.HasPrefix(a, "-") {
			tokens = append(tokens, strings.Fields(a)...)
		} else {
			tokens = append(tokens, a)
		}
	}
	for i := 0; i < len(tokens); i++ {
		flag, value, hasValue := strings.Cut(tokens[i], "=")
		take := func() string {
			if hasValue {
				return value
			}
			if i+1 < len(tokens) {
				i++
				return tokens[i]
			}
			return ""
		}
		switch flag {
		case "-c", "--config-path":
			o.Config = take()
		case "--service-node":
			o.ServiceNode = take()
		case "--service-cluster":
			o.ServiceCl = take()
		case "--log-level", "-l", "--base-id", "--drain-time-s", "--concurrency":
			take()
		}
	}
	if o.Config == "" {
		return o, fmt.Errorf("no -c <bootstrap file>")
	}
	if v := env("STANDIN_RECONNECT_INTERVAL"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			return o, fmt.Errorf("STANDIN_RECONNECT_INTERVAL=%q: want a positive duration such as 500ms", v)
		}
		o.Interval = d
	}
	if v := env("STANDIN_READY_ADDRESS"); v != "" {
		o.ReadyAddr = v
	}
	return o, nil
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stdout, "%s %s: %s\n", time.Now().UTC().Format("2006-01-02T15:04:05.000Z"), name, fmt.Sprintf(format, args...))
}

func main() {
	if len(os.Args) > 1 && (os.Args[1] == "--version" || os.Args[1] == "version") {
		fmt.Printf("%s %s (a stand-in for Envoy in tests, not Envoy)\n", name, version)
		return
	}
	logf("%s %s starting: a STAND-IN, NOT ENVOY. It proxies nothing; it reads Envoy's bootstrap and certificate files and completes xDS exchanges (gRPC DiscoveryRequest/DiscoveryResponse) with Contour over mutual TLS", name, version)
	o, err := parseArgs(os.Args[1:], os.Getenv)
	if err != nil {
		logf("error: %v", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()

	var ready atomic.Bool
	go serveReady(o.ReadyAddr, &ready)

	x, err := readBootstrap(o.Config)
	for err != nil {
		logf("bootstrap %s: %v (retrying)", o.Config, err)
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Second):
		}
		x, err = readBootstrap(o.Config)
	}
	logf("bootstrap %s: %s; node %q cluster %q; an attempt every %s", o.Config, x, o.ServiceNode, o.ServiceCl, o.Interval)
	run(ctx, o, x, &ready)
	logf("stopping (signal)")
}

func serveReady(addr string, ready *atomic.Bool) {
	mux := http.NewServeMux()
	mux.HandleFunc("/ready", func(w http.ResponseWriter, _ *http.Request) {
		if ready.Load() {
			fmt.Fprintln(w, "LIVE")
			return
		}
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprintln(w, "PRE_INITIALIZING (no xDS exchange has succeeded yet)")
	})
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		logf("error: readiness endpoint %s: %v", addr, err)
		os.Exit(1)
	}
	logf("readiness endpoint GET /ready on %s (503 until an xDS exchange succeeded)", addr)
	_ = http.Serve(ln, mux)
}

func run(ctx context.Context, o options, x xdsTarget, ready *atomic.Bool) {
	var m material
	loaded := false
	ok, failed := 0, 0
	for attempt := 1; ; attempt++ {
		if !loaded || m.changed() {
			reason := "first load"
			if loaded {
				reason = "files changed"
			}
			next, err := loadMaterial(x)
			if err != nil {
				logf("attempt %d: files: %v", attempt, err)
			} else {
				m, loaded = next, true
				logf("files: %s: %s; %s", reason, m.Summary, resolvedTargets(m))
			}
		}
		if loaded {
			if attempt1(ctx, attempt, o, x, m) {
				ok++
				if !ready.Swap(true) {
					logf("ready: /ready answers 200 from now on")
				}
			} else {
				failed++
			}
		}
		if attempt%100 == 0 {
			logf("totals: %d exchanges ok, %d failed", ok, failed)
		}
		select {
		case <-ctx.Done():
			logf("totals: %d exchanges ok, %d failed", ok, failed)
			return
		case <-time.After(o.Interval):
		}
	}
}

func attempt1(parent context.Context, n int, o options, x xdsTarget, m material) bool {
	ctx, cancel := context.WithTimeout(parent, 10*time.Second)
	defer cancel()
	started := time.Now()
	r, err := resolveXds(ctx, x.Host)
	if err != nil {
		logf("attempt %d: xds error: dns: %v", n, err)
		return false
	}
	addr := net.JoinHostPort(r.IP, strconv.Itoa(x.Port))
	res, err := exchange(ctx, addr, x, m, o.ServiceNode, o.ServiceCl)
	where := fmt.Sprintf("xds %s resolved %s -> %s", x.Host, r.Name, addr)
	if err != nil {
		hs := res.Handshake
		why := ""
		if hs.Version != "" {
			why = " (" + diagnose(ctx, addr, x, m) + ")"
		}
		logf("attempt %d: xds error: %s; tls=%q client_cert=%q client_cert_sha256=%s server_cert_sha256=%s: %v%s", n, where, orNone(hs.Version), hs.ClientCert, orNone(hs.ClientFP), orNone(hs.PeerFP), err, why)
		return false
	}
	hs := res.Handshake
	var got []string
	for _, resp := range res.Responses {
		got = append(got, fmt.Sprintf("%s version %q %d resources %v", resp.TypeURL[strings.LastIndex(resp.TypeURL, ".")+1:], resp.Version, len(resp.Names), resp.Names))
	}
	logf("attempt %d: xds exchange ok: %s; tls=%q alpn=%s sni=%s server_cert=%q server_san=%s client_cert=%q client_cert_sha256=%s; %s; %d ms; server_cert_sha256=%s",
		n, where, hs.Version, hs.ALPN, orNone(x.Sni), hs.PeerCert, hs.MatchedSAN, hs.ClientCert, hs.ClientFP, strings.Join(got, "; "), time.Since(started).Milliseconds(), hs.PeerFP)
	return true
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}
