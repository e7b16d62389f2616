import type { JWK } from "jose";
import {
  createIntermediateAuthority,
  createRootAuthority,
  generateSigningKeyPair,
  issueJwtSvid,
  issueX509Svid,
  jwtSvidAuthority,
  spiffeBundleDocument,
  type Authority,
} from "../../../policies/identity/issue.js";
import { derToPem } from "../../../policies/identity/encoding.js";
import { parseSpiffeBundle, type TrustBundle } from "../../../policies/identity/trust-bundle.js";
import type { X509Certificate } from "../../../policies/identity/x509-lib.js";

/**
 * A test PKI with real keys and signatures: a trust domain's root CA, an intermediate, a JWT-SVID
 * signing key, workload SVIDs, and the SPIFFE bundle that trusts them. Keys are ECDSA P-256
 * (fast to make); everything is generated at test time, nothing is checked in.
 */

export const NOW = Date.UTC(2026, 5, 1, 12, 0, 0);

export interface TrustDomainPki {
  trustDomain: string;
  root: Authority;
  intermediate: Authority;
  jwtKeys: CryptoKeyPair;
  jwtKid: string;
  jwtAuthority: JWK;
  /** The SPIFFE bundle document (JWK Set) for the trust domain. */
  bundleDocument: Awaited<ReturnType<typeof spiffeBundleDocument>>;
  bundle: TrustBundle;
  /** A workload X.509-SVID issued by the intermediate, with its key pair; `chain` is leaf then intermediate. */
  workload(spiffeId: string, options?: { now?: number; ttlMs?: number; direct?: boolean }): Promise<Workload>;
  /** A JWT-SVID signed with the trust domain's JWT key. */
  jwtSvid(spiffeId: string, audience: string | string[], options?: { now?: number; ttlMs?: number; claims?: Record<string, unknown> }): Promise<string>;
}

export interface Workload {
  spiffeId: string;
  keys: CryptoKeyPair;
  leaf: X509Certificate;
  chain: X509Certificate[];
  /** PEM of the leaf, and of leaf + intermediate. */
  certPem: string;
  chainPem: string;
  /** PKCS#8 PEM of the private key (for Node's tls). */
  keyPem: string;
}

export async function createTrustDomainPki(trustDomain: string, now = NOW): Promise<TrustDomainPki> {
  const root = await createRootAuthority({ trustDomain, now });
  const intermediate = await createIntermediateAuthority({ parent: root, now });
  const jwtKeys = await generateSigningKeyPair("ES256");
  const jwtKid = `${trustDomain}-jwt-1`;
  const jwtAuthority = await jwtSvidAuthority(jwtKeys.publicKey, jwtKid);
  const bundleDocument = await spiffeBundleDocument({ x509Authorities: [root.certificate], jwtAuthorities: [jwtAuthority], sequence: 1 });
  const bundle = parseSpiffeBundle(trustDomain, JSON.parse(JSON.stringify(bundleDocument))).bundle;
  return {
    trustDomain,
    root,
    intermediate,
    jwtKeys,
    jwtKid,
    jwtAuthority,
    bundleDocument,
    bundle,
    async workload(spiffeId, options = {}) {
      const keys = await generateSigningKeyPair("ES256");
      const authority = options.direct ? root : intermediate;
      const leaf = await issueX509Svid({ authority, spiffeId, publicKey: keys.publicKey, now: options.now ?? now, ...(options.ttlMs !== undefined ? { ttlMs: options.ttlMs } : {}) });
      const chain = options.direct ? [leaf] : [leaf, intermediate.certificate];
      return {
        spiffeId,
        keys,
        leaf,
        chain,
        certPem: derToPem(new Uint8Array(leaf.rawData)),
        chainPem: chain.map((certificate) => derToPem(new Uint8Array(certificate.rawData))).join(""),
        keyPem: await privateKeyPem(keys.privateKey),
      };
    },
    jwtSvid(spiffeId, audience, options = {}) {
      return issueJwtSvid({
        privateKey: jwtKeys.privateKey,
        kid: jwtKid,
        spiffeId,
        audience,
        now: options.now ?? now,
        ...(options.ttlMs !== undefined ? { ttlMs: options.ttlMs } : {}),
        ...(options.claims ? { claims: options.claims } : {}),
      });
    },
  };
}

export async function privateKeyPem(key: CryptoKey): Promise<string> {
  const pkcs8 = new Uint8Array(await crypto.subtle.exportKey("pkcs8", key));
  const base64 = Buffer.from(pkcs8).toString("base64");
  return `-----BEGIN PRIVATE KEY-----\n${base64.match(/.{1,64}/g)!.join("\n")}\n-----END PRIVATE KEY-----\n`;
}

export function der(certificate: X509Certificate): Uint8Array<ArrayBuffer> {
  return new Uint8Array(certificate.rawData);
}
