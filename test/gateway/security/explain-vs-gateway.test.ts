import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { explainRequest } from "../../../policies/explain/explain.js";
import type { TrustDomainPki, Workload } from "../../policies/identity/pki.js";
import { startTestGateway, type TestGateway } from "../../support/gateway-fixture.js";
import { startUpstream, type Upstream } from "../../support/upstream.js";
import { gatewayYaml, meshConfigYaml, pkiNow, policyYaml, PROXY_SECRET, refusalOf, serviceYaml, viaProxy } from "./support.js";

/**
 * explain and the real gateway on one config and the same requests: the status, flag and detail
 * explain predicts are the ones the gateway answers (an allowed request: the upstream's 200).
 * Peers present real X.509-SVIDs through the trusted front proxy's XFCC; explain is told the
 * same identity as `peer`.
 */

const FRONTEND = "spiffe://acme.test/ns/shop/sa/frontend";
const BACKEND = "spiffe://acme.test/ns/shop/sa/backend";

let acme: TrustDomainPki;
let workloads: Record<string, Workload>;
let upstream: Upstream;
let gateway: TestGateway;

beforeAll(async () => {
  [acme, upstream] = await Promise.all([pkiNow("acme.test"), startUpstream({ name: "site" })]);
  const [frontend, backend] = await Promise.all([acme.workload(FRONTEND), acme.workload(BACKEND)]);
  workloads = { [FRONTEND]: frontend, [BACKEND]: backend };
  const config =
    gatewayYaml() +
    meshConfigYaml(acme) +
    serviceYaml("shop", "site.internal", upstream, "shop.test") +
    serviceYaml("locked", "locked.internal", upstream, "locked.test") +
    // As examples/bookinfo.yaml's details-callers: only the frontend may read /details.
    policyYaml("AuthorizationPolicy", "shop", "details-callers", `  action: DENY\n  rules:\n  - from: [{ source: { notPrincipals: ["acme.test/ns/shop/sa/frontend"] } }]\n    to: [{ operation: { paths: ["/details", "/details/*"] } }]`) +
    policyYaml("AuthorizationPolicy", "shop", "no-delete", `  action: DENY\n  rules: [{ to: [{ operation: { methods: [DELETE] } }] }]`) +
    policyYaml(
      "AuthorizationPolicy",
      "shop",
      "callers",
      `  action: ALLOW\n  rules:\n  - to: [{ operation: { paths: ["/public/*"] } }]\n  - from: [{ source: { principals: ["acme.test/ns/shop/sa/frontend"] } }]`,
    ) +
    policyYaml("PeerAuthentication", "locked", "strict", `  mtls: { mode: STRICT }`);
  gateway = await startTestGateway(config, { bindings: { MESH_PROXY_SECRET: PROXY_SECRET } });
});

afterAll(async () => {
  await Promise.all([gateway?.close(), upstream?.close()]);
});

interface Case {
  name: string;
  host: string;
  path: string;
  method?: string;
  peer?: string;
  status: number;
  detail?: string;
}

const cases: Case[] = [
  { name: "allowed by ALLOW", host: "shop.test", path: "/orders/1", peer: FRONTEND, status: 200 },
  { name: "allowed: a public path needs no identity", host: "shop.test", path: "/public/a", status: 200 },
  { name: "denied by DENY (details-callers)", host: "shop.test", path: "/details/1", peer: BACKEND, status: 403, detail: "rbac_access_denied" },
  { name: "denied by DENY (no-delete), whoever calls", host: "shop.test", path: "/orders/1", method: "DELETE", peer: FRONTEND, status: 403, detail: "rbac_access_denied" },
  { name: "denied: no ALLOW rule matches", host: "shop.test", path: "/orders/1", peer: BACKEND, status: 403, detail: "rbac_access_denied" },
  { name: "denied without identity: 401, a peer could turn it", host: "shop.test", path: "/details/1", status: 401, detail: "rbac_access_denied_missing_credential" },
  { name: "peer required (STRICT) and absent", host: "locked.test", path: "/", status: 403, detail: "peer_authentication_required" },
  { name: "peer required (STRICT) and present", host: "locked.test", path: "/", peer: BACKEND, status: 200 },
];

describe("explain agrees with the gateway", () => {
  it.each(cases)("$name: $method $host$path as $peer → $status", async ({ host, path, method, peer, status, detail }) => {
    const explained = explainRequest(gateway.snapshot!, { method: method ?? "GET", url: `http://${host}${path}`, ...(peer ? { peer: { principal: peer } } : {}) });
    expect(explained.outcomes).toHaveLength(1);
    const outcome = explained.outcomes[0]!;

    const response = await gateway.fetch(path, { host, method: method ?? "GET", headers: await viaProxy(peer ? workloads[peer] : undefined) });
    // explain's null status is "the upstream's answer": the test upstream's 200.
    expect(outcome.status ?? 200).toBe(response.status);
    expect(response.status).toBe(status);
    if (detail !== undefined) {
      const refusal = await refusalOf(response);
      expect(refusal.error).toBe(detail);
      expect(outcome.description.startsWith(`${detail}: `)).toBe(true);
      expect(refusal.flags).toBe(outcome.flag ?? "-");
    } else {
      await response.arrayBuffer();
    }
  });
});
