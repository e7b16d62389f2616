import { beforeAll, describe, expect, it } from "vitest";
import { parseByteSequence, parseByteSequenceList, platformClientCert } from "../../../policies/identity/client-cert.js";
import { createTrustDomainPki, der, type Workload } from "./pki.js";

/** The platform's verified mTLS: `request.cf.tlsClientAuth` with its RFC 9440 fields. */

let workload: Workload;
beforeAll(async () => {
  workload = await (await createTrustDomainPki("acme.test")).workload("spiffe://acme.test/ns/a/sa/b");
});

const sf = (bytes: Uint8Array) => `:${Buffer.from(bytes).toString("base64")}:`;

function cf(overrides: Record<string, unknown>) {
  return {
    tlsClientAuth: {
      certPresented: "1",
      certVerified: "SUCCESS",
      certRevoked: "0",
      certFingerprintSHA256: "AB:CD",
      certRFC9440: sf(der(workload.leaf)),
      certRFC9440TooLarge: false,
      certChainRFC9440: sf(der(workload.chain[1]!)),
      certChainRFC9440TooLarge: false,
      ...overrides,
    },
  };
}

describe("platformClientCert", () => {
  it("returns the leaf and the intermediates, leaf first, from a verified certificate", () => {
    const found = platformClientCert(cf({}))!;
    expect(found.chain!.map((item) => item.length)).toEqual(workload.chain.map((certificate) => der(certificate).length));
    expect(found.fingerprintSha256).toBe("abcd");
  });

  it("ignores a certificate the edge did not verify, found revoked, or that was not presented", () => {
    expect(platformClientCert(cf({ certVerified: "FAILED:self signed certificate" }))).toBeUndefined();
    expect(platformClientCert(cf({ certVerified: "NONE" }))).toBeUndefined();
    expect(platformClientCert(cf({ certRevoked: "1" }))).toBeUndefined();
    expect(platformClientCert(cf({ certPresented: "0" }))).toBeUndefined();
    expect(platformClientCert({})).toBeUndefined();
    expect(platformClientCert(undefined)).toBeUndefined();
  });

  it("has no chain when the edge passed no RFC 9440 value (too large, or an older runtime); a leaf alone when no intermediates", () => {
    expect(platformClientCert(cf({ certRFC9440: "", certRFC9440TooLarge: true }))!.chain).toBeUndefined();
    expect(platformClientCert(cf({ certChainRFC9440: "" }))!.chain).toHaveLength(1);
  });

  it("parses RFC 8941 byte sequences and lists strictly", () => {
    expect(parseByteSequence(":AQID:")).toEqual(new Uint8Array([1, 2, 3]));
    expect(parseByteSequenceList(":AQ==:, :Ag==:").map((bytes) => [...bytes])).toEqual([[1], [2]]);
    for (const bad of ["AQID", ":AQID", "::", ":A*:", ":AQ==:;param"]) expect(() => parseByteSequence(bad), bad).toThrow(expect.objectContaining({ code: "ERR_RFC9440_SYNTAX" }));
  });
});
