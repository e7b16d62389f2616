import { describe, expect, it } from "vitest";
import { SpiffeIdError } from "../../../policies/identity/errors.js";
import { namespaceOf, parseSpiffeId, parseTrustDomain, principalOf, serviceAccountOf } from "../../../policies/identity/spiffe-id.js";

function codeOf(text: string): string {
  try {
    parseSpiffeId(text);
  } catch (error) {
    expect(error).toBeInstanceOf(SpiffeIdError);
    return (error as SpiffeIdError).code;
  }
  return "valid";
}

describe("parseSpiffeId: valid IDs", () => {
  it("accepts trust domains with letters, digits, '.', '-', '_' and paths of such segments", () => {
    for (const id of [
      "spiffe://acme.test",
      "spiffe://acme.test/ns/shop/sa/frontend",
      "spiffe://a_b-c.9/UPPER/lower/0.1/x_y-z",
      "spiffe://192.168.1.1/workload",
      "spiffe://td/.../a..b/.hidden",
    ]) {
      expect(codeOf(id), id).toBe("valid");
    }
    const id = parseSpiffeId("spiffe://acme.test/ns/shop/sa/frontend");
    expect(id).toEqual({ trustDomain: "acme.test", path: "/ns/shop/sa/frontend", uri: "spiffe://acme.test/ns/shop/sa/frontend" });
    expect(principalOf(id)).toBe("acme.test/ns/shop/sa/frontend");
    expect(namespaceOf(id)).toBe("shop");
    expect(serviceAccountOf(id)).toBe("shop/frontend");
    expect(namespaceOf(parseSpiffeId("spiffe://acme.test/payments/web"))).toBeUndefined();
  });

  it("accepts exactly 2048 bytes and a 255-byte trust domain", () => {
    const domain = "d".repeat(255);
    expect(codeOf(`spiffe://${domain}`)).toBe("valid");
    const prefix = "spiffe://acme.test/";
    expect(codeOf(prefix + "a".repeat(2048 - prefix.length))).toBe("valid");
  });
});

describe("parseSpiffeId: each rule of the SPIFFE ID standard, by code", () => {
  const cases: [string, string][] = [
    ["", "ERR_SPIFFE_ID_EMPTY"],
    ["spiffe://acme.test/" + "a".repeat(2048), "ERR_SPIFFE_ID_TOO_LONG"],
    ["http://acme.test/a", "ERR_SPIFFE_ID_SCHEME"],
    ["SPIFFE://acme.test/a", "ERR_SPIFFE_ID_SCHEME"],
    ["spiffe:acme.test/a", "ERR_SPIFFE_ID_SCHEME"],
    ["acme.test/ns/a", "ERR_SPIFFE_ID_SCHEME"],
    ["spiffe:///a", "ERR_SPIFFE_ID_TRUST_DOMAIN_MISSING"],
    ["spiffe://", "ERR_SPIFFE_ID_TRUST_DOMAIN_MISSING"],
    [`spiffe://${"d".repeat(256)}/a`, "ERR_SPIFFE_ID_TRUST_DOMAIN_TOO_LONG"],
    ["spiffe://Acme.test/a", "ERR_SPIFFE_ID_TRUST_DOMAIN_CHARS"],
    ["spiffe://acme test/a", "ERR_SPIFFE_ID_TRUST_DOMAIN_CHARS"],
    ["spiffe://[::1]/a", "ERR_SPIFFE_ID_PORT"],
    ["spiffe://acmé.test/a", "ERR_SPIFFE_ID_TRUST_DOMAIN_CHARS"],
    ["spiffe://user@acme.test/a", "ERR_SPIFFE_ID_USERINFO"],
    ["spiffe://acme.test:8443/a", "ERR_SPIFFE_ID_PORT"],
    ["spiffe://acme%2etest/a", "ERR_SPIFFE_ID_PERCENT_ENCODED"],
    ["spiffe://acme.test/a?x=1", "ERR_SPIFFE_ID_QUERY"],
    ["spiffe://acme.test/a#frag", "ERR_SPIFFE_ID_FRAGMENT"],
    ["spiffe://acme.test/", "ERR_SPIFFE_ID_PATH_TRAILING_SLASH"],
    ["spiffe://acme.test/a/", "ERR_SPIFFE_ID_PATH_TRAILING_SLASH"],
    ["spiffe://acme.test//a", "ERR_SPIFFE_ID_PATH_EMPTY_SEGMENT"],
    ["spiffe://acme.test/a//b", "ERR_SPIFFE_ID_PATH_EMPTY_SEGMENT"],
    ["spiffe://acme.test/a/./b", "ERR_SPIFFE_ID_PATH_DOT_SEGMENT"],
    ["spiffe://acme.test/a/..", "ERR_SPIFFE_ID_PATH_DOT_SEGMENT"],
    ["spiffe://acme.test/a%20b", "ERR_SPIFFE_ID_PERCENT_ENCODED"],
    ["spiffe://acme.test/a b", "ERR_SPIFFE_ID_PATH_CHARS"],
    ["spiffe://acme.test/a~b", "ERR_SPIFFE_ID_PATH_CHARS"],
    ["spiffe://acme.test/ä", "ERR_SPIFFE_ID_PATH_CHARS"],
    ["spiffe://acme.test/a:b", "ERR_SPIFFE_ID_PATH_CHARS"],
  ];
  it.each(cases)("%s → %s", (text, code) => {
    expect(codeOf(text)).toBe(code);
  });
});

describe("parseTrustDomain", () => {
  it("accepts a bare name or spiffe://name, and refuses anything else", () => {
    expect(parseTrustDomain("acme.test")).toBe("acme.test");
    expect(parseTrustDomain("spiffe://acme.test")).toBe("acme.test");
    expect(() => parseTrustDomain("")).toThrow(SpiffeIdError);
    expect(() => parseTrustDomain("Acme.test")).toThrow(/lowercase/);
    expect(() => parseTrustDomain("spiffe://acme.test/a")).toThrow(/not a trust domain/);
    expect(() => parseTrustDomain("acme.test:443")).toThrow(SpiffeIdError);
  });
});
