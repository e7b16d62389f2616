import { beforeAll, describe, expect, it } from "vitest";
import { XfccError } from "../../../policies/identity/errors.js";
import { certificatesFromXfcc, formatXfcc, formatXfccElement, parseXfcc, urlEncodePem } from "../../../policies/identity/xfcc.js";
import { createTrustDomainPki, der, type Workload } from "./pki.js";

/** Envoy's x-forwarded-client-cert, with the examples of Envoy's documentation. */

const HASH = "468ed33be74eee6556d90c0149c1309e9ba61d6425303443c0748a02dd8de688";

describe("parseXfcc", () => {
  it("reads Envoy's documented examples: By, Hash, quoted Subject, URI, repeated DNS, several elements", () => {
    expect(parseXfcc(`By=http://frontend.lyft.com;Hash=${HASH};Subject="/C=US/ST=CA/L=San Francisco/OU=Lyft/CN=Test Client";URI=http://testclient.lyft.com`)).toEqual([
      { by: ["http://frontend.lyft.com"], hash: HASH, subject: "/C=US/ST=CA/L=San Francisco/OU=Lyft/CN=Test Client", uri: ["http://testclient.lyft.com"], dns: [] },
    ]);
    const two = parseXfcc(`By=http://frontend.lyft.com;Hash=${HASH};URI=http://testclient.lyft.com,By=http://backend.lyft.com;Hash=9ba6;URI=http://frontend.lyft.com`);
    expect(two.map((element) => element.by[0])).toEqual(["http://frontend.lyft.com", "http://backend.lyft.com"]);
    expect(parseXfcc(`Hash=${HASH};URI=spiffe://a/b;DNS=lyft.com;DNS=www.lyft.com`)[0]!.dns).toEqual(["lyft.com", "www.lyft.com"]);
  });

  it("unescapes \\\" inside quotes and keeps ',' ';' '=' there; keys are case-insensitive; unknown keys are ignored", () => {
    const [element] = parseXfcc(`subject="CN=a \\"quoted\\" name, O=x;y=z";uri=spiffe://acme.test/w;Future=1`);
    expect(element).toEqual({ by: [], subject: 'CN=a "quoted" name, O=x;y=z', uri: ["spiffe://acme.test/w"], dns: [] });
    expect(parseXfcc('Subject="CN=foo\\, O=bar"')[0]!.subject).toBe("CN=foo\\, O=bar");
  });

  it.each([
    ["", "empty"],
    ["Hash", "no '='"],
    ["Hash=a,", "trailing ','"],
    ["Hash=a;", "trailing ';'"],
    ['Subject="unterminated', "unterminated quote"],
    ['Subject="a"b', "text after a quoted value"],
    ["Hash=a=b", "'=' in an unquoted value"],
    ["Hash=a;Hash=b", "a single-valued key twice"],
    ["=a", "empty key"],
  ])("refuses %j (%s) with ERR_XFCC_SYNTAX", (value) => {
    expect(() => parseXfcc(value)).toThrow(XfccError);
    try {
      parseXfcc(value);
    } catch (error) {
      expect((error as XfccError).code).toBe("ERR_XFCC_SYNTAX");
    }
  });

  it("bounds the header's size and element count", () => {
    expect(() => parseXfcc("Hash=" + "a".repeat(70_000))).toThrow(/longer than/);
    expect(() => parseXfcc(Array(20).fill("Hash=a").join(","))).toThrow(/more than 16/);
  });
});

describe("formatXfcc", () => {
  it("writes By, Hash, Subject (always quoted), URI in Envoy's order, quoting what needs it, and round-trips", () => {
    const text = formatXfccElement({ by: ["spiffe://acme.test/ns/istio-system/sa/gw"], hash: HASH, subject: 'CN="x", O=y', uri: ["spiffe://acme.test/ns/a/sa/b"] });
    expect(text).toBe(`By=spiffe://acme.test/ns/istio-system/sa/gw;Hash=${HASH};Subject="CN=\\"x\\", O=y";URI=spiffe://acme.test/ns/a/sa/b`);
    expect(parseXfcc(text)[0]).toMatchObject({ subject: 'CN="x", O=y', uri: ["spiffe://acme.test/ns/a/sa/b"] });
    expect(formatXfcc([{ hash: "a" }, { hash: "b", dns: ["x,y"] }])).toBe('Hash=a,Hash=b;DNS="x,y"');
    expect(formatXfccElement({ subject: "" })).toBe('Subject=""');
  });
});

describe("certificatesFromXfcc", () => {
  let workload: Workload;
  beforeAll(async () => {
    workload = await (await createTrustDomainPki("acme.test")).workload("spiffe://acme.test/ns/a/sa/b");
  });

  it("takes Chain (leaf first) when present, else Cert; none when the element carries only claims", () => {
    const fromChain = certificatesFromXfcc(parseXfcc(`Cert="${urlEncodePem(workload.certPem)}";Chain="${urlEncodePem(workload.chainPem)}"`)[0]!)!;
    expect(fromChain.map((item) => item.length)).toEqual(workload.chain.map((certificate) => der(certificate).length));
    const fromCert = certificatesFromXfcc(parseXfcc(`Cert=${urlEncodePem(workload.certPem)}`)[0]!)!;
    expect(fromCert).toHaveLength(1);
    expect(certificatesFromXfcc(parseXfcc("URI=spiffe://acme.test/ns/a/sa/b")[0]!)).toBeUndefined();
  });

  it("refuses a Chain that does not start with Cert, and undecodable certificates", () => {
    const other = workload.chainPem.slice(workload.certPem.length);
    expect(() => certificatesFromXfcc(parseXfcc(`Cert=${urlEncodePem(workload.certPem)};Chain=${urlEncodePem(other)}`)[0]!)).toThrow(expect.objectContaining({ code: "ERR_XFCC_CHAIN_MISMATCH" }));
    expect(() => certificatesFromXfcc(parseXfcc("Cert=%E0%A4%A")[0]!)).toThrow(expect.objectContaining({ code: "ERR_XFCC_CERT" }));
    expect(() => certificatesFromXfcc(parseXfcc("Cert=not-a-pem")[0]!)).toThrow(expect.objectContaining({ code: "ERR_XFCC_CERT" }));
    expect(() => certificatesFromXfcc(parseXfcc(`Cert=${urlEncodePem(workload.chainPem)}`)[0]!)).toThrow(/exactly one/);
  });
});
