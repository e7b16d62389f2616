import { base64url, exportJWK, SignJWT, UnsecuredJWT } from "jose";
import { beforeAll, describe, expect, it } from "vitest";
import { JwtError } from "../../../policies/identity/errors.js";
import { generateSigningKeyPair, jwtSvidAuthority } from "../../../policies/identity/issue.js";
import { verifyJwtSvid } from "../../../policies/identity/jwt-svid.js";
import type { BundleLookup, TrustBundle } from "../../../policies/identity/trust-bundle.js";
import { createTrustDomainPki, NOW, type TrustDomainPki } from "./pki.js";

/** JWT-SVID verification against tokens of every bad kind, signed with real keys. */

let acme: TrustDomainPki;
let partner: TrustDomainPki;
let attacker: CryptoKeyPair;
const SUB = "spiffe://acme.test/ns/shop/sa/frontend";
const AUD = "spiffe://acme.test/ns/istio-system/sa/gateway";
const NOW_S = Math.floor(NOW / 1000);

beforeAll(async () => {
  [acme, partner, attacker] = await Promise.all([createTrustDomainPki("acme.test"), createTrustDomainPki("partner.test"), generateSigningKeyPair("ES256")]);
});

const lookup = (...bundles: TrustBundle[]): BundleLookup => (trustDomain) => bundles.find((bundle) => bundle.trustDomain === trustDomain);

async function codeOf(token: string, options: { audience?: string | string[]; now?: number; bundles?: BundleLookup } = {}): Promise<string> {
  try {
    await verifyJwtSvid(token, options.bundles ?? lookup(acme.bundle, partner.bundle), { audience: options.audience ?? AUD, now: options.now ?? NOW });
  } catch (error) {
    expect(error).toBeInstanceOf(JwtError);
    return (error as JwtError).code;
  }
  return "valid";
}

/** Signs any header and claims with a key, for tokens the issuing helpers would never make. */
function sign(header: Record<string, unknown>, claims: Record<string, unknown>, key: CryptoKey | Uint8Array) {
  return new SignJWT(claims).setProtectedHeader(header as never).sign(key);
}

const claims = (extra: Record<string, unknown> = {}) => ({ sub: SUB, aud: AUD, exp: NOW_S + 300, iat: NOW_S, ...extra });

describe("valid JWT-SVIDs", () => {
  it("verifies one issued by the trust domain's key, and returns its SPIFFE ID and expiry", async () => {
    const token = await acme.jwtSvid(SUB, AUD);
    const verified = await verifyJwtSvid(token, lookup(acme.bundle), { audience: AUD, now: NOW });
    expect(verified.spiffeId.uri).toBe(SUB);
    expect(verified.expiresAt).toBe((NOW_S + 300) * 1000);
  });

  it("accepts RS256, PS384 and ES512 keys, and an audience list containing the expected one", async () => {
    for (const alg of ["RS256", "PS384", "ES512"] as const) {
      const keys = await generateSigningKeyPair(alg);
      const bundle: TrustBundle = { trustDomain: "acme.test", x509Authorities: [], jwtAuthorities: [await stripUse(await jwtSvidAuthority(keys.publicKey, alg))] };
      const token = await sign({ alg, kid: alg, typ: "JWT" }, claims({ aud: ["other", AUD] }), keys.privateKey);
      expect(await codeOf(token, { bundles: lookup(bundle) }), alg).toBe("valid");
    }
  });

  it("honours nbf and iat within the clock skew", async () => {
    const token = await sign({ alg: "ES256", kid: acme.jwtKid }, claims({ nbf: NOW_S + 30, iat: NOW_S + 30 }), acme.jwtKeys.privateKey);
    expect(await codeOf(token)).toBe("valid");
  });

  it("refreshes the bundle once on an unknown kid (a rotated key) and accepts the token", async () => {
    const rotated = await generateSigningKeyPair();
    const next: TrustBundle = { ...acme.bundle, jwtAuthorities: [...acme.bundle.jwtAuthorities, stripUse(await jwtSvidAuthority(rotated.publicKey, "rotated"))] };
    const calls: (boolean | undefined)[] = [];
    const source: BundleLookup = (_domain, options) => {
      calls.push(options?.refresh);
      return options?.refresh ? next : acme.bundle;
    };
    const token = await sign({ alg: "ES256", kid: "rotated" }, claims(), rotated.privateKey);
    expect(await codeOf(token, { bundles: source })).toBe("valid");
    expect(calls).toEqual([undefined, true]);
  });
});

describe("tokens of every bad kind", () => {
  it("ERR_JWT_ALGORITHM: alg none", async () => {
    const token = new UnsecuredJWT(claims()).encode();
    expect(await codeOf(token)).toBe("ERR_JWT_ALGORITHM");
  });

  it("ERR_JWT_ALGORITHM: HS256 signed with the trusted public key as the HMAC secret", async () => {
    const publicJwk = await exportJWK(acme.jwtKeys.publicKey);
    const secret = new TextEncoder().encode(JSON.stringify(publicJwk));
    const token = await sign({ alg: "HS256", kid: acme.jwtKid }, claims(), secret);
    expect(await codeOf(token)).toBe("ERR_JWT_ALGORITHM");
    expect(await codeOf(await sign({ alg: "EdDSA", kid: acme.jwtKid }, claims(), (await crypto.subtle.generateKey({ name: "Ed25519" }, true, ["sign"]) as CryptoKeyPair).privateKey))).toBe("ERR_JWT_ALGORITHM");
  });

  it("ERR_JWT_AUDIENCE: a wrong aud, and no aud", async () => {
    expect(await codeOf(await acme.jwtSvid(SUB, "spiffe://acme.test/ns/other/sa/service"))).toBe("ERR_JWT_AUDIENCE");
    const { aud: _aud, ...noAud } = claims();
    expect(await codeOf(await sign({ alg: "ES256", kid: acme.jwtKid }, noAud, acme.jwtKeys.privateKey))).toBe("ERR_JWT_AUDIENCE");
  });

  it("ERR_JWT_EXPIRED / ERR_JWT_EXP_MISSING: exp past (beyond the skew) or absent", async () => {
    expect(await codeOf(await acme.jwtSvid(SUB, AUD, { now: NOW - 3_600_000 }))).toBe("ERR_JWT_EXPIRED");
    const { exp: _exp, ...noExp } = claims();
    expect(await codeOf(await sign({ alg: "ES256", kid: acme.jwtKid }, noExp, acme.jwtKeys.privateKey))).toBe("ERR_JWT_EXP_MISSING");
  });

  it("ERR_JWT_NOT_YET_VALID / ERR_JWT_ISSUED_IN_FUTURE: nbf or iat in the future beyond the skew", async () => {
    expect(await codeOf(await sign({ alg: "ES256", kid: acme.jwtKid }, claims({ nbf: NOW_S + 600 }), acme.jwtKeys.privateKey))).toBe("ERR_JWT_NOT_YET_VALID");
    expect(await codeOf(await sign({ alg: "ES256", kid: acme.jwtKid }, claims({ iat: NOW_S + 600 }), acme.jwtKeys.privateKey))).toBe("ERR_JWT_ISSUED_IN_FUTURE");
  });

  it("ERR_JWT_UNKNOWN_KID: a kid the trust domain's bundle does not have", async () => {
    expect(await codeOf(await sign({ alg: "ES256", kid: "nobody" }, claims(), attacker.privateKey))).toBe("ERR_JWT_UNKNOWN_KID");
  });

  it("ERR_JWT_SVID_SUBJECT: sub missing or not a SPIFFE ID", async () => {
    const { sub: _sub, ...noSub } = claims();
    expect(await codeOf(await sign({ alg: "ES256", kid: acme.jwtKid }, noSub, acme.jwtKeys.privateKey))).toBe("ERR_JWT_SVID_SUBJECT");
    for (const sub of ["frontend", "https://acme.test/frontend", "spiffe://acme.test/ns//x", "spiffe://ACME.test/x"]) {
      expect(await codeOf(await sign({ alg: "ES256", kid: acme.jwtKid }, claims({ sub }), acme.jwtKeys.privateKey)), sub).toBe("ERR_JWT_SVID_SUBJECT");
    }
  });

  it("a sub of another trust domain is checked against that domain's keys, never the signer's", async () => {
    // Signed by acme's key but claiming to be a partner workload: partner's bundle does not have acme's kid.
    const token = await sign({ alg: "ES256", kid: acme.jwtKid }, claims({ sub: "spiffe://partner.test/ns/x/sa/y" }), acme.jwtKeys.privateKey);
    expect(await codeOf(token)).toBe("ERR_JWT_UNKNOWN_KID");
    expect(await codeOf(token, { bundles: lookup(acme.bundle) })).toBe("ERR_JWT_SVID_NO_BUNDLE");
  });

  it("no key from the token itself: jwk, jku, x5u and x5c headers pointing at an attacker key are ignored", async () => {
    const attackerJwk = await exportJWK(attacker.publicKey);
    const withKid = { alg: "ES256", kid: acme.jwtKid };
    const headers = [
      { ...withKid, jwk: attackerJwk },
      { ...withKid, jku: "https://attacker.example/jwks.json" },
      { ...withKid, x5u: "https://attacker.example/cert.pem" },
      { ...withKid, x5c: ["MIIBAAAA"] },
      { alg: "ES256", jwk: attackerJwk },
    ];
    for (const header of headers) {
      const token = await sign(header, claims(), attacker.privateKey);
      expect(await codeOf(token), JSON.stringify(Object.keys(header))).toBe("ERR_JWT_SIGNATURE");
    }
  });

  it("ERR_JWT_SIGNATURE: a tampered payload; ERR_JWT_KEY_MISMATCH: a kid whose key cannot do the alg", async () => {
    const token = await acme.jwtSvid(SUB, AUD);
    const [header, , signature] = token.split(".");
    const forged = `${header}.${base64url.encode(JSON.stringify(claims({ sub: "spiffe://acme.test/ns/shop/sa/admin" })))}.${signature}`;
    expect(await codeOf(forged)).toBe("ERR_JWT_SIGNATURE");
    expect(await codeOf(await sign({ alg: "RS256", kid: acme.jwtKid }, claims(), (await generateSigningKeyPair("RS256")).privateKey))).toBe("ERR_JWT_KEY_MISMATCH");
    // The curve must be the algorithm's, and a key that pins its alg is used for that alg only.
    const p384 = await generateSigningKeyPair("ES384");
    const rsa = await generateSigningKeyPair("RS256");
    const bundle: TrustBundle = {
      trustDomain: "acme.test",
      x509Authorities: [],
      jwtAuthorities: [stripUse(await jwtSvidAuthority(p384.publicKey, "p384")), { ...stripUse(await jwtSvidAuthority(rsa.publicKey, "rs384")), alg: "RS384" }],
    };
    const es256WithP384 = await sign({ alg: "ES256", kid: "p384" }, claims(), (await generateSigningKeyPair("ES256")).privateKey);
    expect(await codeOf(es256WithP384, { bundles: lookup(bundle) })).toBe("ERR_JWT_KEY_MISMATCH");
    const rs256WithPinnedKey = await sign({ alg: "RS256", kid: "rs384" }, claims(), rsa.privateKey);
    expect(await codeOf(rs256WithPinnedKey, { bundles: lookup(bundle) })).toBe("ERR_JWT_KEY_MISMATCH");
  });

  it("ERR_JWT_TYPE: a typ other than JWT or JOSE; ERR_JWT_MALFORMED: not a compact JWS", async () => {
    expect(await codeOf(await sign({ alg: "ES256", kid: acme.jwtKid, typ: "at+jwt" }, claims(), acme.jwtKeys.privateKey))).toBe("ERR_JWT_TYPE");
    expect(await codeOf("not-a-token")).toBe("ERR_JWT_MALFORMED");
    expect(await codeOf("a.b.c.d.e")).toBe("ERR_JWT_MALFORMED");
    expect(await codeOf(`${"x".repeat(17_000)}.a.b`)).toBe("ERR_JWT_MALFORMED");
  });
});

function stripUse<T extends { use?: string }>(jwk: T): Omit<T, "use"> {
  const { use: _use, ...rest } = jwk;
  return rest;
}
