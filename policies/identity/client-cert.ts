import { XfccError } from "./errors.js";
import { base64ToBytes } from "./encoding.js";

/**
 * Client certificates verified by the platform's TLS termination: Cloudflare's
 * `request.cf.tlsClientAuth`, whose `certRFC9440` / `certChainRFC9440` fields carry the leaf and
 * the intermediates as RFC 9440 values (`Client-Cert` / `Client-Cert-Chain`: RFC 8941 byte
 * sequences, `:base64:`). Only a certificate the edge presented *and verified* (and did not
 * find revoked) is used; the gateway then verifies it again, against the mesh's trust bundles.
 */

/** The fields of `request.cf.tlsClientAuth` this module reads (all strings/booleans in Workers). */
export interface TlsClientAuthLike {
  certPresented?: string;
  certVerified?: string;
  certRevoked?: string;
  certFingerprintSHA256?: string;
  certRFC9440?: string;
  certChainRFC9440?: string;
}

export interface PlatformClientCert {
  /** DER certificates, leaf first; undefined when the edge verified a certificate but did not pass it on (too large, or an old runtime). */
  chain: Uint8Array<ArrayBuffer>[] | undefined;
  /** Lowercase hex SHA-256 fingerprint, as the edge reported it. */
  fingerprintSha256: string | undefined;
}

/** The platform-verified client certificate of a request, or undefined if none was presented and verified. */
export function platformClientCert(cf: unknown): PlatformClientCert | undefined {
  if (typeof cf !== "object" || cf === null) return undefined;
  const auth = (cf as { tlsClientAuth?: unknown }).tlsClientAuth;
  if (typeof auth !== "object" || auth === null) return undefined;
  const fields = auth as TlsClientAuthLike;
  if (fields.certPresented !== "1" || fields.certVerified !== "SUCCESS" || fields.certRevoked === "1") return undefined;
  const fingerprint = typeof fields.certFingerprintSHA256 === "string" && fields.certFingerprintSHA256 !== "" ? fields.certFingerprintSHA256.toLowerCase().replace(/:/g, "") : undefined;
  let chain: Uint8Array<ArrayBuffer>[] | undefined;
  if (typeof fields.certRFC9440 === "string" && fields.certRFC9440 !== "") {
    chain = [parseByteSequence(fields.certRFC9440.trim())];
    if (typeof fields.certChainRFC9440 === "string" && fields.certChainRFC9440.trim() !== "") chain.push(...parseByteSequenceList(fields.certChainRFC9440));
  }
  return { chain, fingerprintSha256: fingerprint };
}

/** An RFC 8941 byte sequence `:base64:` (RFC 9440 Client-Cert). */
export function parseByteSequence(text: string): Uint8Array<ArrayBuffer> {
  const match = /^:([A-Za-z0-9+/]*={0,2}):$/.exec(text);
  const bytes = match ? base64ToBytes(match[1]!) : undefined;
  if (!bytes || bytes.length === 0) throw new XfccError("ERR_RFC9440_SYNTAX", "not an RFC 8941 byte sequence (':base64:')");
  return bytes;
}

/** An RFC 8941 list of byte sequences (RFC 9440 Client-Cert-Chain); member parameters are not allowed. */
export function parseByteSequenceList(text: string): Uint8Array<ArrayBuffer>[] {
  return text.split(",").map((member) => parseByteSequence(member.trim()));
}
