import type { JWK } from "jose";
import { TrustBundleError } from "./errors.js";
import { base64ToBytes, pemCertificatesToDer } from "./encoding.js";
import { parseTrustDomain } from "./spiffe-id.js";
import { BasicConstraintsExtension, KeyUsageFlags, KeyUsagesExtension, X509Certificate } from "./x509-lib.js";

/**
 * Trust bundles per trust domain, in the SPIFFE bundle format (SPIFFE_Trust_Domain_and_Bundle.md
 * §4): a JWK Set whose `x509-svid` keys carry a CA certificate in `x5c` and whose `jwt-svid`
 * keys are JWT-SVID signing keys with a `kid`. Keys with a missing or unknown `use` or `kty`
 * are ignored, as the standard requires; keys that are unusable for their `use` are reported.
 */

export interface TrustBundle {
  trustDomain: string;
  /** CA certificates that anchor X.509-SVID paths. */
  x509Authorities: readonly X509Certificate[];
  /** Public JWKs (each with a `kid`, `use` removed) that verify JWT-SVIDs. */
  jwtAuthorities: readonly JWK[];
  /** `spiffe_sequence`, when the bundle has one. */
  sequence?: number;
  /** `spiffe_refresh_hint` in seconds, when the bundle has one. */
  refreshHintSeconds?: number;
}

/**
 * How verifiers find the bundle of a trust domain. `refresh: true` is a hint that the caller
 * met an unknown authority; a remote source may refetch (rate-limited) and return a newer bundle.
 */
export type BundleLookup = (trustDomain: string, options?: { refresh?: boolean }) => Promise<TrustBundle | undefined> | TrustBundle | undefined;

export interface ParsedBundle {
  bundle: TrustBundle;
  /** Why entries were left out (unknown use/kty are skipped silently, as the standard says). */
  problems: string[];
}

const JWT_SVID_KTY = new Set(["EC", "RSA"]);
const EC_CURVES = new Set(["P-256", "P-384", "P-521"]);
/** Bundles are attacker-adjacent input when fetched: bound what we parse. */
export const MAX_BUNDLE_KEYS = 64;

/** Parses a SPIFFE bundle (already JSON-decoded) for one trust domain. */
export function parseSpiffeBundle(trustDomain: string, document: unknown): ParsedBundle {
  const domain = parseTrustDomain(trustDomain);
  if (typeof document !== "object" || document === null || Array.isArray(document)) {
    throw new TrustBundleError("ERR_BUNDLE_MALFORMED", "a SPIFFE bundle is a JSON object (a JWK Set)");
  }
  const set = document as Record<string, unknown>;
  if (!Array.isArray(set.keys)) throw new TrustBundleError("ERR_BUNDLE_MALFORMED", "a SPIFFE bundle needs a 'keys' array");
  if (set.keys.length > MAX_BUNDLE_KEYS) throw new TrustBundleError("ERR_BUNDLE_MALFORMED", `a SPIFFE bundle may hold at most ${MAX_BUNDLE_KEYS} keys (got ${set.keys.length})`);
  const sequence = optionalInteger(set.spiffe_sequence, "spiffe_sequence");
  const refreshHintSeconds = optionalInteger(set.spiffe_refresh_hint, "spiffe_refresh_hint");
  const problems: string[] = [];
  const x509Authorities: X509Certificate[] = [];
  const jwtAuthorities: JWK[] = [];
  const kids = new Set<string>();
  set.keys.forEach((entry, index) => {
    if (typeof entry !== "object" || entry === null || Array.isArray(entry)) {
      problems.push(`keys[${index}] is not a JWK object`);
      return;
    }
    const jwk = entry as Record<string, unknown>;
    if (typeof jwk.kty !== "string") return;
    if (jwk.use === "x509-svid") {
      const certificate = x509Authority(jwk, `keys[${index}]`, problems);
      if (certificate) x509Authorities.push(certificate);
    } else if (jwk.use === "jwt-svid") {
      if (!JWT_SVID_KTY.has(jwk.kty)) return;
      const key = jwtAuthority(jwk, `keys[${index}]`, problems);
      if (!key) return;
      if (kids.has(key.kid!)) {
        problems.push(`keys[${index}]: kid '${key.kid}' is used twice`);
        return;
      }
      kids.add(key.kid!);
      jwtAuthorities.push(key);
    }
  });
  return {
    bundle: {
      trustDomain: domain,
      x509Authorities,
      jwtAuthorities,
      ...(sequence !== undefined ? { sequence } : {}),
      ...(refreshHintSeconds !== undefined ? { refreshHintSeconds } : {}),
    },
    problems,
  };
}

/** CA certificates from PEM text (Istio's `caCertificates[].pem`); every certificate must be a CA. */
export function parsePemAuthorities(pem: string): { certificates: X509Certificate[]; problems: string[] } {
  const ders = pemCertificatesToDer(pem);
  if (!ders) return { certificates: [], problems: ["the PEM text has a CERTIFICATE block that is not base64"] };
  if (ders.length === 0) return { certificates: [], problems: ["the PEM text has no CERTIFICATE block"] };
  const problems: string[] = [];
  const certificates: X509Certificate[] = [];
  ders.forEach((der, index) => {
    const certificate = caCertificate(der, `certificate ${index + 1}`, problems);
    if (certificate) certificates.push(certificate);
  });
  return { certificates, problems };
}

/** Merges bundles for the same trust domain (e.g. a SPIFFE bundle plus Istio `caCertificates`). */
export function mergeBundles(trustDomain: string, parts: readonly Pick<TrustBundle, "x509Authorities" | "jwtAuthorities">[]): TrustBundle {
  const x509: X509Certificate[] = [];
  const jwt: JWK[] = [];
  const fingerprints = new Set<string>();
  const kids = new Set<string>();
  for (const part of parts) {
    for (const certificate of part.x509Authorities) {
      const key = certificate.toString("base64");
      if (!fingerprints.has(key)) {
        fingerprints.add(key);
        x509.push(certificate);
      }
    }
    for (const key of part.jwtAuthorities) {
      if (!kids.has(key.kid!)) {
        kids.add(key.kid!);
        jwt.push(key);
      }
    }
  }
  return { trustDomain, x509Authorities: x509, jwtAuthorities: jwt };
}

function x509Authority(jwk: Record<string, unknown>, where: string, problems: string[]): X509Certificate | undefined {
  if ("kid" in jwk) problems.push(`${where}: an x509-svid key must not set 'kid' (accepted anyway)`);
  const x5c = jwk.x5c;
  // §6.2 of X509-SVID.md: without x5c the entry is ignored; only the first value counts.
  if (!Array.isArray(x5c) || x5c.length === 0 || typeof x5c[0] !== "string") return undefined;
  const der = base64ToBytes(x5c[0]);
  if (!der) {
    problems.push(`${where}: x5c[0] is not standard base64`);
    return undefined;
  }
  return caCertificate(der, `${where}.x5c[0]`, problems);
}

function caCertificate(der: Uint8Array<ArrayBuffer>, where: string, problems: string[]): X509Certificate | undefined {
  let certificate: X509Certificate;
  try {
    certificate = new X509Certificate(der);
  } catch (error) {
    problems.push(`${where}: not a DER X.509 certificate (${(error as Error).message})`);
    return undefined;
  }
  if (certificate.getExtension(BasicConstraintsExtension)?.ca !== true) {
    problems.push(`${where}: '${certificate.subject}' is not a CA certificate (basicConstraints cA=true)`);
    return undefined;
  }
  const keyUsage = certificate.getExtension(KeyUsagesExtension);
  if (keyUsage && (keyUsage.usages & KeyUsageFlags.keyCertSign) === 0) {
    problems.push(`${where}: '${certificate.subject}' cannot sign certificates (key usage lacks keyCertSign)`);
    return undefined;
  }
  return certificate;
}

function jwtAuthority(jwk: Record<string, unknown>, where: string, problems: string[]): JWK | undefined {
  if (typeof jwk.kid !== "string" || jwk.kid.length === 0) {
    problems.push(`${where}: a jwt-svid key must have a 'kid'`);
    return undefined;
  }
  for (const privateMember of ["d", "p", "q", "dp", "dq", "qi", "k"]) {
    if (privateMember in jwk) {
      problems.push(`${where}: jwt-svid key '${jwk.kid}' contains private key material ('${privateMember}'); a bundle holds public keys only`);
      return undefined;
    }
  }
  if (jwk.kty === "EC" && (typeof jwk.crv !== "string" || !EC_CURVES.has(jwk.crv) || typeof jwk.x !== "string" || typeof jwk.y !== "string")) {
    problems.push(`${where}: EC key '${jwk.kid}' needs crv (P-256, P-384 or P-521), x and y`);
    return undefined;
  }
  if (jwk.kty === "RSA" && (typeof jwk.n !== "string" || typeof jwk.e !== "string")) {
    problems.push(`${where}: RSA key '${jwk.kid}' needs n and e`);
    return undefined;
  }
  // jose only uses keys whose `use` is absent or "sig": keep the public members, drop `use`.
  const { use: _use, x5c: _x5c, x5u: _x5u, ...publicKey } = jwk;
  return publicKey as JWK;
}

function optionalInteger(value: unknown, name: string): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < 0) {
    throw new TrustBundleError("ERR_BUNDLE_MALFORMED", `${name} must be a non-negative integer`);
  }
  return value;
}
