// PEM bundles: `ca.crt` holds the CA that signed the current leaves first, then CAs still
// trusted during a rotation's overlap (design.md, "Certificate lifecycle"). Both Contour and
// Envoy's SDS accept several CAs in one file. Pure text handling.

const CERT_BLOCK = /-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g

/** The certificates of a PEM text, in order, each normalised (LF line ends, no surrounding space). */
export function splitCertificates(text: string): string[] {
  return (text.match(CERT_BLOCK) ?? []).map((block) => block.replace(/\r\n/g, '\n').trim())
}

/** One PEM text from certificates, one per block, with a final newline (empty for none). */
export function joinCertificates(pems: readonly string[]): string {
  return pems.length === 0 ? '' : `${pems.map((pem) => pem.trim()).join('\n')}\n`
}
