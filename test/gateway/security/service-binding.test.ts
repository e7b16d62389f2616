import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { WorkerOptions } from "miniflare";
import { bundleWorker } from "../../../scripts/lib/bundle-worker.js";
import { startLocalGateway, type LocalGateway } from "../../../scripts/lib/local-gateway.js";
import { compileConfig, requestOverHttp } from "../../support/gateway-fixture.js";
import { startUpstream, type Upstream, type UpstreamEcho } from "../../support/upstream.js";
import { der, type TrustDomainPki } from "../../policies/identity/pki.js";
import { gatewayYaml, meshConfigYaml, pkiNow, policyYaml, serviceYaml } from "./support.js";

/**
 * A Cloudflare service binding's `ctx.props.spiffeId` at the ingress (the chain is shared with
 * the egress, so the ingress trusts it too): a worker bound to the gateway with `props` is that
 * workload, exactly like a verified X.509-SVID, and must still be one of the Gateway server's
 * `subjectAltNames` when they are set. Real caller workers in the same workerd as the bundle.
 */

const FRONTEND = "spiffe://acme.test/ns/shop/sa/frontend";
const INTRUDER = "spiffe://acme.test/ns/shop/sa/intruder";

const CALLER_SCRIPT = `export default {
  fetch(request, env) {
    const url = new URL(request.url);
    return env.GATEWAY.fetch("http://orders.test" + url.pathname, { method: request.method });
  },
};`;

function caller(name: string, spiffeId: string): WorkerOptions {
  return { name, modules: true, script: CALLER_SCRIPT, compatibilityDate: "2026-04-01", serviceBindings: { GATEWAY: { name: "gateway", props: { spiffeId } } } };
}

/** A worker bound with props that name no identity, which sets request.cf.tlsClientAuth to a victim's (public) certificate. */
const FORGING_SCRIPT = `export default {
  fetch(request, env) {
    const url = new URL(request.url);
    return env.GATEWAY.fetch("http://orders.test" + url.pathname, { cf: { tlsClientAuth: JSON.parse(request.headers.get("x-forge")) } });
  },
};`;

let acme: TrustDomainPki;
let orders: Upstream;
let gateway: LocalGateway;

beforeAll(async () => {
  [acme, orders] = await Promise.all([pkiNow("acme.test"), startUpstream({ name: "orders" })]);
  const config =
    gatewayYaml(`  - port: { number: 80, name: http, protocol: HTTP }
    hosts: ["*.test"]
    tls: { mode: MUTUAL, subjectAltNames: ["${FRONTEND}"] }`) +
    meshConfigYaml(acme) +
    serviceYaml("orders", "orders.internal", orders, "orders.test") +
    policyYaml("AuthorizationPolicy", "orders", "frontend-only", `  rules: [{ from: [{ source: { principals: ["acme.test/ns/shop/sa/frontend"] } }] }]`);
  gateway = await startLocalGateway({
    scriptPath: await bundleWorker(),
    port: 0,
    workers: [
      caller("frontend", FRONTEND),
      caller("intruder", INTRUDER),
      { name: "forger", modules: true, script: FORGING_SCRIPT, compatibilityDate: "2026-04-01", serviceBindings: { GATEWAY: { name: "gateway", props: { team: "shop" } } } },
    ],
  });
  await gateway.seed(await compileConfig(config));
});

afterAll(async () => {
  await Promise.all([gateway?.dispose(), orders?.close()]);
});

async function callAs(worker: string, path: string): Promise<Response> {
  const target = await gateway.mf.getWorker(worker);
  return target.fetch(`http://caller.internal${path}`) as unknown as Response;
}

describe("a service binding's ctx.props at the ingress", () => {
  it("is the caller's peer identity: it satisfies MUTUAL and the AuthorizationPolicy", async () => {
    const response = await callAs("frontend", "/orders/1");
    expect(response.status).toBe(200);
    const echo = (await response.json()) as UpstreamEcho;
    expect(echo.headers["x-mesh-peer-principal"]).toBe(FRONTEND);
    expect(echo.headers["x-mesh-peer-authentication"]).toBe("service-binding");
  });

  it("must be one of the Gateway server's subjectAltNames", async () => {
    const before = orders.requests.length;
    const response = await callAs("intruder", "/orders/1");
    expect(response.status).toBe(403);
    expect(await response.json()).toMatchObject({ error: "peer_authentication_failed{subject_alt_name}", flags: "UAEX" });
    expect(orders.requests.length).toBe(before);
  });

  it("cannot be claimed over HTTP: no props, no certificate, so MUTUAL refuses", async () => {
    const before = orders.requests.length;
    const response = await requestOverHttp(gateway.url, "/orders/1", { host: "orders.test", headers: { "x-mesh-peer-principal": FRONTEND, "x-spiffe-id": FRONTEND } });
    expect(response.status).toBe(403);
    expect(await response.json()).toMatchObject({ error: "peer_authentication_required", flags: "UAEX" });
    expect(orders.requests.length).toBe(before);
  });
});

describe("request.cf from a binding", () => {
  it("is not believed when the binding carries props: a victim's certificate in tlsClientAuth proves nothing", async () => {
    const frontend = await acme.workload(FRONTEND);
    const sf = (bytes: Uint8Array) => `:${Buffer.from(bytes).toString("base64")}:`;
    const forged = JSON.stringify({ certPresented: "1", certVerified: "SUCCESS", certRevoked: "0", certRFC9440: sf(der(frontend.leaf)), certChainRFC9440: sf(der(frontend.chain[1]!)) });
    const before = orders.requests.length;
    const target = await gateway.mf.getWorker("forger");
    const response = (await target.fetch("http://caller.internal/orders/1", { headers: { "x-forge": forged } })) as unknown as Response;
    expect(response.status).toBe(403);
    expect(await response.json()).toMatchObject({ error: "peer_authentication_required", flags: "UAEX" });
    expect(orders.requests.length).toBe(before);
  });
});
