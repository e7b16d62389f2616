import { describe, expect, it } from "vitest";
import { Snapshot } from "../../policies/snapshot/schema.js";
import { compileOrThrow } from "./fixtures.js";

const entry = (name: string, body: string) => `
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: { name: ${name}, namespace: external }
spec:
${body}
`;

describe("the snapshot's egress table", () => {
  it("lists every MESH_EXTERNAL host (exact and wildcard) with a cluster per port, apart from the routed clusters", async () => {
    const snapshot = await compileOrThrow(
      entry("stripe", "  hosts: [api.stripe.com]\n  ports: [{ number: 443, name: https, protocol: HTTPS }, { number: 80, name: http }]\n  resolution: DNS") +
        entry("wild", "  hosts: ['*.example.com']\n  ports: [{ number: 80, name: http }]") +
        entry("inside", "  hosts: [db.internal]\n  location: MESH_INTERNAL\n  ports: [{ number: 80, name: http }]"),
    );
    expect(Snapshot.parse(snapshot)).toEqual(snapshot);
    expect(snapshot.clusters).toEqual({});
    expect(snapshot.egress?.services).toEqual([
      { host: "*.example.com", serviceEntry: "external/wild", ports: [{ number: 80, protocol: "HTTP", cluster: "*.example.com||80" }] },
      {
        host: "api.stripe.com",
        serviceEntry: "external/stripe",
        ports: [
          { number: 443, protocol: "HTTPS", cluster: "api.stripe.com||443" },
          { number: 80, protocol: "HTTP", cluster: "api.stripe.com||80" },
        ],
      },
    ]);
    expect(snapshot.egress?.clusters["api.stripe.com||443"]).toMatchObject({ scheme: "https", endpoints: [{ address: "api.stripe.com", port: 443 }] });
  });

  it("is absent when no ServiceEntry is MESH_EXTERNAL", async () => {
    const snapshot = await compileOrThrow(entry("inside", "  hosts: [db.internal]\n  location: MESH_INTERNAL\n  ports: [{ number: 80, name: http }]"));
    expect(snapshot.egress).toBeUndefined();
  });
});
