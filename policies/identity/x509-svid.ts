import { X509SvidError, SpiffeIdError } from "./errors.js";
import { bytesToHex } from "./encoding.js";
import { parseSpiffeId, type SpiffeId } from "./spiffe-id.js";
import type { BundleLookup, TrustBundle } from "./trust-bundle.js";
import {
  BasicConstraintsExtension,
  ExtendedKeyUsageExtension,
  KeyUsageFlags,
  KeyUsagesExtension,
  SubjectAlternativeNameExtension,
  X509Certificate,
} from "./x509-lib.js";
import { checkClockSkew, DEFAULT_CLOCK_SKEW_MS } from "./clock.js";

/**
 * X.509-SVID verification per the SPIFFE X.509-SVID standard (X509-SVID.md), on Web Crypto:
 *
 * - the leaf has exactly one URI SAN, a valid SPIFFE ID with a non-root path (§2, §3.1);
 * - the leaf is not a CA, has a key usage extension with `digitalSignature` and neither
 *   `keyCertSign` nor `cRLSign` (§4.1, §4.3, §5.2); if it has an extended key usage, it allows
 *   client authentication (§4.4: SVIDs set both serverAuth and clientAuth);
 * - a path is built from the leaf, through the presented intermediates, to a certificate of the
 *   trust bundle of the leaf's own trust domain (§5.1, RFC 5280): each link's issuer name and
 *   signature are checked, each intermediate is a CA with `keyCertSign` whose SPIFFE ID (if
 *   any) has no path (§3.2), `pathLenConstraint` is honoured, and every certificate in the path
 *   (trust anchor included) is inside its validity window, with a bounded clock skew;
 * - unknown critical extensions are refused (RFC 5280 §4.2), name constraints included (the
 *   standard allows refusing them, §4.2); SHA-1 and MD5 signatures are refused.
 *
 * Revocation is not checked (SPIFFE relies on short-lived SVIDs; see docs/security.md).
 */

export const DEFAULT_MAX_CHAIN_LENGTH = 8;
/** Certificates larger than this are refused before parsing (a chain is attacker-supplied input). */
export const MAX_CERTIFICATE_BYTES = 16 * 1024;

const OID = {
  subjectAltName: "2.5.29.17",
  basicConstraints: "2.5.29.19",
  keyUsage: "2.5.29.15",
  extKeyUsage: "2.5.29.37",
  subjectKeyId: "2.5.29.14",
  authorityKeyId: "2.5.29.35",
  anyExtendedKeyUsage: "2.5.29.37.0",
  clientAuth: "1.3.6.1.5.5.7.3.2",
} as const;

/** Extensions this verifier understands and enforces; any other critical extension is refused. */
const UNDERSTOOD = new Set<string>([OID.subjectAltName, OID.basicConstraints, OID.keyUsage, OID.extKeyUsage, OID.subjectKeyId, OID.authorityKeyId]);
const ACCEPTED_HASHES = new Set(["SHA-256", "SHA-384", "SHA-512"]);

export interface VerifyX509SvidOptions {
  /** The current time (ms since the epoch, or a Date). */
  now: number | Date;
  /** Allowed clock skew on validity windows; default 60 s, at most 5 min. */
  clockSkewMs?: number;
  /** Most certificates accepted in a presented chain and in a built path; default 8. */
  maxChainLength?: number;
  /** Require that an extended key usage, when present, allows client authentication (default true). */
  requireClientAuth?: boolean;
  crypto?: Crypto;
}

export interface VerifiedX509Svid {
  spiffeId: SpiffeId;
  leaf: X509Certificate;
  /** The verified path: leaf, intermediates, then the trust anchor from the bundle. */
  path: X509Certificate[];
  /** Lowercase hex SHA-256 of the leaf's DER (Envoy's XFCC `Hash`). */
  hash: string;
  /** The leaf's subject DN (RFC 4514 string), `""` if it has none. */
  subject: string;
  dnsNames: string[];
  notAfter: Date;
  /** The trust bundle that anchored the path. */
  bundle: TrustBundle;
}

/** A certificate as DER bytes or already parsed. */
export type CertificateInput = X509Certificate | Uint8Array<ArrayBuffer>;

/**
 * Verifies a presented chain (leaf first, then any intermediates, in any order) against the
 * trust bundle of the leaf's trust domain. If the path does not verify and the bundle source
 * can refresh (a remote bundle), it is asked once for a newer bundle and the path retried.
 */
export async function verifyX509Svid(chain: readonly CertificateInput[], bundles: BundleLookup, options: VerifyX509SvidOptions): Promise<VerifiedX509Svid> {
  const skew = checkClockSkew(options.clockSkewMs ?? DEFAULT_CLOCK_SKEW_MS);
  const maxLength = options.maxChainLength ?? DEFAULT_MAX_CHAIN_LENGTH;
  if (!Number.isInteger(maxLength) || maxLength < 1) throw new TypeError("maxChainLength must be a positive integer");
  const now = typeof options.now === "number" ? options.now : options.now.getTime();
  const crypto = options.crypto ?? globalThis.crypto;

  if (chain.length === 0) throw new X509SvidError("ERR_SVID_CHAIN_EMPTY", "no certificate was presented");
  if (chain.length > maxLength) throw new X509SvidError("ERR_SVID_CHAIN_TOO_LONG", `a chain of ${chain.length} certificates exceeds the limit of ${maxLength}`);
  const certificates = chain.map((input, index) => parseCertificate(input, index));
  const leaf = certificates[0]!;

  const spiffeId = checkLeaf(leaf, options.requireClientAuth ?? true);
  checkCertificate(leaf, 0, now, skew);

  let bundle = await bundles(spiffeId.trustDomain);
  try {
    return await buildPath(leaf, certificates.slice(1), spiffeId, bundle, { now, skew, maxLength, crypto });
  } catch (error) {
    const retriable = error instanceof X509SvidError && (error.code === "ERR_SVID_UNTRUSTED" || error.code === "ERR_SVID_NO_BUNDLE" || error.code === "ERR_SVID_SIGNATURE");
    if (!retriable) throw error;
    const refreshed = await bundles(spiffeId.trustDomain, { refresh: true });
    if (refreshed === undefined || refreshed === bundle) throw error;
    bundle = refreshed;
    return buildPath(leaf, certificates.slice(1), spiffeId, bundle, { now, skew, maxLength, crypto });
  }
}

/** The SPIFFE leaf rules (§2, §3.1, §4, §5.2); returns the leaf's SPIFFE ID. */
export function checkLeaf(leaf: X509Certificate, requireClientAuth = true): SpiffeId {
  const uris = uriSans(leaf, 0);
  if (uris.length === 0) throw new X509SvidError("ERR_SVID_URI_SAN_MISSING", "the leaf certificate has no URI SAN (an X.509-SVID carries its SPIFFE ID there)", 0);
  if (uris.length > 1) throw new X509SvidError("ERR_SVID_URI_SAN_MULTIPLE", `the leaf certificate has ${uris.length} URI SANs; an X.509-SVID has exactly one`, 0);
  let spiffeId: SpiffeId;
  try {
    spiffeId = parseSpiffeId(uris[0]!);
  } catch (error) {
    const rule = error instanceof SpiffeIdError ? `${error.code}: ${error.message}` : String(error);
    throw new X509SvidError("ERR_SVID_SPIFFE_ID_INVALID", `the leaf's URI SAN is not a valid SPIFFE ID (${rule})`, 0, { cause: error });
  }
  if (spiffeId.path === "") throw new X509SvidError("ERR_SVID_LEAF_ID_NO_PATH", `a leaf SVID's SPIFFE ID needs a path (got '${spiffeId.uri}', which names a trust domain)`, 0);
  if (leaf.getExtension(BasicConstraintsExtension)?.ca === true) {
    throw new X509SvidError("ERR_SVID_LEAF_IS_CA", "the leaf certificate is a CA (basicConstraints cA=true); an SVID used for authentication must not be", 0);
  }
  const keyUsage = leaf.getExtension(KeyUsagesExtension);
  if (!keyUsage) throw new X509SvidError("ERR_SVID_LEAF_KEY_USAGE_MISSING", "the leaf certificate has no key usage extension (required on every SVID)", 0);
  if ((keyUsage.usages & KeyUsageFlags.digitalSignature) === 0) {
    throw new X509SvidError("ERR_SVID_LEAF_NO_DIGITAL_SIGNATURE", "the leaf certificate's key usage lacks digitalSignature", 0);
  }
  if ((keyUsage.usages & KeyUsageFlags.keyCertSign) !== 0) throw new X509SvidError("ERR_SVID_LEAF_KEY_CERT_SIGN", "the leaf certificate's key usage has keyCertSign", 0);
  if ((keyUsage.usages & KeyUsageFlags.cRLSign) !== 0) throw new X509SvidError("ERR_SVID_LEAF_CRL_SIGN", "the leaf certificate's key usage has cRLSign", 0);
  const eku = leaf.getExtension(ExtendedKeyUsageExtension);
  if (requireClientAuth && eku) {
    const usages = eku.usages.map(String);
    if (!usages.includes(OID.clientAuth) && !usages.includes(OID.anyExtendedKeyUsage)) {
      throw new X509SvidError("ERR_SVID_LEAF_EXTENDED_KEY_USAGE", "the leaf certificate's extended key usage does not allow client authentication (id-kp-clientAuth)", 0);
    }
  }
  return spiffeId;
}

interface PathContext {
  now: number;
  skew: number;
  maxLength: number;
  crypto: Crypto;
}

async function buildPath(
  leaf: X509Certificate,
  presented: readonly X509Certificate[],
  spiffeId: SpiffeId,
  bundle: TrustBundle | undefined,
  context: PathContext,
): Promise<VerifiedX509Svid> {
  if (!bundle || bundle.x509Authorities.length === 0) {
    throw new X509SvidError("ERR_SVID_NO_BUNDLE", `no X.509 trust bundle for trust domain '${spiffeId.trustDomain}'`);
  }
  const path: X509Certificate[] = [leaf];
  const used = new Set<X509Certificate>();
  let current = leaf;
  for (;;) {
    const position = path.length - 1;
    const issuerName = current.issuer;
    // A trust anchor first: a presented copy of the root is then never needed.
    const anchors = bundle.x509Authorities.filter((anchor) => anchor.subject === issuerName);
    let anchorError: X509SvidError | undefined;
    for (const anchor of anchors) {
      if (await signedBy(current, anchor, context.crypto)) {
        try {
          // Two anchors may share a name during a rotation: a lapsed one does not end the search.
          checkValidity(anchor, path.length, context.now, context.skew, "trust anchor");
          checkPathLength(anchor, path.length);
        } catch (error) {
          anchorError ??= error as X509SvidError;
          continue;
        }
        path.push(anchor);
        return {
          spiffeId,
          leaf,
          path,
          hash: bytesToHex(new Uint8Array(await context.crypto.subtle.digest("SHA-256", leaf.rawData))),
          subject: leaf.subject,
          dnsNames: sansOfType(leaf, "dns"),
          notAfter: leaf.notAfter,
          bundle,
        };
      }
    }
    const intermediates = presented.filter((candidate) => !used.has(candidate) && candidate.subject === issuerName && !sameCertificate(candidate, current));
    let next: X509Certificate | undefined;
    for (const candidate of intermediates) {
      if (await signedBy(current, candidate, context.crypto)) {
        next = candidate;
        break;
      }
    }
    if (!next) {
      if (anchorError) throw anchorError;
      if (anchors.length > 0 || intermediates.length > 0) {
        throw new X509SvidError("ERR_SVID_SIGNATURE", `the signature of certificate ${position} (${describe(current)}) does not verify with the key of any issuer named '${issuerName}'`, position);
      }
      throw new X509SvidError(
        "ERR_SVID_UNTRUSTED",
        `certificate ${position} (${describe(current)}) was issued by '${issuerName}', which is neither in the trust bundle of '${spiffeId.trustDomain}' nor among the presented certificates`,
        position,
      );
    }
    if (path.length + 1 > context.maxLength) {
      throw new X509SvidError("ERR_SVID_CHAIN_TOO_LONG", `no trust anchor within ${context.maxLength} certificates`, path.length);
    }
    checkSigningCertificate(next, path.length);
    checkCertificate(next, path.length, context.now, context.skew);
    checkPathLength(next, path.length);
    used.add(next);
    path.push(next);
    current = next;
  }
}

/** RFC 5280 §4.2.1.9: a CA at `position` (1 = issuer of the leaf) has `position - 1` intermediates below it. */
function checkPathLength(ca: X509Certificate, position: number): void {
  const limit = ca.getExtension(BasicConstraintsExtension)?.pathLength;
  const below = position - 1;
  if (limit !== undefined && below > limit) {
    throw new X509SvidError("ERR_SVID_PATH_LENGTH", `certificate ${position} allows ${limit} intermediate(s) below it (pathLenConstraint), but the path has ${below}`, position);
  }
}

/** §3.2 / §4.1 / §4.3: signing certificates are CAs with keyCertSign; a SPIFFE ID they carry has no path. */
function checkSigningCertificate(certificate: X509Certificate, position: number): void {
  if (certificate.getExtension(BasicConstraintsExtension)?.ca !== true) {
    throw new X509SvidError("ERR_SVID_SIGNING_CERT_NOT_CA", `certificate ${position} (${describe(certificate)}) signs another certificate but is not a CA (basicConstraints cA=true)`, position);
  }
  const keyUsage = certificate.getExtension(KeyUsagesExtension);
  if (!keyUsage || (keyUsage.usages & KeyUsageFlags.keyCertSign) === 0) {
    throw new X509SvidError("ERR_SVID_SIGNING_CERT_NO_KEY_CERT_SIGN", `certificate ${position} (${describe(certificate)}) signs another certificate but its key usage lacks keyCertSign`, position);
  }
  for (const uri of uriSans(certificate, position)) {
    if (!uri.startsWith("spiffe://")) continue;
    let id: SpiffeId | undefined;
    try {
      id = parseSpiffeId(uri);
    } catch {
      id = undefined;
    }
    if (!id || id.path !== "") {
      throw new X509SvidError("ERR_SVID_SIGNING_CERT_ID_HAS_PATH", `certificate ${position} is a signing certificate whose SPIFFE ID '${uri}' is not a bare trust domain`, position);
    }
  }
}

/** Rules every certificate of the path obeys: no unknown critical extension, an accepted signature algorithm, validity. */
function checkCertificate(certificate: X509Certificate, position: number, now: number, skew: number): void {
  const seen = new Set<string>();
  for (const extension of certificate.extensions) {
    if (seen.has(extension.type)) throw new X509SvidError("ERR_SVID_MALFORMED", `certificate ${position} has extension ${extension.type} twice`, position);
    seen.add(extension.type);
    if (extension.critical && !UNDERSTOOD.has(extension.type)) {
      throw new X509SvidError("ERR_SVID_UNSUPPORTED_CRITICAL_EXTENSION", `certificate ${position} has a critical extension this verifier does not implement (${extension.type})`, position);
    }
  }
  const algorithm = certificate.signatureAlgorithm as { name?: string; hash?: { name?: string } };
  const acceptable = algorithm.name === "Ed25519" || (algorithm.hash?.name !== undefined && ACCEPTED_HASHES.has(algorithm.hash.name));
  if (!acceptable) {
    throw new X509SvidError(
      "ERR_SVID_SIGNATURE_ALGORITHM",
      `certificate ${position} is signed with ${algorithm.name ?? "an unknown algorithm"}${algorithm.hash?.name ? `/${algorithm.hash.name}` : ""}; only SHA-256/384/512 (ECDSA, RSA, RSA-PSS) and Ed25519 are accepted`,
      position,
    );
  }
  checkValidity(certificate, position, now, skew, position === 0 ? "leaf" : "intermediate");
}

function checkValidity(certificate: X509Certificate, position: number, now: number, skew: number, role: string): void {
  if (now + skew < certificate.notBefore.getTime()) {
    throw new X509SvidError("ERR_SVID_NOT_YET_VALID", `the ${role} certificate (${position}) is not valid before ${certificate.notBefore.toISOString()}`, position);
  }
  if (now - skew > certificate.notAfter.getTime()) {
    throw new X509SvidError("ERR_SVID_EXPIRED", `the ${role} certificate (${position}) expired at ${certificate.notAfter.toISOString()}`, position);
  }
}

async function signedBy(subject: X509Certificate, issuer: X509Certificate, crypto: Crypto): Promise<boolean> {
  try {
    return await subject.verify({ publicKey: issuer.publicKey, signatureOnly: true }, crypto);
  } catch {
    return false;
  }
}

export function parseCertificate(input: CertificateInput, position: number): X509Certificate {
  if (input instanceof X509Certificate) return input;
  if (input.byteLength > MAX_CERTIFICATE_BYTES) {
    throw new X509SvidError("ERR_SVID_MALFORMED", `certificate ${position} is ${input.byteLength} bytes (limit ${MAX_CERTIFICATE_BYTES})`, position);
  }
  try {
    return new X509Certificate(input);
  } catch (error) {
    throw new X509SvidError("ERR_SVID_MALFORMED", `certificate ${position} is not a DER X.509 certificate: ${(error as Error).message}`, position, { cause: error });
  }
}

function uriSans(certificate: X509Certificate, position: number): string[] {
  const extensions = certificate.getExtensions(SubjectAlternativeNameExtension);
  if (extensions.length > 1) throw new X509SvidError("ERR_SVID_MALFORMED", `certificate ${position} has more than one subjectAltName extension`, position);
  return sansOfType(certificate, "url");
}

function sansOfType(certificate: X509Certificate, type: string): string[] {
  const extension = certificate.getExtension(SubjectAlternativeNameExtension);
  if (!extension) return [];
  return extension.names.items.filter((name) => name.type === type).map((name) => name.value);
}

function sameCertificate(a: X509Certificate, b: X509Certificate): boolean {
  return a === b || bytesEqual(new Uint8Array(a.rawData), new Uint8Array(b.rawData));
}

function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let index = 0; index < a.length; index++) if (a[index] !== b[index]) return false;
  return true;
}

function describe(certificate: X509Certificate): string {
  return certificate.subject || uriSansSafe(certificate) || `serial ${certificate.serialNumber}`;
}

function uriSansSafe(certificate: X509Certificate): string {
  try {
    return sansOfType(certificate, "url").join(",");
  } catch {
    return "";
  }
}
