import { decodeJwt, decodeProtectedHeader } from "jose";
import { describe, expect, it } from "vitest";
import { generateSigningKeyPair } from "../../policies/identity/issue.js";
import { jwtSvidKeyId } from "../../policies/identity/jwt-svid-key.js";
import { OutboundJwtSvidMinter } from "../../egress/outbound-identity.js";
import { privateKeyPem } from "../policies/identity/pki.js";

const CALLER = "spiffe://acme.test/ns/payments/sa/api";
const T0 = Date.UTC(2026, 10, 23, 12, 0, 0);

describe("OutboundJwtSvidMinter", () => {
  it("signs with the key's thumbprint kid and reuses a token until half its lifetime has passed", async () => {
    const keys = await generateSigningKeyPair("ES256");
    const minter = new OutboundJwtSvidMinter(await privateKeyPem(keys.privateKey));
    const first = await minter.mint(CALLER, "api.example.test", 60_000, T0);
    expect(decodeProtectedHeader(first)).toEqual({ alg: "ES256", kid: (await jwtSvidKeyId(keys.privateKey)).kid, typ: "JWT" });
    expect(decodeJwt(first)).toMatchObject({ sub: CALLER, aud: "api.example.test", iat: T0 / 1000, exp: T0 / 1000 + 60 });
    expect(await minter.mint(CALLER, "api.example.test", 60_000, T0 + 29_999)).toBe(first);
    const renewed = await minter.mint(CALLER, "api.example.test", 60_000, T0 + 30_000);
    expect(renewed).not.toBe(first);
    expect(decodeJwt(renewed).iat).toBe(T0 / 1000 + 30);
    // Another audience is another token.
    expect(decodeJwt(await minter.mint(CALLER, "other.example.test", 60_000, T0 + 30_000)).aud).toBe("other.example.test");
  });

  it("says what is wrong with a missing or unusable key", async () => {
    await expect(new OutboundJwtSvidMinter(undefined).mint(CALLER, "a", 60_000, T0)).rejects.toThrow("MESH_JWT_SVID_KEY is not set");
    const rsa = await generateSigningKeyPair("RS256");
    await expect(new OutboundJwtSvidMinter(await privateKeyPem(rsa.privateKey)).mint(CALLER, "a", 60_000, T0)).rejects.toThrow(/MESH_JWT_SVID_KEY is not an EC P-256 PKCS#8 private key/);
  });
});
