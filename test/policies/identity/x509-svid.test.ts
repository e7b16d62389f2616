import { beforeAll, describe, expect, it } from "vitest";
import { X509SvidError } from "../../../policies/identity/errors.js";
import { createCertificate, createIntermediateAuthority, createRootAuthority, generateSigningKeyPair, type Authority } from "../../../policies/identity/issue.js";
import type { BundleLookup, TrustBundle } from "../../../policies/identity/trust-bundle.js";
import { Extension, ExtendedKeyUsage, KeyUsageFlags, X509Certificate, X509CertificateGenerator } from "../../../policies/identity/x509-lib.js";
import { verifyX509Svid, type CertificateInput } from "../../../policies/identity/x509-svid.js";
import { createTrustDomainPki, der, NOW, type TrustDomainPki } from "./pki.js";

/**
 * X.509-SVID verification with certificates made here: a valid chain per shape, and one
 * certificate per rule that breaks exactly that rule.
 */

let acme: TrustDomainPki;
let partner: TrustDomainPki;
const HOUR = 3_600_000;
const ID = "spiffe://acme.test/ns/shop/sa/frontend";

beforeAll(async () => {
  [acme, partner] = await Promise.all([createTrustDomainPki("acme.test"), createTrustDomainPki("partner.test")]);
});

const lookup = (...bundles: TrustBundle[]): BundleLookup => (trustDomain) => bundles.find((bundle) => bundle.trustDomain === trustDomain);

async function verify(chain: CertificateInput[], options: { now?: number; clockSkewMs?: number; bundles?: BundleLookup } = {}) {
  return verifyX509Svid(chain, options.bundles ?? lookup(acme.bundle, partner.bundle), { now: options.now ?? NOW, ...(options.clockSkewMs !== undefined ? { clockSkewMs: options.clockSkewMs } : {}) });
}

async function rejection(chain: CertificateInput[], options: Parameters<typeof verify>[1] = {}): Promise<X509SvidError> {
  try {
    await verify(chain, options);
  } catch (error) {
    expect(error).toBeInstanceOf(X509SvidError);
    return error as X509SvidError;
  }
  throw new Error("expected the chain to be refused");
}

/** A leaf made by hand under `issuer`: the standard's defaults unless overridden. */
async function leaf(overrides: Partial<Parameters<typeof createCertificate>[0]> = {}, issuer: Authority = acme.intermediate): Promise<X509Certificate> {
  return createCertificate({
    subject: "",
    issuer,
    keys: await generateSigningKeyPair(),
    notBefore: new Date(NOW - HOUR),
    notAfter: new Date(NOW + HOUR),
    ca: false,
    keyUsage: KeyUsageFlags.digitalSignature,
    extendedKeyUsage: [ExtendedKeyUsage.serverAuth, ExtendedKeyUsage.clientAuth],
    uris: [ID],
    ...overrides,
  });
}

describe("valid X.509-SVIDs", () => {
  it("verifies leaf → intermediate → root, and reports the SPIFFE ID, hash, path and bundle", async () => {
    const workload = await acme.workload(ID);
    const verified = await verify(workload.chain.map(der));
    expect(verified.spiffeId.uri).toBe(ID);
    expect(verified.path.map((certificate) => certificate.subject)).toEqual(["", "O=acme.test, CN=intermediate", "O=acme.test, CN=root"]);
    expect(verified.hash).toMatch(/^[0-9a-f]{64}$/);
    expect(verified.bundle.trustDomain).toBe("acme.test");
  });

  it("verifies a leaf signed by the root directly, a chain that includes the root, and intermediates in any order", async () => {
    const direct = await acme.workload(ID, { direct: true });
    expect((await verify(direct.chain)).path).toHaveLength(2);
    const workload = await acme.workload(ID);
    expect((await verify([...workload.chain, acme.root.certificate])).spiffeId.uri).toBe(ID);
    const second = await createIntermediateAuthority({ parent: acme.intermediate, now: NOW, subject: "O=acme.test, CN=second" });
    const deep = await leaf({}, second);
    expect((await verify([deep, acme.intermediate.certificate, second.certificate])).path).toHaveLength(4);
  });

  it("tolerates the configured clock skew on validity windows, and no more", async () => {
    const workload = await acme.workload(ID, { ttlMs: HOUR });
    const expiry = workload.leaf.notAfter.getTime();
    expect((await verify(workload.chain, { now: expiry + 30_000 })).spiffeId.uri).toBe(ID);
    expect((await rejection(workload.chain, { now: expiry + 30_000, clockSkewMs: 0 })).code).toBe("ERR_SVID_EXPIRED");
    await expect(verifyX509Svid(workload.chain, lookup(acme.bundle), { now: NOW, clockSkewMs: 3_600_000 })).rejects.toThrow(TypeError);
  });
});

describe("one rejected certificate per rule", () => {
  it("ERR_SVID_LEAF_IS_CA: a CA certificate as the leaf", async () => {
    const error = await rejection([await leaf({ ca: true }), acme.intermediate.certificate]);
    expect(error.code).toBe("ERR_SVID_LEAF_IS_CA");
    expect(error.certificate).toBe(0);
  });

  it("ERR_SVID_LEAF_KEY_USAGE_MISSING / _NO_DIGITAL_SIGNATURE / _KEY_CERT_SIGN / _CRL_SIGN: the leaf's key usage", async () => {
    expect((await rejection([await leaf({ keyUsage: null }), acme.intermediate.certificate])).code).toBe("ERR_SVID_LEAF_KEY_USAGE_MISSING");
    expect((await rejection([await leaf({ keyUsage: KeyUsageFlags.keyEncipherment }), acme.intermediate.certificate])).code).toBe("ERR_SVID_LEAF_NO_DIGITAL_SIGNATURE");
    expect((await rejection([await leaf({ keyUsage: KeyUsageFlags.digitalSignature | KeyUsageFlags.keyCertSign }), acme.intermediate.certificate])).code).toBe("ERR_SVID_LEAF_KEY_CERT_SIGN");
    expect((await rejection([await leaf({ keyUsage: KeyUsageFlags.digitalSignature | KeyUsageFlags.cRLSign }), acme.intermediate.certificate])).code).toBe("ERR_SVID_LEAF_CRL_SIGN");
  });

  it("ERR_SVID_LEAF_EXTENDED_KEY_USAGE: an extended key usage without clientAuth", async () => {
    expect((await rejection([await leaf({ extendedKeyUsage: [ExtendedKeyUsage.serverAuth] }), acme.intermediate.certificate])).code).toBe("ERR_SVID_LEAF_EXTENDED_KEY_USAGE");
    // No extended key usage at all is allowed (the standard says SHOULD include it).
    const withoutEku = await leaf({ extendedKeyUsage: undefined });
    expect(withoutEku.extensions.map((extension) => extension.type)).not.toContain("2.5.29.37");
    expect((await verify([withoutEku, acme.intermediate.certificate])).spiffeId.uri).toBe(ID);
  });

  it("ERR_SVID_URI_SAN_MULTIPLE / _MISSING / ERR_SVID_SPIFFE_ID_INVALID / ERR_SVID_LEAF_ID_NO_PATH: the leaf's URI SAN", async () => {
    expect((await rejection([await leaf({ uris: [ID, "spiffe://acme.test/ns/shop/sa/admin"] }), acme.intermediate.certificate])).code).toBe("ERR_SVID_URI_SAN_MULTIPLE");
    expect((await rejection([await leaf({ uris: [], dnsNames: ["frontend.acme.test"], subject: "CN=frontend" }), acme.intermediate.certificate])).code).toBe("ERR_SVID_URI_SAN_MISSING");
    const invalid = await rejection([await leaf({ uris: ["spiffe://acme.test/ns//x"] }), acme.intermediate.certificate]);
    expect(invalid.code).toBe("ERR_SVID_SPIFFE_ID_INVALID");
    expect(invalid.message).toContain("ERR_SPIFFE_ID_PATH_EMPTY_SEGMENT");
    expect((await rejection([await leaf({ uris: ["https://acme.test/frontend"] }), acme.intermediate.certificate])).code).toBe("ERR_SVID_SPIFFE_ID_INVALID");
    expect((await rejection([await leaf({ uris: ["spiffe://acme.test"] }), acme.intermediate.certificate])).code).toBe("ERR_SVID_LEAF_ID_NO_PATH");
  });

  it("ERR_SVID_EXPIRED / ERR_SVID_NOT_YET_VALID: the leaf's validity window", async () => {
    const expired = await leaf({ notBefore: new Date(NOW - 3 * HOUR), notAfter: new Date(NOW - 2 * HOUR) });
    expect((await rejection([expired, acme.intermediate.certificate])).code).toBe("ERR_SVID_EXPIRED");
    const future = await leaf({ notBefore: new Date(NOW + 2 * HOUR), notAfter: new Date(NOW + 3 * HOUR) });
    expect((await rejection([future, acme.intermediate.certificate])).code).toBe("ERR_SVID_NOT_YET_VALID");
  });

  it("ERR_SVID_EXPIRED on an intermediate and on the trust anchor", async () => {
    const lapsed = await createIntermediateAuthority({ parent: acme.root, now: NOW - 10 * 86_400_000, ttlMs: 86_400_000 });
    const error = await rejection([await leaf({}, lapsed), lapsed.certificate]);
    expect(error.code).toBe("ERR_SVID_EXPIRED");
    expect(error.certificate).toBe(1);
    const oldRoot = await createRootAuthority({ trustDomain: "old.test", now: NOW - 10 * 86_400_000, ttlMs: 86_400_000 });
    const oldBundle: TrustBundle = { trustDomain: "old.test", x509Authorities: [oldRoot.certificate], jwtAuthorities: [] };
    const underOld = await leaf({ uris: ["spiffe://old.test/w"] }, oldRoot);
    expect((await rejection([underOld], { bundles: lookup(oldBundle) })).code).toBe("ERR_SVID_EXPIRED");
  });

  it("ERR_SVID_UNTRUSTED: a leaf claiming another trust domain than its signer's; ERR_SVID_NO_BUNDLE: a trust domain without a bundle", async () => {
    const wrongDomain = await leaf({ uris: ["spiffe://partner.test/ns/x/sa/y"] });
    expect((await rejection([wrongDomain, acme.intermediate.certificate])).code).toBe("ERR_SVID_UNTRUSTED");
    expect((await rejection([wrongDomain, acme.intermediate.certificate], { bundles: lookup(acme.bundle) })).code).toBe("ERR_SVID_NO_BUNDLE");
    const partnerWorkload = await partner.workload("spiffe://partner.test/ns/x/sa/y");
    expect((await verify(partnerWorkload.chain)).spiffeId.trustDomain).toBe("partner.test");
    // A chain without its intermediate has no path to the bundle.
    expect((await rejection([partnerWorkload.leaf])).code).toBe("ERR_SVID_UNTRUSTED");
  });

  it("ERR_SVID_SIGNATURE: a broken signature, and a look-alike CA with the real CA's name", async () => {
    const workload = await acme.workload(ID);
    const broken = der(workload.leaf).slice();
    broken[broken.length - 2]! ^= 0xff;
    expect((await rejection([broken, der(acme.intermediate.certificate)])).code).toBe("ERR_SVID_SIGNATURE");
    const impostor = await createRootAuthority({ trustDomain: "acme.test", now: NOW, subject: "O=acme.test, CN=root" });
    expect((await rejection([await leaf({}, impostor)])).code).toBe("ERR_SVID_SIGNATURE");
  });

  it("ERR_SVID_SIGNING_CERT_NOT_CA / _NO_KEY_CERT_SIGN / _ID_HAS_PATH: what signs must be a CA", async () => {
    const keys = await generateSigningKeyPair();
    const notCa = await createCertificate({
      subject: "O=acme.test, CN=not-a-ca",
      issuer: acme.root,
      keys,
      notBefore: new Date(NOW - HOUR),
      notAfter: new Date(NOW + HOUR),
      ca: false,
      keyUsage: KeyUsageFlags.digitalSignature | KeyUsageFlags.keyCertSign,
    });
    const asAuthority: Authority = { trustDomain: "acme.test", certificate: notCa, keys, alg: "ES256" };
    expect((await rejection([await leaf({}, asAuthority), notCa])).code).toBe("ERR_SVID_SIGNING_CERT_NOT_CA");

    const noCertSign = await createCertificate({ ...baseCa(keys, "no-cert-sign"), keyUsage: KeyUsageFlags.cRLSign });
    expect((await rejection([await leaf({}, { ...asAuthority, certificate: noCertSign }), noCertSign])).code).toBe("ERR_SVID_SIGNING_CERT_NO_KEY_CERT_SIGN");

    const withPath = await createCertificate({ ...baseCa(keys, "with-path"), uris: ["spiffe://acme.test/ca/intermediate"] });
    expect((await rejection([await leaf({}, { ...asAuthority, certificate: withPath }), withPath])).code).toBe("ERR_SVID_SIGNING_CERT_ID_HAS_PATH");
  });

  it("ERR_SVID_PATH_LENGTH: an intermediate below a CA whose pathLenConstraint is 0", async () => {
    const root = await createRootAuthority({ trustDomain: "short.test", now: NOW, pathLength: 0 });
    const intermediate = await createIntermediateAuthority({ parent: root, now: NOW });
    const bundle: TrustBundle = { trustDomain: "short.test", x509Authorities: [root.certificate], jwtAuthorities: [] };
    const error = await rejection([await leaf({ uris: ["spiffe://short.test/w"] }, intermediate), intermediate.certificate], { bundles: lookup(bundle) });
    expect(error.code).toBe("ERR_SVID_PATH_LENGTH");
  });

  it("ERR_SVID_UNSUPPORTED_CRITICAL_EXTENSION: a critical extension the verifier does not implement (e.g. name constraints)", async () => {
    const critical = new Extension("2.5.29.30", true, new Uint8Array([0x30, 0x00]));
    expect((await rejection([await leaf({ extraExtensions: [critical] }), acme.intermediate.certificate])).code).toBe("ERR_SVID_UNSUPPORTED_CRITICAL_EXTENSION");
    // The same extension, not critical, is ignored (RFC 5280).
    const optional = new Extension("1.3.6.1.4.1.99999.1", false, new Uint8Array([0x05, 0x00]));
    expect((await verify([await leaf({ extraExtensions: [optional] }), acme.intermediate.certificate])).spiffeId.uri).toBe(ID);
  });

  it("ERR_SVID_SIGNATURE_ALGORITHM: a SHA-1 signature", async () => {
    const keys = await generateSigningKeyPair();
    const sha1 = await X509CertificateGenerator.create({
      serialNumber: "0a",
      subject: "",
      issuer: acme.intermediate.certificate.subjectName,
      notBefore: new Date(NOW - HOUR),
      notAfter: new Date(NOW + HOUR),
      publicKey: keys.publicKey,
      signingKey: acme.intermediate.keys.privateKey,
      signingAlgorithm: { name: "ECDSA", hash: "SHA-1" } as EcdsaParams,
      extensions: (await leaf()).extensions,
    });
    expect((await rejection([sha1, acme.intermediate.certificate])).code).toBe("ERR_SVID_SIGNATURE_ALGORITHM");
  });

  it("ERR_SVID_CHAIN_EMPTY / _CHAIN_TOO_LONG / ERR_SVID_MALFORMED: the presented chain itself", async () => {
    expect((await rejection([])).code).toBe("ERR_SVID_CHAIN_EMPTY");
    const workload = await acme.workload(ID);
    expect((await rejection(Array(9).fill(workload.leaf))).code).toBe("ERR_SVID_CHAIN_TOO_LONG");
    expect((await rejection([new Uint8Array([0x30, 0x03, 0x02, 0x01, 0x01])])).code).toBe("ERR_SVID_MALFORMED");
    expect((await rejection([new Uint8Array(20_000)])).code).toBe("ERR_SVID_MALFORMED");
  });
});

describe("bundle refresh", () => {
  it("asks the bundle source once for a newer bundle when no path verifies, and uses it", async () => {
    const rotated = await createRootAuthority({ trustDomain: "acme.test", now: NOW, subject: "O=acme.test, CN=root-2" });
    const newBundle: TrustBundle = { ...acme.bundle, x509Authorities: [...acme.bundle.x509Authorities, rotated.certificate] };
    const calls: (boolean | undefined)[] = [];
    const source: BundleLookup = (_domain, options) => {
      calls.push(options?.refresh);
      return options?.refresh ? newBundle : acme.bundle;
    };
    const underRotated = await leaf({}, rotated);
    expect((await verify([underRotated], { bundles: source })).bundle).toBe(newBundle);
    expect(calls).toEqual([undefined, true]);
  });
});

function baseCa(keys: CryptoKeyPair, name: string) {
  return {
    subject: `O=acme.test, CN=${name}`,
    issuer: acme.root,
    keys,
    notBefore: new Date(NOW - HOUR),
    notAfter: new Date(NOW + HOUR),
    ca: true,
    keyUsage: KeyUsageFlags.keyCertSign,
  };
}
