import { describe, expect, it } from "vitest";
import { parseConfigText } from "../../policies/config/load.js";
import { compileSnapshot } from "../../policies/snapshot/compile.js";
import { ISTIO_DEFAULT_RETRIES } from "../../policies/snapshot/compile-routes.js";
import { Snapshot } from "../../policies/snapshot/schema.js";
import { BASE_YAML, compileOrThrow, compileYaml, virtualService } from "./fixtures.js";

const reviewsVs = (http: string) =>
  virtualService("reviews", `hosts: [reviews.example.com]\ngateways: [edge/public]\nhttp:\n${http}`);

describe("compileSnapshot", () => {
  it("builds clusters from ServiceEntry endpoints selected by subset labels, with endpoint ports by port name", async () => {
    const snapshot = await compileOrThrow(
      BASE_YAML +
        reviewsVs(`- route:
  - { destination: { host: reviews.shop.internal, subset: v1 }, weight: 80 }
  - { destination: { host: reviews.shop.internal, subset: v3 }, weight: 20 }`),
    );
    expect(Snapshot.parse(snapshot)).toEqual(snapshot);
    const v1 = snapshot.clusters["reviews.shop.internal|v1|9080"]!;
    expect(v1.endpoints).toEqual([{ address: "127.0.0.1", port: 10001, labels: { version: "v1" }, weight: 1 }]);
    expect(v1.loadBalancer).toEqual({ type: "least_request" });
    expect(snapshot.clusters["reviews.shop.internal|v3|9080"]!.loadBalancer).toEqual({ type: "round_robin" });
    const route = snapshot.routes[0]!;
    expect(route.action).toMatchObject({ type: "forward", totalWeight: 100 });
    expect(route.retries).toEqual(ISTIO_DEFAULT_RETRIES);
    expect(route.name).toBe("shop/reviews#0");
  });

  it("gives a route with a fault no retries and no timeout, as Istio does", async () => {
    const snapshot = await compileOrThrow(
      BASE_YAML +
        reviewsVs(`- name: faulty
  timeout: 2s
  retries: { attempts: 5 }
  fault: { abort: { httpStatus: 503 } }
  route: [{ destination: { host: reviews.shop.internal, subset: v1 } }]
- name: plain
  timeout: 2s
  retries: { attempts: 0 }
  route: [{ destination: { host: reviews.shop.internal, subset: v1 } }]`),
    );
    expect(snapshot.routes[0]).toMatchObject({ name: "faulty", retries: null, fault: { abort: { status: 503, percent: 100 } } });
    expect(snapshot.routes[0]!.timeoutMs).toBeUndefined();
    expect(snapshot.routes[1]).toMatchObject({ name: "plain", retries: null, timeoutMs: 2000 });
  });

  it("has the same version for the same set in any order, and a new one for any change", async () => {
    const vs = reviewsVs(`- route: [{ destination: { host: reviews.shop.internal, subset: v1 } }]`);
    const a = await compileOrThrow(BASE_YAML + vs);
    const b = await compileOrThrow(vs.replace(/^\n---\n/, "") + "\n---\n" + BASE_YAML);
    const c = await compileOrThrow(BASE_YAML + vs.replace("subset: v1", "subset: v2"));
    expect(a.version).toMatch(/^[0-9a-f]{16}$/);
    expect(b.version).toBe(a.version);
    expect(c.version).not.toBe(a.version);
  });

  it("reports every cross-resource error with resource and field", async () => {
    const { issues } = await compileYaml(
      BASE_YAML +
        reviewsVs(`- route:
  - { destination: { host: nowhere.internal } }
- route:
  - { destination: { host: reviews.shop.internal, subset: v9 } }
- route:
  - { destination: { host: reviews.shop.internal, subset: v1 }, weight: 0 }
  - { destination: { host: reviews.shop.internal, subset: v2 }, weight: 0 }`) +
        virtualService("other", "hosts: [reviews.example.com, elsewhere.org]\ngateways: [edge/public, missing]\nhttp:\n- route: [{ destination: { host: reviews.shop.internal } }]"),
    );
    const lines = issues.map((issue) => `${issue.code} ${issue.resource?.name} ${issue.path}: ${issue.message}`);
    expect(lines).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^ERR_CONFIG_REFERENCE other spec\.gateways\[1\]: unknown gateway 'missing'/),
        expect.stringMatching(/^ERR_CONFIG_REFERENCE other spec\.hosts\[1\]: host 'elsewhere\.org' is not exposed by any server of Gateway edge\/public/),
        expect.stringMatching(/^ERR_CONFIG_REFERENCE reviews spec\.http\[0\]\.route\[0\]\.destination: unknown host 'nowhere\.internal'/),
        expect.stringMatching(/^ERR_CONFIG_REFERENCE reviews spec\.http\[1\]\.route\[0\]\.destination: unknown subset 'v9'.*defines: v1, v2, v3/),
        expect.stringMatching(/^ERR_CONFIG_WEIGHTS reviews spec\.http\[2\]\.route: destination weights sum to zero/),
        expect.stringMatching(/^ERR_CONFIG_CONFLICT reviews spec\.hosts\[0\]: host 'reviews\.example\.com' on Gateway edge\/public is already routed by VirtualService shop\/other/),
      ]),
    );
    expect(lines).toHaveLength(6);
  });

  it("rejects conflicting registry entries and a DestinationRule for an unknown host", async () => {
    const { issues } = await compileYaml(
      BASE_YAML +
        `
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: { name: reviews-copy, namespace: shop }
spec:
  hosts: [reviews.shop.internal]
  ports: [{ number: 80, name: http }]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: { name: typo, namespace: shop }
spec:
  host: reveiws.shop.internal
`,
    );
    expect(issues.map((issue) => [issue.code, issue.resource?.name, issue.path])).toEqual([
      ["ERR_CONFIG_CONFLICT", "reviews-copy", "spec.hosts[0]"],
      ["ERR_CONFIG_REFERENCE", "typo", "spec.host"],
    ]);
  });

  it("points compiler issues at the file and line the resource was read from", async () => {
    const text = BASE_YAML + reviewsVs(`- route: [{ destination: { host: nowhere.internal } }]`);
    const loaded = parseConfigText(text, "mesh.yaml");
    const result = await compileSnapshot(loaded.resources);
    expect(result.ok).toBe(false);
    if (result.ok) return;
    const [issue] = loaded.locate(result.issues);
    // The document starts at its apiVersion line, the one before `kind: VirtualService` (1-based: that index).
    const line = text.split("\n").indexOf("kind: VirtualService");
    expect(issue!.source).toEqual({ file: "mesh.yaml", document: 3, line, column: 1 });
  });

  it("gives a sole destination all traffic whatever its weight", async () => {
    const snapshot = await compileOrThrow(BASE_YAML + reviewsVs(`- route: [{ destination: { host: reviews.shop.internal, subset: v1 }, weight: 0 }]`));
    expect(snapshot.routes[0]!.action).toMatchObject({ totalWeight: 100, destinations: [{ weight: 100 }] });
  });

  it("warns about a VirtualService that no gateway serves (Istio binds it to 'mesh' only)", async () => {
    const loaded = parseConfigText(BASE_YAML + virtualService("sidecar-only", "hosts: [reviews.example.com]\nhttp:\n- route: [{ destination: { host: reviews.shop.internal } }]"));
    const result = await compileSnapshot(loaded.resources);
    expect(result.ok && result.warnings).toEqual([
      expect.objectContaining({ code: "WARN_CONFIG_NOT_SERVED", resource: { kind: "VirtualService", namespace: "shop", name: "sidecar-only" }, path: "spec.gateways" }),
    ]);
  });

  it("resolves a concrete destination host through a wildcard ServiceEntry, and rejects wildcard destinations", async () => {
    const registry = `
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: { name: apis, namespace: shop }
spec:
  hosts: ["*.api.example"]
  resolution: DNS
  ports: [{ number: 443, name: https, protocol: HTTPS, targetPort: 8443 }]
`;
    const snapshot = await compileOrThrow(BASE_YAML + registry + reviewsVs(`- route: [{ destination: { host: v1.api.example } }]`));
    expect(snapshot.clusters["v1.api.example||443"]).toMatchObject({ scheme: "https", endpoints: [{ address: "v1.api.example", port: 8443 }] });
    const { issues } = await compileYaml(BASE_YAML + registry + reviewsVs(`- route: [{ destination: { host: "*.api.example" } }]`));
    expect(issues).toEqual([expect.objectContaining({ path: "spec.http[0].route[0].destination.host", message: expect.stringMatching(/concrete host/) })]);
  });

  it("requires a port when the destination host has several", async () => {
    const loaded = parseConfigText(`
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: { name: multi }
spec:
  hosts: [multi.internal]
  ports: [{ number: 80, name: http }, { number: 8080, name: admin }]
  resolution: DNS
---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: { name: gw }
spec:
  servers: [{ port: { number: 80, name: http, protocol: HTTP }, hosts: ["*"] }]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: multi }
spec:
  hosts: [multi.test]
  gateways: [gw]
  http:
  - route: [{ destination: { host: multi.internal } }]
  - route: [{ destination: { host: multi.internal, port: { number: 8080 } } }]
`);
    const result = await compileSnapshot(loaded.resources);
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.issues).toEqual([expect.objectContaining({ path: "spec.http[0].route[0].destination", message: expect.stringMatching(/several ports \(80, 8080\)/) })]);
  });
});
