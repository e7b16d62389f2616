import { exportJWK, SignJWT, type JWK, type JWTPayload } from "jose";
import { bytesToBase64, bytesToHex } from "./encoding.js";
import { parseSpiffeId, parseTrustDomain, type SpiffeId } from "./spiffe-id.js";
import {
  AuthorityKeyIdentifierExtension,
  BasicConstraintsExtension,
  ExtendedKeyUsage,
  ExtendedKeyUsageExtension,
  type Extension,
  KeyUsageFlags,
  KeyUsagesExtension,
  SubjectAlternativeNameExtension,
  SubjectKeyIdentifierExtension,
  X509Certificate,
  X509CertificateGenerator,
} from "./x509-lib.js";

/**
 * Pure issuing helpers: what a mesh CA needs to mint X.509-SVIDs and JWT-SVIDs from a CA key,
 * and what tests use to make good and deliberately bad certificates and tokens. Web Crypto
 * only; the time is always passed in. `createCertificate` is the low-level door (any key usage,
 * any SAN, CA or not); `createRootAuthority`, `createIntermediateAuthority` and `issueX509Svid`
 * produce certificates that follow the X.509-SVID standard.
 */

export type SigningAlgorithm = "ES256" | "ES384" | "ES512" | "RS256" | "RS384" | "RS512" | "PS256" | "PS384" | "PS512";

const KEY_PARAMS: Record<SigningAlgorithm, { generate: RsaHashedKeyGenParams | EcKeyGenParams; sign: Algorithm | EcdsaParams | RsaPssParams }> = {
  ES256: { generate: { name: "ECDSA", namedCurve: "P-256" }, sign: { name: "ECDSA", hash: "SHA-256" } as EcdsaParams },
  ES384: { generate: { name: "ECDSA", namedCurve: "P-384" }, sign: { name: "ECDSA", hash: "SHA-384" } as EcdsaParams },
  ES512: { generate: { name: "ECDSA", namedCurve: "P-521" }, sign: { name: "ECDSA", hash: "SHA-512" } as EcdsaParams },
  RS256: { generate: rsa("RSASSA-PKCS1-v1_5", "SHA-256"), sign: { name: "RSASSA-PKCS1-v1_5" } },
  RS384: { generate: rsa("RSASSA-PKCS1-v1_5", "SHA-384"), sign: { name: "RSASSA-PKCS1-v1_5" } },
  RS512: { generate: rsa("RSASSA-PKCS1-v1_5", "SHA-512"), sign: { name: "RSASSA-PKCS1-v1_5" } },
  PS256: { generate: rsa("RSA-PSS", "SHA-256"), sign: { name: "RSA-PSS", saltLength: 32 } as RsaPssParams },
  PS384: { generate: rsa("RSA-PSS", "SHA-384"), sign: { name: "RSA-PSS", saltLength: 48 } as RsaPssParams },
  PS512: { generate: rsa("RSA-PSS", "SHA-512"), sign: { name: "RSA-PSS", saltLength: 64 } as RsaPssParams },
};

function rsa(name: string, hash: string): RsaHashedKeyGenParams {
  return { name, hash, modulusLength: 2048, publicExponent: new Uint8Array([1, 0, 1]) };
}

/** A new extractable signing key pair for the algorithm (default ES256). */
export async function generateSigningKeyPair(alg: SigningAlgorithm = "ES256"): Promise<CryptoKeyPair> {
  return (await crypto.subtle.generateKey(KEY_PARAMS[alg].generate, true, ["sign", "verify"])) as CryptoKeyPair;
}

export interface Authority {
  trustDomain: string;
  certificate: X509Certificate;
  keys: CryptoKeyPair;
  alg: SigningAlgorithm;
}

export interface CertificateTemplate {
  /** RFC 4514 subject; `""` for none (then the SAN extension is marked critical, RFC 5280 §4.1.2.6). */
  subject: string;
  /** The signer; `"self"` for a self-signed certificate made with `keys`. */
  issuer: Authority | "self";
  /** The subject's key pair (its public key goes in the certificate; with `issuer: "self"` its private key signs). */
  keys: CryptoKeyPair;
  alg?: SigningAlgorithm;
  notBefore: Date;
  notAfter: Date;
  serialNumber?: string;
  /** basicConstraints: undefined omits the extension. */
  ca?: boolean;
  pathLength?: number;
  /** Key usage flags (KeyUsageFlags); null omits the extension. */
  keyUsage: number | null;
  /** Extended key usage OIDs; undefined omits the extension. */
  extendedKeyUsage?: string[];
  uris?: string[];
  dnsNames?: string[];
  /** Appended as given (e.g. a critical extension a verifier does not know). */
  extraExtensions?: Extension[];
}

/** The low-level certificate factory: anything X.509 allows, valid or not for SPIFFE. */
export async function createCertificate(template: CertificateTemplate): Promise<X509Certificate> {
  const signer = template.issuer === "self" ? undefined : template.issuer;
  const alg = signer?.alg ?? template.alg ?? "ES256";
  const extensions: Extension[] = [];
  if (template.ca !== undefined) extensions.push(new BasicConstraintsExtension(template.ca, template.pathLength, true));
  if (template.keyUsage !== null) extensions.push(new KeyUsagesExtension(template.keyUsage, true));
  if (template.extendedKeyUsage) extensions.push(new ExtendedKeyUsageExtension(template.extendedKeyUsage, false));
  const names = [...(template.uris ?? []).map((value) => ({ type: "url" as const, value })), ...(template.dnsNames ?? []).map((value) => ({ type: "dns" as const, value }))];
  if (names.length > 0) extensions.push(new SubjectAlternativeNameExtension(names, template.subject === ""));
  extensions.push(await SubjectKeyIdentifierExtension.create(template.keys.publicKey));
  if (signer) extensions.push(await AuthorityKeyIdentifierExtension.create(signer.keys.publicKey));
  extensions.push(...(template.extraExtensions ?? []));
  const common = {
    serialNumber: template.serialNumber ?? randomSerial(),
    notBefore: template.notBefore,
    notAfter: template.notAfter,
    signingAlgorithm: KEY_PARAMS[alg].sign,
    extensions,
  };
  if (!signer) return X509CertificateGenerator.createSelfSigned({ ...common, name: template.subject, keys: template.keys });
  return X509CertificateGenerator.create({
    ...common,
    subject: template.subject,
    issuer: signer.certificate.subjectName,
    publicKey: template.keys.publicKey,
    signingKey: signer.keys.privateKey,
  });
}

export interface RootAuthorityOptions {
  trustDomain: string;
  now: number;
  /** Default one year. */
  ttlMs?: number;
  alg?: SigningAlgorithm;
  keys?: CryptoKeyPair;
  subject?: string;
  pathLength?: number;
}

/** A self-signed root CA whose SVID is `spiffe://<trust domain>` (X509-SVID §3.2). */
export async function createRootAuthority(options: RootAuthorityOptions): Promise<Authority> {
  const trustDomain = parseTrustDomain(options.trustDomain);
  const alg = options.alg ?? "ES256";
  const keys = options.keys ?? (await generateSigningKeyPair(alg));
  const certificate = await createCertificate({
    subject: options.subject ?? `O=${trustDomain}, CN=root`,
    issuer: "self",
    keys,
    alg,
    notBefore: new Date(options.now - 60_000),
    notAfter: new Date(options.now + (options.ttlMs ?? 365 * 86_400_000)),
    ca: true,
    ...(options.pathLength !== undefined ? { pathLength: options.pathLength } : {}),
    keyUsage: KeyUsageFlags.keyCertSign | KeyUsageFlags.cRLSign,
    uris: [`spiffe://${trustDomain}`],
  });
  return { trustDomain, certificate, keys, alg };
}

export interface IntermediateAuthorityOptions {
  parent: Authority;
  now: number;
  /** Default 30 days, never past the parent's notAfter. */
  ttlMs?: number;
  keys?: CryptoKeyPair;
  subject?: string;
  pathLength?: number;
}

export async function createIntermediateAuthority(options: IntermediateAuthorityOptions): Promise<Authority> {
  const { parent } = options;
  const keys = options.keys ?? (await generateSigningKeyPair(parent.alg));
  const certificate = await createCertificate({
    subject: options.subject ?? `O=${parent.trustDomain}, CN=intermediate`,
    issuer: parent,
    keys,
    notBefore: new Date(options.now - 60_000),
    notAfter: capDate(options.now + (options.ttlMs ?? 30 * 86_400_000), parent.certificate.notAfter),
    ca: true,
    ...(options.pathLength !== undefined ? { pathLength: options.pathLength } : {}),
    keyUsage: KeyUsageFlags.keyCertSign | KeyUsageFlags.cRLSign,
    uris: [`spiffe://${parent.trustDomain}`],
  });
  return { trustDomain: parent.trustDomain, certificate, keys, alg: parent.alg };
}

export interface IssueX509SvidOptions {
  authority: Authority;
  /** A SPIFFE ID with a path, in the authority's trust domain. */
  spiffeId: string;
  /** The workload's public key (from its CSR or its own key pair). */
  publicKey: CryptoKey;
  now: number;
  /** Default one hour, never past the authority's notAfter. */
  ttlMs?: number;
  dnsNames?: string[];
  subject?: string;
}

/** An X.509-SVID per the standard: one URI SAN, cA=false, digitalSignature only, serverAuth+clientAuth. */
export async function issueX509Svid(options: IssueX509SvidOptions): Promise<X509Certificate> {
  const id = checkWorkloadId(options.spiffeId, options.authority.trustDomain);
  return createCertificate({
    subject: options.subject ?? "",
    issuer: options.authority,
    keys: { publicKey: options.publicKey, privateKey: options.authority.keys.privateKey },
    notBefore: new Date(options.now - 60_000),
    notAfter: capDate(options.now + (options.ttlMs ?? 3_600_000), options.authority.certificate.notAfter),
    ca: false,
    keyUsage: KeyUsageFlags.digitalSignature,
    extendedKeyUsage: [ExtendedKeyUsage.serverAuth, ExtendedKeyUsage.clientAuth],
    uris: [id.uri],
    ...(options.dnsNames ? { dnsNames: options.dnsNames } : {}),
  });
}

export interface IssueJwtSvidOptions {
  /** The trust domain's JWT signing key. */
  privateKey: CryptoKey;
  kid: string;
  alg?: SigningAlgorithm;
  spiffeId: string;
  audience: string | string[];
  now: number;
  /** Default 5 minutes. */
  ttlMs?: number;
  /** Extra claims (never overriding sub, aud, exp, iat). */
  claims?: JWTPayload;
  /** The trust domain the key belongs to; when given, the SPIFFE ID must be in it. */
  trustDomain?: string;
}

/** A JWT-SVID per the standard: header alg+kid+typ JWT; claims sub, aud, exp, iat. */
export async function issueJwtSvid(options: IssueJwtSvidOptions): Promise<string> {
  const id = checkWorkloadId(options.spiffeId, options.trustDomain);
  const audience = typeof options.audience === "string" ? [options.audience] : options.audience;
  if (audience.length === 0) throw new TypeError("a JWT-SVID needs at least one audience");
  const iat = Math.floor(options.now / 1000);
  return new SignJWT({ ...options.claims })
    .setProtectedHeader({ alg: options.alg ?? "ES256", kid: options.kid, typ: "JWT" })
    .setSubject(id.uri)
    .setAudience(audience.length === 1 ? audience[0]! : audience)
    .setIssuedAt(iat)
    .setExpirationTime(iat + Math.floor((options.ttlMs ?? 300_000) / 1000))
    .sign(options.privateKey);
}

/** The bundle entry of a JWT-SVID signing key: its public JWK with `kid` and `use: jwt-svid`. */
export async function jwtSvidAuthority(publicKey: CryptoKey, kid: string): Promise<JWK> {
  return { ...(await exportJWK(publicKey)), kid, use: "jwt-svid" };
}

/** A SPIFFE bundle document (JWK Set) holding CA certificates and JWT-SVID keys. */
export async function spiffeBundleDocument(options: {
  x509Authorities?: readonly X509Certificate[];
  jwtAuthorities?: readonly JWK[];
  sequence?: number;
  refreshHintSeconds?: number;
}): Promise<{ keys: JWK[]; spiffe_sequence?: number; spiffe_refresh_hint?: number }> {
  const keys: JWK[] = [];
  for (const certificate of options.x509Authorities ?? []) {
    const publicKey = await certificate.publicKey.export();
    keys.push({ ...(await exportJWK(publicKey)), use: "x509-svid", x5c: [bytesToBase64(new Uint8Array(certificate.rawData))] });
  }
  for (const key of options.jwtAuthorities ?? []) keys.push({ ...key, use: "jwt-svid" });
  return {
    keys,
    ...(options.sequence !== undefined ? { spiffe_sequence: options.sequence } : {}),
    ...(options.refreshHintSeconds !== undefined ? { spiffe_refresh_hint: options.refreshHintSeconds } : {}),
  };
}

function checkWorkloadId(text: string, trustDomain: string | undefined): SpiffeId {
  const id = parseSpiffeId(text);
  if (id.path === "") throw new TypeError(`a workload SVID needs a SPIFFE ID with a path (got '${text}')`);
  if (trustDomain !== undefined && id.trustDomain !== trustDomain) {
    throw new TypeError(`'${text}' is not in trust domain '${trustDomain}'`);
  }
  return id;
}

function capDate(ms: number, cap: Date): Date {
  return new Date(Math.min(ms, cap.getTime()));
}

function randomSerial(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  bytes[0]! &= 0x7f; // positive
  bytes[0]! |= 0x01; // and never zero-leading
  return bytesToHex(bytes);
}
