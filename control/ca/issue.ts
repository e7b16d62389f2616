import { issueJwtSvid, createCertificate } from "../../policies/identity/issue.js";
import { derToPem } from "../../policies/identity/encoding.js";
import { SpiffeIdError } from "../../policies/identity/errors.js";
import { parseSpiffeId, type SpiffeId } from "../../policies/identity/spiffe-id.js";
import { ExtendedKeyUsage, KeyUsageFlags, Pkcs10CertificateRequest } from "../../policies/identity/x509-lib.js";
import type { MeshCa } from "./authority.js";

/**
 * What the mesh CA issues, from a request that is already authorized:
 *
 * - an X.509-SVID from a PKCS#10 CSR: the CSR's self-signature must verify (proof that the caller
 *   holds the key); only its public key is used — its subject, SANs and requested extensions
 *   are ignored. The certificate has an empty subject, exactly one URI SAN (the SPIFFE ID,
 *   critical as the subject is empty), basicConstraints cA=false, keyUsage digitalSignature
 *   (+ keyEncipherment for RSA keys), extendedKeyUsage serverAuth+clientAuth, a random 128-bit
 *   serial, the CA as issuer, notBefore 60 s back, and notAfter within the TTL and the CA's own;
 * - a JWT-SVID: ES256 with the bundle's `kid`, `sub` the SPIFFE ID, `aud` the audiences, `iat`,
 *   `exp` within the TTL.
 *
 * Refusals are CaRequestError with a stable code; the API answers them as 400 `bad_request`.
 */

export const X509_SVID_TTL = { defaultSeconds: 3600, maxSeconds: 86_400 } as const;
export const JWT_SVID_TTL = { defaultSeconds: 300, maxSeconds: 3600 } as const;
/** A CSR is small; anything bigger is not one. */
export const MAX_CSR_BYTES = 16 * 1024;

export type CaRequestErrorCode =
  | "ERR_CA_SPIFFE_ID_INVALID"
  | "ERR_CA_SPIFFE_ID_TRUST_DOMAIN"
  | "ERR_CA_CSR_MALFORMED"
  | "ERR_CA_CSR_SIGNATURE"
  | "ERR_CA_CSR_KEY"
  | "ERR_CA_TTL_TOO_LONG"
  | "ERR_CA_AUDIENCE_MISSING"
  | "ERR_CA_EXPIRED";

export class CaRequestError extends Error {
  constructor(
    readonly code: CaRequestErrorCode,
    message: string,
  ) {
    super(message);
    this.name = "CaRequestError";
  }
}

/** A workload SPIFFE ID (with a path) of the CA's trust domain. */
export function checkRequestedId(ca: MeshCa, text: string): SpiffeId {
  let id: SpiffeId;
  try {
    id = parseSpiffeId(text);
  } catch (error) {
    throw new CaRequestError("ERR_CA_SPIFFE_ID_INVALID", `'${text}' is not a valid SPIFFE ID (${error instanceof SpiffeIdError ? `${error.code}: ${error.message}` : String(error)})`);
  }
  if (id.path === "") throw new CaRequestError("ERR_CA_SPIFFE_ID_INVALID", `'${text}' names a trust domain; a workload SVID needs a path (spiffe://${id.trustDomain}/ns/<ns>/sa/<sa>)`);
  if (id.trustDomain !== ca.trustDomain) throw new CaRequestError("ERR_CA_SPIFFE_ID_TRUST_DOMAIN", `'${text}' is not in this CA's trust domain '${ca.trustDomain}'`);
  return id;
}

export function ttlMs(requested: number | undefined, limits: { defaultSeconds: number; maxSeconds: number }): number {
  const seconds = requested ?? limits.defaultSeconds;
  if (seconds > limits.maxSeconds) throw new CaRequestError("ERR_CA_TTL_TOO_LONG", `ttlSeconds ${seconds} is longer than the most this CA issues (${limits.maxSeconds})`);
  return seconds * 1000;
}

export interface IssuedX509Svid {
  spiffeId: string;
  /** The leaf, PEM. */
  certificate: string;
  /** The leaf then the intermediates up to (not including) the root, PEM: what a workload presents. */
  chain: string;
  /** The trust anchor, PEM. */
  bundle: string;
  serialNumber: string;
  notBefore: string;
  expiresAt: string;
}

export async function issueX509SvidFromCsr(ca: MeshCa, request: { csr: string; spiffeId: string; ttlSeconds?: number }, now: number): Promise<IssuedX509Svid> {
  const id = checkRequestedId(ca, request.spiffeId);
  const lifetime = ttlMs(request.ttlSeconds, X509_SVID_TTL);
  if (request.csr.length > MAX_CSR_BYTES) throw new CaRequestError("ERR_CA_CSR_MALFORMED", `the CSR is larger than ${MAX_CSR_BYTES} bytes`);
  if (!/-----BEGIN (NEW )?CERTIFICATE REQUEST-----/.test(request.csr)) throw new CaRequestError("ERR_CA_CSR_MALFORMED", "csr must be a PEM PKCS#10 request (-----BEGIN CERTIFICATE REQUEST-----)");
  let csr: Pkcs10CertificateRequest;
  try {
    csr = new Pkcs10CertificateRequest(request.csr.replace(/NEW CERTIFICATE REQUEST/g, "CERTIFICATE REQUEST"));
  } catch (error) {
    throw new CaRequestError("ERR_CA_CSR_MALFORMED", `the CSR cannot be parsed (${(error as Error).message})`);
  }
  const algorithm = csr.publicKey.algorithm as Algorithm & { namedCurve?: string; modulusLength?: number };
  const rsa = algorithm.name === "RSASSA-PKCS1-v1_5" || algorithm.name === "RSA-PSS";
  const ecOk = algorithm.name === "ECDSA" && (algorithm.namedCurve === "P-256" || algorithm.namedCurve === "P-384");
  const rsaOk = rsa && (algorithm.modulusLength ?? 0) >= 2048 && (algorithm.modulusLength ?? 0) <= 8192;
  if (!ecOk && !rsaOk) throw new CaRequestError("ERR_CA_CSR_KEY", `the CSR's key must be EC P-256/P-384 or RSA 2048-8192 (got ${algorithm.name}${algorithm.namedCurve ? ` ${algorithm.namedCurve}` : ""}${algorithm.modulusLength ? ` ${algorithm.modulusLength}` : ""})`);
  let verified = false;
  try {
    verified = await csr.verify();
  } catch {
    verified = false;
  }
  if (!verified) throw new CaRequestError("ERR_CA_CSR_SIGNATURE", "the CSR's signature does not verify with its own public key (no proof of possession)");
  if (ca.authority.certificate.notAfter.getTime() <= now) throw new CaRequestError("ERR_CA_EXPIRED", "the CA certificate has expired; rotate MESH_CA_CERT");

  const publicKey = await csr.publicKey.export();
  const leaf = await createCertificate({
    subject: "",
    issuer: ca.authority,
    keys: { publicKey, privateKey: ca.authority.keys.privateKey },
    notBefore: new Date(now - 60_000),
    notAfter: new Date(Math.min(now + lifetime, ca.authority.certificate.notAfter.getTime())),
    ca: false,
    keyUsage: KeyUsageFlags.digitalSignature | (rsa ? KeyUsageFlags.keyEncipherment : 0),
    extendedKeyUsage: [ExtendedKeyUsage.serverAuth, ExtendedKeyUsage.clientAuth],
    uris: [id.uri],
  });
  const pem = derToPem(new Uint8Array(leaf.rawData));
  return {
    spiffeId: id.uri,
    certificate: pem,
    chain: pem + ca.chain.map((certificate) => derToPem(new Uint8Array(certificate.rawData))).join(""),
    bundle: derToPem(new Uint8Array(ca.root.rawData)),
    serialNumber: leaf.serialNumber,
    notBefore: leaf.notBefore.toISOString(),
    expiresAt: leaf.notAfter.toISOString(),
  };
}

export interface IssuedJwtSvid {
  spiffeId: string;
  token: string;
  audience: string[];
  expiresAt: string;
}

export async function issueJwtSvidFor(ca: MeshCa, request: { spiffeId: string; audience: readonly string[]; ttlSeconds?: number }, now: number): Promise<IssuedJwtSvid> {
  const id = checkRequestedId(ca, request.spiffeId);
  const lifetime = ttlMs(request.ttlSeconds, JWT_SVID_TTL);
  const audience = [...new Set(request.audience)];
  if (audience.length === 0) throw new CaRequestError("ERR_CA_AUDIENCE_MISSING", "a JWT-SVID needs at least one audience (JWT-SVID §3.2)");
  const token = await issueJwtSvid({ privateKey: ca.jwt.privateKey, kid: ca.jwt.kid, alg: "ES256", spiffeId: id.uri, audience, now, ttlMs: lifetime, trustDomain: ca.trustDomain });
  return { spiffeId: id.uri, token, audience, expiresAt: new Date((Math.floor(now / 1000) + Math.floor(lifetime / 1000)) * 1000).toISOString() };
}
