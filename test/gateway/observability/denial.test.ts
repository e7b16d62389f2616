import { Hono, type MiddlewareHandler } from "hono";
import { describe, expect, it } from "vitest";
import { parseConfigText } from "../../../policies/config/load.js";
import { compileSnapshot } from "../../../policies/snapshot/compile.js";
import { CURRENT_POINTER_KEY, snapshotKey } from "../../../policies/snapshot/kv-layout.js";
import { SnapshotSource } from "../../../gateway/config/snapshot-source.js";
import type { GatewayEnv } from "../../../gateway/context.js";
import { parseGatewaySettings } from "../../../gateway/env.js";
import { GatewayError, type ResponseFlag } from "../../../gateway/errors.js";
import { renderGatewayError } from "../../../gateway/errors-handler.js";
import { loadConfig } from "../../../gateway/stages/load-config.js";
import { meshEndpoints } from "../../../gateway/stages/mesh-endpoints.js";
import { metrics } from "../../../gateway/stages/metrics.js";
import { requestId } from "../../../gateway/stages/request-id.js";
import { requestView } from "../../../gateway/stages/request-view.js";
import { route } from "../../../gateway/stages/route.js";
import { streamStart } from "../../../gateway/stages/stream-start.js";
import { traceContext } from "../../../gateway/stages/trace-context.js";
import { createGatewayTelemetry } from "../../../gateway/telemetry/gateway-telemetry.js";
import { gatewayYaml, virtualServiceYaml } from "../mesh-config.js";
import { only, parseExposition } from "../../policies/telemetry/prometheus-parser.js";

/**
 * A denial, as the authorization stage records it (flag `RBAC`, detail `rbac_access_denied`, the
 * decision and the policy), shows in Istio's metrics as a 403 with `response_flags="RBAC"` to
 * the route's service, and in the decision counter. The real stages run up to the route, in
 * process; a stand-in writes what the authz stage writes, so this holds as soon as it lands.
 */

const config = `${gatewayYaml()}
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: { name: payments, namespace: shop }
spec:
  hosts: [payments.internal]
  location: MESH_INTERNAL
  resolution: STATIC
  ports: [{ number: 80, name: http, protocol: HTTP }]
  endpoints: [{ address: 127.0.0.1, ports: { http: 9 } }]
${virtualServiceYaml("payments", ["pay.test"], `- name: pay\n  route: [{ destination: { host: payments.internal } }]`)}`;

function standInAuthz(decision: "deny" | "audit" | "allow"): MiddlewareHandler<GatewayEnv> {
  return async function authz(c, next) {
    const stream = c.var.stream;
    stream.authzDecision = decision;
    stream.authzPolicy = "shop/deny-anonymous";
    if (decision === "deny") {
      stream.flags.push("RBAC" as ResponseFlag);
      throw new GatewayError(403, undefined, "rbac_access_denied", "RBAC: access denied");
    }
    return c.text("allowed", 200);
  };
}

async function gatewayWith(decision: "deny" | "audit" | "allow") {
  const loaded = parseConfigText(config, "denial.yaml");
  const compiled = await compileSnapshot(loaded.resources);
  if (!compiled.ok) throw new Error(JSON.stringify(compiled.issues));
  const kv = new Map([
    [CURRENT_POINTER_KEY, JSON.stringify({ version: compiled.snapshot.version })],
    [snapshotKey(compiled.snapshot.version), JSON.stringify(compiled.snapshot)],
  ]);
  const settings = parseGatewaySettings({});
  const log = () => {};
  const telemetry = createGatewayTelemetry({ settings, fetcher: fetch, now: Date.now, log });
  const source = new SnapshotSource({ ttlMs: 5000, labels: settings.MESH_GATEWAY_LABELS });
  const app = new Hono<GatewayEnv>();
  app.onError(renderGatewayError(log));
  app.use(streamStart({ settings, random: Math.random, now: Date.now }));
  app.use(metrics(telemetry, Date.now));
  app.use(requestId());
  app.use(traceContext());
  app.use(meshEndpoints(source));
  app.use(loadConfig(source, Date.now));
  app.use(requestView());
  app.use(route());
  app.use(standInAuthz(decision));
  const pending: Promise<unknown>[] = [];
  const env = { MESH_CONFIG: { get: async (key: string) => kv.get(key) ?? null } };
  const ctx = { waitUntil: (promise: Promise<unknown>) => void pending.push(promise), passThroughOnException: () => {}, props: {} };
  return {
    async fetch(path: string, host: string) {
      const response = await app.request(`http://${host}${path}`, { headers: { host } }, env, ctx as unknown as ExecutionContext);
      const text = await response.text();
      await Promise.all(pending);
      return { status: response.status, text };
    },
  };
}

describe("a denial in the metrics", () => {
  it("is a 403 with RBAC to the route's service, and a deny in the decision counter", async () => {
    const gateway = await gatewayWith("deny");
    expect((await gateway.fetch("/charge", "pay.test")).status).toBe(403);
    const metrics = parseExposition((await gateway.fetch("/__mesh/metrics", "pay.test")).text);
    expect(only(metrics.get("istio_requests_total")!.samples, { reporter: "source" }).labels).toMatchObject({
      response_code: "403",
      response_flags: "RBAC",
      destination_service: "payments.internal",
      destination_service_namespace: "shop",
    });
    expect(metrics.get("istio_requests_total")!.samples.filter((sample) => sample.labels.reporter === "destination")).toEqual([]);
    expect(metrics.get("mesh_authz_decisions_total")!.samples).toEqual([{ labels: { decision: "deny", policy: "shop/deny-anonymous" }, value: 1 }]);
  });

  it("counts an audited request that went through under its own decision", async () => {
    const gateway = await gatewayWith("audit");
    expect((await gateway.fetch("/charge", "pay.test")).status).toBe(200);
    const metrics = parseExposition((await gateway.fetch("/__mesh/metrics", "pay.test")).text);
    expect(only(metrics.get("mesh_authz_decisions_total")!.samples, { decision: "audit" }).value).toBe(1);
    expect(only(metrics.get("istio_requests_total")!.samples, { reporter: "source" }).labels.response_flags).toBe("-");
  });
});
