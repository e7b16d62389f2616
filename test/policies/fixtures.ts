import { parseConfigText } from "../../policies/config/load.js";
import { compileSnapshot } from "../../policies/snapshot/compile.js";
import type { Snapshot } from "../../policies/snapshot/schema.js";
import type { ConfigIssue } from "../../policies/errors.js";

/** A small registry (ServiceEntry + DestinationRule) and Gateway most policy tests build on. */
export const BASE_YAML = `
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: { name: public, namespace: edge }
spec:
  selector: { istio: ingressgateway }
  servers:
  - port: { number: 80, name: http, protocol: HTTP }
    hosts: ["*.example.com", "shop.test"]
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: { name: reviews, namespace: shop }
spec:
  hosts: [reviews.shop.internal]
  location: MESH_INTERNAL
  resolution: STATIC
  ports: [{ number: 9080, name: http, protocol: HTTP }]
  endpoints:
  - { address: 127.0.0.1, ports: { http: 10001 }, labels: { version: v1 } }
  - { address: 127.0.0.1, ports: { http: 10002 }, labels: { version: v2 } }
  - { address: 127.0.0.1, ports: { http: 10003 }, labels: { version: v3 } }
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: { name: reviews, namespace: shop }
spec:
  host: reviews.shop.internal
  subsets:
  - { name: v1, labels: { version: v1 } }
  - { name: v2, labels: { version: v2 } }
  - { name: v3, labels: { version: v3 }, trafficPolicy: { loadBalancer: { simple: ROUND_ROBIN } } }
`;

export function virtualService(name: string, body: string, namespace = "shop"): string {
  return `
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: ${name}, namespace: ${namespace} }
spec:
${body
  .split("\n")
  .map((line) => `  ${line}`)
  .join("\n")}
`;
}

export async function compileYaml(yaml: string): Promise<{ snapshot?: Snapshot; issues: ConfigIssue[] }> {
  const loaded = parseConfigText(yaml, "test.yaml");
  if (loaded.issues.length > 0) return { issues: loaded.issues };
  const compiled = await compileSnapshot(loaded.resources);
  return compiled.ok ? { snapshot: compiled.snapshot, issues: [] } : { issues: compiled.issues };
}

export async function compileOrThrow(yaml: string): Promise<Snapshot> {
  const result = await compileYaml(yaml);
  if (!result.snapshot) throw new Error(result.issues.map((issue) => `${issue.path}: ${issue.message}`).join("\n"));
  return result.snapshot;
}
