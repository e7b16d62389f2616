import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { TrustDomainPki } from "../policies/identity/pki.js";
import { meshConfigYaml, pkiNow, PROXY_SECRET, viaProxy } from "../gateway/security/support.js";
import { compileConfig } from "../support/gateway-fixture.js";
import { parseExposition, total } from "../policies/telemetry/prometheus-parser.js";
import { PAY_WITH_PLAIN_ALIAS_YAML } from "../support/egress-configs.js";
import { startTestEgress, type TestEgress } from "./fixture.js";

/**
 * What the egress refuses to send in cleartext. Its outbound network here is a function that
 * records every request the worker makes and answers it, so nothing leaves the machine, and a
 * request that should never have been made shows up in `sent`.
 */

const SECRET = `sk-test-${crypto.randomUUID()}`;
const API = "spiffe://acme.test/ns/payments/sa/api";

let acme: TrustDomainPki;
let egress: TestEgress;
const sent: string[] = [];

const CONFIG = () =>
  meshConfigYaml(acme, "  outboundTrafficPolicy: { mode: ALLOW_ANY }") +
  PAY_WITH_PLAIN_ALIAS_YAML +
  `
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: { name: dyn, namespace: external }
spec:
  hosts: ["*.dyn.test"]
  location: MESH_EXTERNAL
  resolution: DNS
  ports: [{ number: 80, name: http, protocol: HTTP }]
`;

beforeAll(async () => {
  acme = await pkiNow("acme.test");
  egress = await startTestEgress(CONFIG(), {
    bindings: { MESH_PROXY_SECRET: PROXY_SECRET, PAY_KEY: SECRET },
    outboundService: (request: Request) => {
      sent.push(`${request.url} ${request.headers.get("authorization") ?? "-"}`);
      return new Response("recorded");
    },
  });
});

afterAll(async () => {
  await egress?.close();
});

describe("credentials never leave in cleartext", () => {
  it("goes over TLS to the declared host", async () => {
    const response = await egress.fetch("/v1/pay", { host: "api.pay.test", headers: await viaProxy(await acme.workload(API)) });
    expect(response.status).toBe(200);
    expect(sent.at(-1)).toBe(`https://api.pay.test/v1/pay Bearer ${SECRET}`);
  });

  it("refuses at run time, sending nothing, when routing picks a plain-HTTP subset of the host (503 credential_insecure)", async () => {
    const before = sent.length;
    const response = await egress.fetch("/v1/pay", { host: "pay.alias.test", headers: await viaProxy(await acme.workload(API)) });
    expect(response.status).toBe(503);
    const body = await response.text();
    expect(JSON.parse(body)).toMatchObject({ error: "credential_insecure" });
    expect(body).not.toContain(SECRET);
    expect(sent.length).toBe(before);
  });
});

describe("ALLOW_ANY passthrough", () => {
  it("keeps an https call https (port 443), and a plain one plain", async () => {
    const before = sent.length;
    const viaHttps = await egress.fetch("/x", { host: "undeclared.example.test:443" });
    expect(viaHttps.status).toBe(200);
    expect(sent[before]).toMatch(/^https:\/\/undeclared\.example\.test\/x /);
    expect((await egress.fetch("/y", { host: "undeclared.example.test" })).status).toBe(200);
    expect(sent.at(-1)).toMatch(/^http:\/\/undeclared\.example\.test\/y -$/);
  });
});

describe("EgressCredential hosts", () => {
  it("may not be wider than the hosts that declare them", async () => {
    const config = CONFIG().replace("hosts: [api.pay.test]\n  inject", 'hosts: ["*.pay.test"]\n  inject');
    await expect(compileConfig(config)).rejects.toThrow(/'\*\.pay\.test' is wider than the MESH_EXTERNAL hosts that declare it \(api\.pay\.test\)/);
  });
});

describe("a wildcard ServiceEntry resolved per host", () => {
  it("goes to the host asked for, and metrics label it by the wildcard (a caller cannot mint series)", async () => {
    for (const host of ["a.dyn.test", "b.dyn.test", "c.dyn.test"]) expect((await egress.fetch("/p", { host })).status).toBe(200);
    expect(sent.slice(-3)).toEqual(["http://a.dyn.test/p -", "http://b.dyn.test/p -", "http://c.dyn.test/p -"]);
    // Metrics are recorded as each response ends: read until the three calls are in.
    let metrics = parseExposition(await (await egress.fetch("/__mesh/metrics", { host: "egress" })).text());
    for (let tries = 0; tries < 50 && total(metrics.get("istio_requests_total"), { destination_service: "*.dyn.test" }) < 3; tries++) {
      await new Promise((resolve) => setTimeout(resolve, 20));
      metrics = parseExposition(await (await egress.fetch("/__mesh/metrics", { host: "egress" })).text());
    }
    expect(total(metrics.get("istio_requests_total"), { destination_service: "*.dyn.test" })).toBe(3);
    expect(metrics.get("istio_requests_total")!.samples.some((sample) => /^[abc]\.dyn\.test$/.test(String(sample.labels.destination_service)))).toBe(false);
  });
});
