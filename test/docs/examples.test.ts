import { readFile } from "node:fs/promises";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { REPO_ROOT } from "../../scripts/lib/bundle-worker.js";
import { compileConfig } from "../support/gateway-fixture.js";

/**
 * docs/examples/traffic-management.yaml is the config every example in
 * docs/traffic-management.md runs on: it must stay valid, and the route names the doc's sample
 * answers show must be routes of it.
 */
describe("docs/examples/traffic-management.yaml", () => {
  it("compiles, and has the routes docs/traffic-management.md quotes", async () => {
    const file = path.join(REPO_ROOT, "docs/examples/traffic-management.yaml");
    const snapshot = await compileConfig(await readFile(file, "utf8"), file);
    const doc = await readFile(path.join(REPO_ROOT, "docs/traffic-management.md"), "utf8");
    const quoted = [...doc.matchAll(/"route":"([^"<]+)"/g)].map((match) => match[1]!);
    expect(quoted.length).toBeGreaterThan(0);
    expect(snapshot.routes.map((route) => route.name)).toEqual(expect.arrayContaining(quoted));
  });
});
