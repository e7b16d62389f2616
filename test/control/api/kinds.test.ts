import { describe, expect, it } from "vitest";
import { resolveKind } from "../../../control/api/kinds.js";

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
});
