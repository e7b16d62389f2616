import { importJWK, type JWK } from "jose";
import { jwtSvidKeyId } from "../../policies/identity/jwt-svid-key.js";
import { derToPem, pemCertificatesToDer } from "../../policies/identity/encoding.js";
import { createRootAuthority, generateSigningKeyPair, jwtSvidAuthority, spiffeBundleDocument, type Authority } from "../../policies/identity/issue.js";
import { parseSpiffeId } from "../../policies/identity/spiffe-id.js";
import { BasicConstraintsExtension, KeyUsageFlags, KeyUsagesExtension, SubjectAlternativeNameExtension, X509Certificate } from "../../policies/identity/x509-lib.js";
import { fromPem, privateKeyPem } from "./pem.js";

/**
 * The mesh CA's key material, loaded from the control worker's secrets:
 *
 * - `MESH_CA_KEY`: the signing CA's private key, PKCS#8 PEM, EC P-256 or P-384;
 * - `MESH_CA_CERT`: its certificate, PEM, optionally followed by the certificates above it up to
 *   the root; the **last** certificate is the trust anchor published in the bundle. The signing
 *   certificate must be a CA with keyCertSign whose one URI SAN is `spiffe://<trust domain>`:
 *   that SAN decides the trust domain the CA issues for;
 * - `MESH_JWT_SVID_KEY`: the JWT-SVID signing key, PKCS#8 PEM, EC P-256 (ES256). Its `kid` is
 *   its RFC 7638 thumbprint, so it names the key and cannot drift from it.
 *
 * Loading checks that the key belongs to the certificate (a signature made with the key must
 * verify with the certificate), so a mismatched pair is refused at load, not at the first issue.
 */

export interface CaSecrets {
  caKeyPem: string;
  caCertPem: string;
  jwtKeyPem: string;
}

export interface MeshCa {
  trustDomain: string;
  /** The signing authority (certificate + private key). */
  authority: Authority;
  /** Certificates sent after the leaf: the signing CA and any intermediates, without the root. */
  chain: X509Certificate[];
  /** The trust anchor (last certificate of MESH_CA_CERT). */
  root: X509Certificate;
  jwt: { privateKey: CryptoKey; kid: string; publicJwk: JWK };
  /** The SPIFFE bundle document (JWK Set) served at GET /v1/bundle. */
  bundle: { keys: JWK[]; spiffe_refresh_hint?: number };
}

export class CaConfigError extends TypeError {
  constructor(message: string) {
    super(`mesh CA: ${message}`);
    this.name = "CaConfigError";
  }
}

/** How long gateways may keep the bundle before fetching it again (when they fetch it). */
export const BUNDLE_REFRESH_HINT_SECONDS = 300;

export async function loadMeshCa(secrets: CaSecrets): Promise<MeshCa> {
  const ders = pemCertificatesToDer(secrets.caCertPem);
  if (!ders || ders.length === 0) throw new CaConfigError("MESH_CA_CERT holds no PEM CERTIFICATE block");
  const certificates = ders.map((der, index) => {
    try {
      return new X509Certificate(der);
    } catch (error) {
      throw new CaConfigError(`MESH_CA_CERT certificate ${index + 1} is not a DER X.509 certificate (${(error as Error).message})`);
    }
  });
  const signing = certificates[0]!;
  if (signing.getExtension(BasicConstraintsExtension)?.ca !== true) throw new CaConfigError(`'${signing.subject}' is not a CA certificate (basicConstraints cA=true)`);
  const usage = signing.getExtension(KeyUsagesExtension);
  if (usage && (usage.usages & KeyUsageFlags.keyCertSign) === 0) throw new CaConfigError(`'${signing.subject}' cannot sign certificates (key usage lacks keyCertSign)`);
  const uris = (signing.getExtension(SubjectAlternativeNameExtension)?.names.items ?? []).filter((name) => name.type === "url").map((name) => name.value);
  if (uris.length !== 1) throw new CaConfigError(`the CA certificate needs exactly one URI SAN, spiffe://<trust domain> (found ${uris.length})`);
  const id = parseSpiffeId(uris[0]!);
  if (id.path !== "") throw new CaConfigError(`the CA certificate's SPIFFE ID '${id.uri}' must name a trust domain, without a path (X509-SVID §3.2)`);

  const curve = (signing.publicKey.algorithm as KeyAlgorithm & { namedCurve?: string }).namedCurve;
  const alg = curve === "P-256" ? "ES256" : curve === "P-384" ? "ES384" : undefined;
  if (signing.publicKey.algorithm.name !== "ECDSA" || !alg) throw new CaConfigError("the CA key must be EC P-256 or P-384");
  const privateKey = await importPkcs8("MESH_CA_KEY", secrets.caKeyPem, { name: "ECDSA", namedCurve: curve! });
  const publicKey = await signing.publicKey.export({ name: "ECDSA", namedCurve: curve! }, ["verify"]);
  const probe = crypto.getRandomValues(new Uint8Array(32));
  const hash = alg === "ES256" ? "SHA-256" : "SHA-384";
  const signature = await crypto.subtle.sign({ name: "ECDSA", hash }, privateKey, probe);
  if (!(await crypto.subtle.verify({ name: "ECDSA", hash }, publicKey, signature, probe))) throw new CaConfigError("MESH_CA_KEY is not the private key of the certificate in MESH_CA_CERT");

  const jwtPrivate = await importPkcs8("MESH_JWT_SVID_KEY", secrets.jwtKeyPem, { name: "ECDSA", namedCurve: "P-256" }, true);
  const { kid, publicJwk: publicMembers } = await jwtSvidKeyId(jwtPrivate);
  const jwtPublic = (await importJWK({ ...publicMembers, alg: "ES256" }, "ES256")) as CryptoKey;
  const publicJwk = { ...(await jwtSvidAuthority(jwtPublic, kid)), alg: "ES256" };

  const root = certificates[certificates.length - 1]!;
  const bundle = await spiffeBundleDocument({ x509Authorities: [root], jwtAuthorities: [publicJwk], refreshHintSeconds: BUNDLE_REFRESH_HINT_SECONDS });
  return {
    trustDomain: id.trustDomain,
    authority: { trustDomain: id.trustDomain, certificate: signing, keys: { privateKey, publicKey }, alg },
    chain: certificates.length > 1 ? certificates.slice(0, -1) : [],
    root,
    jwt: { privateKey: jwtPrivate, kid, publicJwk },
    bundle,
  };
}

async function importPkcs8(name: string, pem: string, algorithm: EcKeyImportParams, extractable = false): Promise<CryptoKey> {
  const der = fromPem("PRIVATE KEY", pem);
  if (!der) throw new CaConfigError(`${name} must be a PKCS#8 PEM private key (-----BEGIN PRIVATE KEY-----)`);
  try {
    return await crypto.subtle.importKey("pkcs8", der, algorithm, extractable, ["sign"]);
  } catch (error) {
    throw new CaConfigError(`${name} is not an EC ${algorithm.namedCurve} PKCS#8 key (${(error as Error).message})`);
  }
}

/**
 * New CA secrets for a trust domain: a self-signed EC P-256 root (10 years) that signs SVIDs
 * itself, and a JWT-SVID key. What `npm start` generates on first start; Web Crypto only.
 */
export async function generateCaSecrets(trustDomain: string, now = Date.now()): Promise<CaSecrets> {
  const root = await createRootAuthority({ trustDomain, now, ttlMs: 10 * 365 * 86_400_000, subject: `O=${trustDomain}, CN=mesh CA` });
  const jwtKeys = await generateSigningKeyPair("ES256");
  return {
    caKeyPem: await privateKeyPem(root.keys.privateKey),
    caCertPem: derToPem(new Uint8Array(root.certificate.rawData)),
    jwtKeyPem: await privateKeyPem(jwtKeys.privateKey),
  };
}
