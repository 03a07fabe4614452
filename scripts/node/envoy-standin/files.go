package main

// The certificate, key and CA as Envoy would find them: through the SDS files when the
// bootstrap names them (Envoy's file-based SDS), else the inline paths. Envoy watches these
// paths and reloads when the kubelet swaps a Secret volume's ..data symlink; the stand-in checks
// on every attempt whether any path now resolves to another file (or the file changed) and then
// reads everything again.

import (
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

type material struct {
	CertPath, KeyPath, CAPath string
	SanExact                  []string
	Cert                      tls.Certificate
	Roots                     *x509.CertPool
	Summary                   string
	watched                   []string
	signature                 string
}

// signatureOf describes where each path leads now (after symlinks) and that file's identity.
func signatureOf(paths []string) string {
	parts := make([]string, 0, len(paths))
	for _, p := range paths {
		target, err := filepath.EvalSymlinks(p)
		if err != nil {
			parts = append(parts, p+"=missing")
			continue
		}
		st, err := os.Stat(target)
		if err != nil {
			parts = append(parts, p+"=missing")
			continue
		}
		parts = append(parts, fmt.Sprintf("%s=%s@%d/%d", p, target, st.ModTime().UnixNano(), st.Size()))
	}
	sort.Strings(parts)
	return strings.Join(parts, ";")
}

// resolvedTargets names, for the log, where each file of a Secret volume points now.
func resolvedTargets(m material) string {
	var out []string
	for _, p := range []string{m.CertPath, m.KeyPath, m.CAPath} {
		if t, err := filepath.EvalSymlinks(p); err == nil && t != p {
			out = append(out, fmt.Sprintf("%s -> %s", p, t))
		}
	}
	return strings.Join(out, ", ")
}

// changed reports whether any file Envoy would read is no longer what m was loaded from.
func (m material) changed() bool { return signatureOf(m.watched) != m.signature }

func loadMaterial(x xdsTarget) (material, error) {
	m := material{}
	var watched []string
	cert := x.InlineCert
	if x.CertSdsPath != "" {
		watched = append(watched, x.CertSdsPath)
		s, err := readSds(x.CertSdsPath)
		if err != nil {
			return m, err
		}
		cert = s.Resources[0].TLSCertificate
		if cert == nil {
			return m, fmt.Errorf("%s: no tls_certificate", x.CertSdsPath)
		}
	}
	ca := x.InlineCA
	if x.CASdsPath != "" {
		watched = append(watched, x.CASdsPath)
		s, err := readSds(x.CASdsPath)
		if err != nil {
			return m, err
		}
		ca = s.Resources[0].ValidationContext
		if ca == nil {
			return m, fmt.Errorf("%s: no validation_context", x.CASdsPath)
		}
	}
	m.CertPath, m.KeyPath, m.CAPath = cert.CertificateChain.Filename, cert.PrivateKey.Filename, ca.TrustedCA.Filename
	for _, s := range ca.MatchTypedSubjectAltNames {
		if s.SanType == "DNS" && s.Matcher.Exact != "" {
			m.SanExact = append(m.SanExact, s.Matcher.Exact)
		}
	}
	watched = append(watched, m.CertPath, m.KeyPath, m.CAPath)
	m.watched = watched
	// The signature is taken before reading, so a swap during the read shows as a change next time.
	m.signature = signatureOf(watched)

	certPEM, err := os.ReadFile(m.CertPath)
	if err != nil {
		return m, err
	}
	keyPEM, err := os.ReadFile(m.KeyPath)
	if err != nil {
		return m, err
	}
	caPEM, err := os.ReadFile(m.CAPath)
	if err != nil {
		return m, err
	}
	m.Cert, err = tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return m, fmt.Errorf("%s with %s: %w", m.CertPath, m.KeyPath, err)
	}
	m.Roots = x509.NewCertPool()
	var cas []string
	for rest := caPEM; ; {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return m, fmt.Errorf("%s: %w", m.CAPath, err)
		}
		m.Roots.AddCert(c)
		cas = append(cas, fingerprint(c))
	}
	if len(cas) == 0 {
		return m, fmt.Errorf("%s: no certificate", m.CAPath)
	}
	leaf := m.Cert.Leaf
	m.Summary = fmt.Sprintf("client cert %s (%s) serial %s issuer %q sha256 %s, until %s; trusted CAs in %s: %d (sha256 %s); server SAN must be %v",
		m.CertPath, leaf.Subject, leaf.SerialNumber.Text(16), leaf.Issuer.String(), fingerprint(leaf), leaf.NotAfter.UTC().Format("2006-01-02T15:04:05Z"),
		m.CAPath, len(cas), strings.Join(cas, ","), m.SanExact)
	return m, nil
}

func fingerprint(c *x509.Certificate) string {
	sum := sha256.Sum256(c.Raw)
	return hex.EncodeToString(sum[:6])
}
