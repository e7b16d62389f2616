import { exportJWK } from "jose";
import { beforeAll, describe, expect, it } from "vitest";
import { TrustBundleError } from "../../../policies/identity/errors.js";
import { derToPem } from "../../../policies/identity/encoding.js";
import { generateSigningKeyPair } from "../../../policies/identity/issue.js";
import { mergeBundles, parsePemAuthorities, parseSpiffeBundle } from "../../../policies/identity/trust-bundle.js";
import { createTrustDomainPki, der, type TrustDomainPki } from "./pki.js";

/** SPIFFE bundles (SPIFFE_Trust_Domain_and_Bundle.md §4, X509-SVID §6, JWT-SVID §6). */

let acme: TrustDomainPki;
beforeAll(async () => {
  acme = await createTrustDomainPki("acme.test");
});

describe("parseSpiffeBundle", () => {
  it("extracts x509-svid CA certificates from x5c and jwt-svid keys by kid, with sequence and refresh hint", () => {
    const { bundle, problems } = parseSpiffeBundle("acme.test", { ...acme.bundleDocument, spiffe_refresh_hint: 300 });
    expect(problems).toEqual([]);
    expect(bundle.x509Authorities.map((certificate) => certificate.subject)).toEqual(["O=acme.test, CN=root"]);
    expect(bundle.jwtAuthorities.map((key) => key.kid)).toEqual([acme.jwtKid]);
    expect(bundle.jwtAuthorities[0]!.use).toBeUndefined();
    expect(bundle.sequence).toBe(1);
    expect(bundle.refreshHintSeconds).toBe(300);
  });

  it("ignores keys with a missing or unknown use or kty, and x509-svid keys without x5c (as the standard says)", () => {
    const { bundle, problems } = parseSpiffeBundle("acme.test", {
      keys: [{ kty: "EC", use: "sig", crv: "P-256", x: "a", y: "b", kid: "k" }, { kty: "EC", crv: "P-256", kid: "k2" }, { kty: "XYZ", use: "jwt-svid", kid: "k3" }, { kty: "EC", use: "x509-svid" }, { use: "jwt-svid", kid: "k4" }],
    });
    expect(bundle.x509Authorities).toEqual([]);
    expect(bundle.jwtAuthorities).toEqual([]);
    expect(problems).toEqual([]);
  });

  it("reports unusable keys: a non-CA certificate, a jwt-svid key without kid or with private material, a duplicate kid", async () => {
    const workload = await acme.workload("spiffe://acme.test/w");
    const keys = await generateSigningKeyPair();
    const privateJwk = { ...(await exportJWK(keys.privateKey)), kid: "private", use: "jwt-svid" };
    const { bundle, problems } = parseSpiffeBundle("acme.test", {
      keys: [
        { kty: "EC", use: "x509-svid", x5c: [Buffer.from(der(workload.leaf)).toString("base64")] },
        { kty: "EC", use: "x509-svid", x5c: ["not base64!"] },
        { ...acme.jwtAuthority, kid: undefined },
        privateJwk,
        acme.jwtAuthority,
        acme.jwtAuthority,
      ],
    });
    expect(bundle.jwtAuthorities).toHaveLength(1);
    expect(problems).toEqual([
      expect.stringContaining("is not a CA certificate"),
      expect.stringContaining("not standard base64"),
      expect.stringContaining("must have a 'kid'"),
      expect.stringContaining("private key material"),
      expect.stringContaining("used twice"),
    ]);
  });

  it("refuses a document that is not a JWK Set, and a bad sequence", () => {
    for (const document of [null, [], { keys: {} }, { keys: [], spiffe_sequence: -1 }, { keys: Array(65).fill({}) }]) {
      expect(() => parseSpiffeBundle("acme.test", document)).toThrow(TrustBundleError);
    }
    expect(() => parseSpiffeBundle("Not Valid", { keys: [] })).toThrow(/lowercase/);
  });
});

describe("parsePemAuthorities and mergeBundles", () => {
  it("reads CA certificates from PEM (Istio's caCertificates) and merges bundles without duplicates", async () => {
    const pem = derToPem(der(acme.root.certificate)) + derToPem(der(acme.intermediate.certificate));
    const { certificates, problems } = parsePemAuthorities(pem);
    expect(problems).toEqual([]);
    expect(certificates).toHaveLength(2);
    expect(parsePemAuthorities("no pem here").problems).toEqual(["the PEM text has no CERTIFICATE block"]);
    const merged = mergeBundles("acme.test", [acme.bundle, { x509Authorities: certificates, jwtAuthorities: [acme.jwtAuthority] }]);
    expect(merged.x509Authorities).toHaveLength(2);
    expect(merged.jwtAuthorities).toHaveLength(1);
  });
});
