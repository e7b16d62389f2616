import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { explainRequest } from "../../policies/explain/explain.js";
import type { TrustDomainPki, Workload } from "../policies/identity/pki.js";
import { meshConfigYaml, pkiNow, PROXY_SECRET, refusalOf, viaProxy } from "../gateway/security/support.js";
import { compileConfig } from "../support/gateway-fixture.js";
import { startUpstream, type Upstream } from "../support/upstream.js";
import { externalServiceYaml, startTestEgress, type TestEgress } from "./fixture.js";

/**
 * explain with the egress's labels and the real egress on one config and the same calls: a
 * declared external host (passed through, with the EgressCredential's secret added), an
 * undeclared one (502 NR outbound_host_blocked under REGISTRY_ONLY), ALLOW_ANY, and the
 * AuthorizationPolicy selecting the egress (as in examples/egress.yaml).
 */

const PRODUCTPAGE = "spiffe://acme.test/ns/bookinfo/sa/productpage";
const REVIEWS = "spiffe://acme.test/ns/bookinfo/sa/reviews";
const EGRESS_LABELS = { labels: { istio: "egressgateway" } };

let acme: TrustDomainPki;
let workloads: Record<string, Workload>;
let partner: Upstream;
let egress: TestEgress;
let open: TestEgress;
let config: string;

const POLICY_AND_CREDENTIAL = `
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: { name: egress-callers, namespace: istio-system }
spec:
  selector: { matchLabels: { istio: egressgateway } }
  action: ALLOW
  rules:
  - from: [{ source: { principals: ["acme.test/ns/bookinfo/sa/productpage"] } }]
    to: [{ operation: { hosts: [api.partner.test] } }]
  - to: [{ operation: { hosts: ["127.0.0.1"] } }]
---
apiVersion: mesh.istio.io/v1alpha1
kind: EgressCredential
metadata: { name: partner, namespace: istio-system }
spec:
  hosts: [api.partner.test]
  inject: { header: authorization, secretName: PARTNER_API_KEY, prefix: "Bearer " }
`;

beforeAll(async () => {
  [acme, partner] = await Promise.all([pkiNow("acme.test"), startUpstream({ name: "partner" })]);
  const [productpage, reviews] = await Promise.all([acme.workload(PRODUCTPAGE), acme.workload(REVIEWS)]);
  workloads = { [PRODUCTPAGE]: productpage, [REVIEWS]: reviews };
  config = meshConfigYaml(acme) + externalServiceYaml("partner-api", "api.partner.test", partner) + POLICY_AND_CREDENTIAL;
  const bindings = { MESH_PROXY_SECRET: PROXY_SECRET, PARTNER_API_KEY: "test-partner-key" };
  [egress, open] = await Promise.all([
    startTestEgress(config, { bindings }),
    startTestEgress(meshConfigYaml(acme, "  outboundTrafficPolicy: { mode: ALLOW_ANY }") + externalServiceYaml("partner-api", "api.partner.test", partner) + POLICY_AND_CREDENTIAL, { bindings }),
  ]);
});

afterAll(async () => {
  await Promise.all([egress?.close(), open?.close(), partner?.close()]);
});

interface Case {
  name: string;
  /** Host[:port] the caller asks the egress for. */
  host: () => string;
  peer?: string;
  allowAny?: boolean;
  status: number;
  detail?: string;
}

const cases: Case[] = [
  { name: "a declared external host, an allowed caller", host: () => "api.partner.test", peer: PRODUCTPAGE, status: 200 },
  { name: "a declared external host, another caller", host: () => "api.partner.test", peer: REVIEWS, status: 403, detail: "rbac_access_denied" },
  { name: "a declared external host, no identity", host: () => "api.partner.test", status: 401, detail: "rbac_access_denied_missing_credential" },
  { name: "an undeclared host (REGISTRY_ONLY)", host: () => "api.blocked.test", peer: PRODUCTPAGE, status: 502, detail: "outbound_host_blocked" },
  { name: "an undeclared host under ALLOW_ANY", host: () => `127.0.0.1:${partner.port}`, allowAny: true, status: 200 },
];

describe("explain agrees with the egress", () => {
  it.each(cases)("$name → $status", async ({ host, peer, allowAny, status, detail }) => {
    const target = allowAny ? open : egress;
    const snapshot = await compileConfig(allowAny ? meshConfigYaml(acme, "  outboundTrafficPolicy: { mode: ALLOW_ANY }") + externalServiceYaml("partner-api", "api.partner.test", partner) + POLICY_AND_CREDENTIAL : config);
    const explained = explainRequest(snapshot, { url: `http://${host()}/v1/quotes`, ...(peer ? { peer: { principal: peer } } : {}) }, EGRESS_LABELS);
    expect(explained.outcomes).toHaveLength(1);
    const outcome = explained.outcomes[0]!;

    const before = partner.requests.length;
    const response = await target.fetch("/v1/quotes", { host: host(), headers: await viaProxy(peer ? workloads[peer] : undefined) });
    expect(outcome.status ?? 200).toBe(response.status);
    expect(response.status).toBe(status);
    if (detail !== undefined) {
      const refusal = await refusalOf(response);
      expect(refusal.error).toBe(detail);
      expect(outcome.description.startsWith(`${detail}: `)).toBe(true);
      expect(refusal.flags).toBe(outcome.flag ?? "-");
      return;
    }
    await response.arrayBuffer();
    // What explain says the egress adds is what the external host received.
    const received = partner.requests[before]!;
    if (explained.action?.type !== "forward") throw new Error("expected a forward");
    const credential = explained.action.destinations[0]!.egressCredential ?? null;
    expect(received.headers.authorization === "Bearer test-partner-key").toBe(credential?.inject?.header === "authorization");
    expect(explained.egress?.kind).toBe(allowAny ? "passthrough" : "registered");
  });
});
