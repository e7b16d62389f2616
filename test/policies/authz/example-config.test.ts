import { readFile } from "node:fs/promises";
import { describe, expect, it } from "vitest";
import { parseConfigText } from "../../../policies/config/load.js";
import { compileSnapshot } from "../../../policies/snapshot/compile.js";

describe("examples/security/mesh.yaml", () => {
  it("is a valid config with the security section the demo relies on", async () => {
    const loaded = parseConfigText(await readFile(new URL("../../../examples/security/mesh.yaml", import.meta.url), "utf8"));
    expect(loaded.issues).toEqual([]);
    const compiled = await compileSnapshot(loaded.resources);
    expect(compiled.ok && compiled.warnings).toEqual([]);
    const security = compiled.ok ? compiled.snapshot.security! : undefined;
    expect(security?.trustBundles).toEqual([{ trustDomain: "acme.test", x509Authorities: [], jwtAuthorities: [], url: "http://127.0.0.1:9091/bundle.json" }]);
    expect(security?.gatewayTls["edge/edge"]!.map((server) => server.mode)).toEqual(["MUTUAL"]);
    expect(security?.authorizationPolicies.map((policy) => `${policy.name} ${policy.action}`)).toEqual(["shop/no-deletes DENY", "shop/shop ALLOW"]);
  });
});
