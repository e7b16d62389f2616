import { describe, expect, it } from "vitest";
import { EgressRegistry } from "../../egress/registry.js";
import { compileOrThrow } from "../policies/fixtures.js";

/** The egress's lookup of a host, pure over a compiled snapshot. */

const entry = (name: string, body: string) => `
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: { name: ${name}, namespace: external }
spec:
${body}
`;

const MESH_ALLOW_ANY = `
---
apiVersion: mesh.istio.io/v1alpha1
kind: MeshConfig
metadata: { name: mesh, namespace: default }
spec:
  outboundTrafficPolicy: { mode: ALLOW_ANY }
`;

const ENTRIES =
  entry("stripe", "  hosts: [api.stripe.com]\n  resolution: DNS\n  ports: [{ number: 443, name: https, protocol: HTTPS }, { number: 8080, name: alt }, { number: 80, name: http }]") +
  entry("wide", "  hosts: ['*.example.com']\n  ports: [{ number: 80, name: http }]") +
  entry("narrow", "  hosts: ['*.eu.example.com']\n  resolution: STATIC\n  ports: [{ number: 80, name: http }]\n  endpoints: [{ address: 127.0.0.1, ports: { http: 9001 } }]");

describe("EgressRegistry", () => {
  it("blocks an undeclared host by default (REGISTRY_ONLY)", async () => {
    const registry = new EgressRegistry(await compileOrThrow(ENTRIES));
    expect(registry.policy).toBe("REGISTRY_ONLY");
    expect(registry.resolve("evil.test", 80)).toMatchObject({ kind: "blocked", route: { name: "block_all" } });
    expect(registry.resolve("example.com", 80).kind).toBe("blocked");
  });

  it("picks the port the caller named, else the first HTTP port", async () => {
    const registry = new EgressRegistry(await compileOrThrow(ENTRIES));
    expect(registry.resolve("api.stripe.com", 8080)).toMatchObject({ kind: "registered", port: { number: 8080 } });
    expect(registry.resolve("api.stripe.com", 1234)).toMatchObject({ kind: "registered", port: { number: 8080, protocol: "HTTP" } });
    const https = registry.resolve("api.stripe.com", 443);
    expect(https.kind === "registered" && registry.clusters.get(https.port.cluster)?.cluster.scheme).toBe("https");
  });

  it("prefers the longest wildcard, and sends a wildcard without endpoints to the host asked for", async () => {
    const registry = new EgressRegistry(await compileOrThrow(ENTRIES));
    const narrow = registry.resolve("a.eu.example.com", 80);
    expect(narrow).toMatchObject({ kind: "registered", service: { serviceEntry: "external/narrow" } });
    const wide = registry.resolve("a.us.example.com", 80);
    expect(wide).toMatchObject({ kind: "registered", service: { serviceEntry: "external/wide" } });
    const cluster = wide.kind === "registered" ? registry.clusters.get(wide.route.action.type === "forward" ? wide.route.action.destinations[0]!.cluster : "")?.cluster : undefined;
    expect(cluster).toMatchObject({ key: "a.us.example.com||80", host: "a.us.example.com", endpoints: [{ address: "a.us.example.com", port: 80 }] });
    expect(registry.resolve("a.us.example.com", 80)).toBe(wide);
  });

  it("under ALLOW_ANY, sends an undeclared host to itself through PassthroughCluster", async () => {
    const registry = new EgressRegistry(await compileOrThrow(ENTRIES + MESH_ALLOW_ANY));
    const target = registry.resolve("anything.test", 8081);
    expect(target).toMatchObject({ kind: "passthrough", route: { name: "PassthroughCluster" } });
    expect(registry.clusters.get("PassthroughCluster|anything.test|8081")?.cluster.endpoints).toEqual([{ address: "anything.test", port: 8081, labels: {}, weight: 1 }]);
  });
});
