package main

// One xDS exchange as Envoy starts one: a TLS connection to the resolved address (Envoy's
// UpstreamTlsContext: TLS versions, client certificate, trust and SAN match, SNI if set), HTTP/2,
// and the gRPC streams the bootstrap asks for: StreamAggregatedResources when it uses ADS, else
// StreamClusters and StreamListeners (what Contour's bootstrap configures). On each stream a
// DiscoveryRequest per type, each DiscoveryResponse ACKed (version and nonce echoed). Protobuf
// is encoded by hand: only the fields used here.

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"
)

const (
	adsPath      = "/envoy.service.discovery.v3.AggregatedDiscoveryService/StreamAggregatedResources"
	cdsPath      = "/envoy.service.cluster.v3.ClusterDiscoveryService/StreamClusters"
	ldsPath      = "/envoy.service.listener.v3.ListenerDiscoveryService/StreamListeners"
	clusterType  = "type.googleapis.com/envoy.config.cluster.v3.Cluster"
	listenerType = "type.googleapis.com/envoy.config.listener.v3.Listener"
)

func appendVarint(b []byte, n uint64) []byte {
	for n > 0x7f {
		b = append(b, byte(n&0x7f|0x80))
		n >>= 7
	}
	return append(b, byte(n))
}

func appendBytes(b []byte, field int, v []byte) []byte {
	b = appendVarint(b, uint64(field<<3|2))
	b = appendVarint(b, uint64(len(v)))
	return append(b, v...)
}

func appendString(b []byte, field int, s string) []byte {
	if s == "" {
		return b
	}
	return appendBytes(b, field, []byte(s))
}

// DiscoveryRequest{version_info=1, node=2{id=1, cluster=2}, type_url=4, response_nonce=5}.
func encodeRequest(typeURL, nodeID, nodeCluster, version, nonce string) []byte {
	node := appendString(appendString(nil, 1, nodeID), 2, nodeCluster)
	var b []byte
	b = appendString(b, 1, version)
	b = appendBytes(b, 2, node)
	b = appendString(b, 4, typeURL)
	b = appendString(b, 5, nonce)
	return b
}

type response struct {
	Version, TypeURL, Nonce string
	Names                   []string
}

type fieldVisitor func(num int, wire int, value []byte) error

func walk(buf []byte, visit fieldVisitor) error {
	for len(buf) > 0 {
		tag, n := binary.Uvarint(buf)
		if n <= 0 {
			return errors.New("bad protobuf tag")
		}
		buf = buf[n:]
		num, wire := int(tag>>3), int(tag&7)
		switch wire {
		case 0:
			_, n = binary.Uvarint(buf)
			if n <= 0 {
				return errors.New("bad protobuf varint")
			}
			buf = buf[n:]
		case 1:
			buf = buf[8:]
		case 5:
			buf = buf[4:]
		case 2:
			l, n := binary.Uvarint(buf)
			if n <= 0 || uint64(len(buf)-n) < l {
				return errors.New("bad protobuf length")
			}
			if err := visit(num, wire, buf[n:n+int(l)]); err != nil {
				return err
			}
			buf = buf[n+int(l):]
		default:
			return fmt.Errorf("protobuf wire type %d", wire)
		}
	}
	return nil
}

// DiscoveryResponse{version_info=1, resources=2 (Any{type_url=1, value=2}), type_url=4, nonce=5};
// Cluster and Listener both carry their name in field 1.
func decodeResponse(buf []byte) (response, error) {
	var r response
	err := walk(buf, func(num, _ int, v []byte) error {
		switch num {
		case 1:
			r.Version = string(v)
		case 4:
			r.TypeURL = string(v)
		case 5:
			r.Nonce = string(v)
		case 2:
			name := "?"
			_ = walk(v, func(num, _ int, any []byte) error {
				if num == 2 {
					_ = walk(any, func(num, _ int, f []byte) error {
						if num == 1 {
							name = string(f)
						}
						return nil
					})
				}
				return nil
			})
			r.Names = append(r.Names, name)
		}
		return nil
	})
	return r, err
}

func grpcFrame(msg []byte) []byte {
	f := make([]byte, 5, 5+len(msg))
	binary.BigEndian.PutUint32(f[1:], uint32(len(msg)))
	return append(f, msg...)
}

func readFrame(r io.Reader) ([]byte, error) {
	var h [5]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return nil, err
	}
	msg := make([]byte, binary.BigEndian.Uint32(h[1:]))
	_, err := io.ReadFull(r, msg)
	return msg, err
}

func tlsVersion(name string, fallback uint16) uint16 {
	switch name {
	case "TLSv1_0":
		return tls.VersionTLS10
	case "TLSv1_1":
		return tls.VersionTLS11
	case "TLSv1_2":
		return tls.VersionTLS12
	case "TLSv1_3":
		return tls.VersionTLS13
	}
	return fallback
}

type handshake struct {
	Version    string
	ALPN       string
	ClientCert string
	ClientFP   string
	PeerCert   string
	PeerFP     string // SHA-256 prefix of the server's leaf as presented, verified or not
	MatchedSAN string
}

// tlsConfig is Envoy's upstream TLS as the bootstrap sets it: the peer's chain must verify
// against the trusted CAs and carry one of the SANs matched exactly (Contour's bootstrap pins
// DNS SAN `contour` this way); the hostname is not otherwise checked (Envoy does not), and SNI
// is sent only when the bootstrap sets one (Contour's does not).
func tlsConfig(x xdsTarget, m material, hs *handshake) *tls.Config {
	return &tls.Config{
		ServerName:         x.Sni,
		MinVersion:         tlsVersion(x.MinVersion, tls.VersionTLS12),
		MaxVersion:         tlsVersion(x.MaxVersion, tls.VersionTLS13),
		NextProtos:         []string{"h2"},
		InsecureSkipVerify: true, // verified below, as Envoy does
		GetClientCertificate: func(req *tls.CertificateRequestInfo) (*tls.Certificate, error) {
			hs.ClientCert, hs.ClientFP = m.Cert.Leaf.Subject.String(), fingerprint(m.Cert.Leaf)
			return &m.Cert, nil
		},
		VerifyPeerCertificate: func(raw [][]byte, _ [][]*x509.Certificate) error {
			if len(raw) == 0 {
				return errors.New("no server certificate")
			}
			certs := make([]*x509.Certificate, len(raw))
			for i, r := range raw {
				c, err := x509.ParseCertificate(r)
				if err != nil {
					return err
				}
				certs[i] = c
			}
			hs.PeerFP = fingerprint(certs[0])
			inter := x509.NewCertPool()
			for _, c := range certs[1:] {
				inter.AddCert(c)
			}
			if _, err := certs[0].Verify(x509.VerifyOptions{Roots: m.Roots, Intermediates: inter, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err != nil {
				return err
			}
			hs.PeerCert = certs[0].Subject.String()
			if len(m.SanExact) == 0 {
				hs.MatchedSAN = "(no SAN matcher)"
				return nil
			}
			for _, want := range m.SanExact {
				for _, got := range certs[0].DNSNames {
					if got == want {
						hs.MatchedSAN = got
						return nil
					}
				}
			}
			return fmt.Errorf("server certificate SANs %v match none of %v", certs[0].DNSNames, m.SanExact)
		},
	}
}

type exchangeResult struct {
	Handshake handshake
	Responses []response
}

// exchange dials addr (already resolved), handshakes, and runs the xDS exchange.
func exchange(ctx context.Context, addr string, x xdsTarget, m material, nodeID, nodeCluster string) (exchangeResult, error) {
	var res exchangeResult
	var handshakeErr error
	transport := &http.Transport{
		ForceAttemptHTTP2: true,
		DialTLSContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			raw, err := (&net.Dialer{Timeout: 5 * time.Second}).DialContext(ctx, "tcp", addr)
			if err != nil {
				return nil, err
			}
			conn := tls.Client(raw, tlsConfig(x, m, &res.Handshake))
			if err := conn.HandshakeContext(ctx); err != nil {
				raw.Close()
				handshakeErr = err
				return nil, err
			}
			st := conn.ConnectionState()
			res.Handshake.Version = tls.VersionName(st.Version)
			res.Handshake.ALPN = st.NegotiatedProtocol
			if st.NegotiatedProtocol != "h2" {
				conn.Close()
				return nil, fmt.Errorf("ALPN %q, not h2", st.NegotiatedProtocol)
			}
			return conn, nil
		},
	}
	defer transport.CloseIdleConnections()
	for _, call := range x.Calls {
		responses, err := stream(ctx, transport, x, call, nodeID, nodeCluster)
		res.Responses = append(res.Responses, responses...)
		if err != nil {
			if handshakeErr != nil {
				return res, fmt.Errorf("tls handshake: %w", handshakeErr)
			}
			return res, fmt.Errorf("%s: %w", call.Path, err)
		}
	}
	return res, nil
}

// stream runs one gRPC stream: for each type a DiscoveryRequest (with the ACK of the previous
// response), its DiscoveryResponse, and the last ACK before the stream is closed.
func stream(ctx context.Context, transport *http.Transport, x xdsTarget, call xdsCall, nodeID, nodeCluster string) ([]response, error) {
	body, send := io.Pipe()
	defer send.Close()
	// The authority Envoy sends for an envoy_grpc service is the cluster name.
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "https://"+x.Cluster+":"+strconv.Itoa(x.Port)+call.Path, body)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/grpc")
	req.Header.Set("Te", "trailers")
	type done struct {
		resp *http.Response
		err  error
	}
	started := make(chan done, 1)
	go func() {
		resp, err := transport.RoundTrip(req)
		started <- done{resp, err}
	}()
	write := func(msgs ...[]byte) {
		var b bytes.Buffer
		for _, m := range msgs {
			b.Write(grpcFrame(m))
		}
		go func() { _, _ = send.Write(b.Bytes()) }()
	}
	write(encodeRequest(call.Types[0], nodeID, nodeCluster, "", ""))
	var d done
	select {
	case d = <-started:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	if d.err != nil {
		return nil, d.err
	}
	defer d.resp.Body.Close()
	if d.resp.StatusCode != 200 || !strings.HasPrefix(d.resp.Header.Get("Content-Type"), "application/grpc") {
		return nil, fmt.Errorf("HTTP %d %s, grpc-status %s", d.resp.StatusCode, d.resp.Header.Get("Content-Type"), d.resp.Header.Get("Grpc-Status"))
	}
	var out []response
	for i, typeURL := range call.Types {
		msg, err := readFrame(d.resp.Body)
		if err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
				return out, fmt.Errorf("stream ended: grpc-status %s %s", d.resp.Trailer.Get("Grpc-Status"), d.resp.Trailer.Get("Grpc-Message"))
			}
			return out, err
		}
		r, err := decodeResponse(msg)
		if err == nil && r.TypeURL != typeURL {
			err = fmt.Errorf("DiscoveryResponse for %s, asked for %s", r.TypeURL, typeURL)
		}
		if err != nil {
			return out, err
		}
		out = append(out, r)
		ack := encodeRequest(typeURL, nodeID, nodeCluster, r.Version, r.Nonce)
		if i+1 < len(call.Types) {
			write(ack, encodeRequest(call.Types[i+1], nodeID, nodeCluster, "", ""))
		} else {
			write(ack)
		}
	}
	return out, nil
}

// diagnose names why an exchange failed after the handshake: in TLS 1.3 the server's verdict on
// the client certificate (an alert) arrives only with the first read, which the HTTP/2 client
// reports as "client conn could not be established". One more connection reads it.
func diagnose(ctx context.Context, addr string, x xdsTarget, m material) string {
	raw, err := (&net.Dialer{Timeout: 2 * time.Second}).DialContext(ctx, "tcp", addr)
	if err != nil {
		return err.Error()
	}
	defer raw.Close()
	var hs handshake
	conn := tls.Client(raw, tlsConfig(x, m, &hs))
	if err := conn.HandshakeContext(ctx); err != nil {
		return "handshake: " + err.Error()
	}
	_ = conn.SetReadDeadline(time.Now().Add(2 * time.Second))
	var b [1]byte
	if _, err := conn.Read(b[:]); err != nil {
		return "after the handshake: " + err.Error()
	}
	return "the server accepts the connection now"
}
