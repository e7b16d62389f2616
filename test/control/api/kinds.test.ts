import { describe, expect, it } from "vitest";
import { kindUsage, resolveKind } from "../../../control/api/kinds.js";
import { RESOURCE_KINDS } from "../../../policies/resources/resource.js";

describe("resolveKind", () => {
  it("accepts a kind as written, its kubectl plural and its short name", () => {
    expect(resolveKind("VirtualService")).toBe("VirtualService");
    expect(resolveKind("virtualservices")).toBe("VirtualService");
    expect(resolveKind("vs")).toBe("VirtualService");
    expect(resolveKind("gateways")).toBe("Gateway");
    expect(resolveKind("authorizationpolicies")).toBe("AuthorizationPolicy");
    expect(resolveKind("serviceentrys")).toBeUndefined();
    expect(resolveKind("nothing")).toBeUndefined();
  });

  it("accepts Istio's short names of the security kinds", () => {
    expect(resolveKind("ap")).toBe("AuthorizationPolicy");
    expect(resolveKind("pa")).toBe("PeerAuthentication");
    expect(resolveKind("RA")).toBe("RequestAuthentication");
  });

  it("accepts every kind by each name the usage line lists, and the usage line lists every kind", () => {
    const names = kindUsage().split(", ");
    expect(names).toHaveLength(RESOURCE_KINDS.length);
    names.forEach((entry, index) => {
      for (const name of entry.split("|")) expect(resolveKind(name), name).toBe(RESOURCE_KINDS[index]);
    });
    expect(kindUsage()).toContain("telemetries");
    expect(kindUsage()).toContain("egresscredentials");
  });
});
