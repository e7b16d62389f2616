import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { bundleSources } from "../../control/cli/files.js";
import { runMeshctl } from "../../control/cli/main.js";
import { planApply } from "../../control/store/plan.js";
import { readResourceText } from "../../control/store/read-text.js";
import { toMap } from "../../control/store/resource-set.js";
import { REPO_ROOT } from "../../scripts/lib/bundle-worker.js";
import { startClosedPort } from "../support/upstream.js";

/**
 * meshctl in-process: argument handling, exit codes, offline validation with the server's own
 * messages, and how several files are sent as one body with their lines mapped back.
 * test/e2e/meshctl.test.ts drives it as a real process against `npm start`.
 */

let home: string;
const cwd = process.cwd();

beforeAll(async () => {
  home = await mkdtemp(path.join(tmpdir(), "meshctl-home-"));
  process.chdir(REPO_ROOT);
});
afterAll(async () => {
  process.chdir(cwd);
  await rm(home, { recursive: true, force: true });
});

async function meshctl(args: string[], env: NodeJS.ProcessEnv = {}) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runMeshctl(args, { out: (text) => out.push(text), err: (text) => err.push(text), env: { MESH_HOME: home, ...env } });
  return { code, out: out.join("\n"), err: err.join("\n") };
}

describe("meshctl", () => {
  it("exits 2 on usage errors, with the usage", async () => {
    expect((await meshctl([])).code).toBe(2);
    const unknown = await meshctl(["frobnicate"]);
    expect(unknown).toMatchObject({ code: 2, err: expect.stringContaining("unknown command 'frobnicate'") });
    const stray = await meshctl(["get", "vs", "--prune"]);
    expect(stray).toMatchObject({ code: 2, err: expect.stringContaining("--prune does not apply to this command") });
    expect((await meshctl(["apply"])).err).toContain("no input: give -f FILE");
    expect((await meshctl(["apply", "-f", "no/such/file.yaml"])).err).toContain("cannot read no/such/file.yaml: no such file or directory");
    expect((await meshctl(["get", "sidecars"])).code).toBe(2);
    const help = await meshctl(["--help"]);
    expect(help).toMatchObject({ code: 0, out: expect.stringContaining("exit codes:") });
    expect((await meshctl(["apply", "--help"])).out).toContain("usage: meshctl apply -f FILE|DIR|-");
  });

  it("validates offline with the control plane's own messages, on top of a base config", async () => {
    const broken = await meshctl(["validate", "-f", "examples/broken-canary.yaml", "--base", "examples/bookinfo.yaml"]);
    expect(broken.code).toBe(1);
    expect(broken.err.split("\n")).toEqual([
      "error: the config is invalid (2 issues)",
      "  examples/broken-canary.yaml:10:1: VirtualService bookinfo/bookinfo: spec.http[1].route[0].destination: route 'reviews-jason': unknown host 'reviewz.bookinfo.local': no ServiceEntry declares it",
      "  examples/broken-canary.yaml:10:1: VirtualService bookinfo/bookinfo: spec.http[2].route[1].destination: route 'reviews': unknown subset 'v4' of host 'reviews.bookinfo.local' (DestinationRule bookinfo/reviews defines: v1, v2, v3)",
    ]);

    const good = await meshctl(["validate", "-f", "examples/canary-90-10.yaml", "--base", "examples/bookinfo.yaml", "-o", "json"]);
    expect(good.code).toBe(0);
    // The version it announces is the one the server computes for the same change.
    const base = readResourceText(await readFile("examples/bookinfo.yaml", "utf8"));
    const change = readResourceText(await readFile("examples/canary-90-10.yaml", "utf8"));
    if (!base.ok || !change.ok) throw new Error("examples must read");
    const plan = await planApply(toMap(base.resources), change.resources);
    expect(plan.ok && JSON.parse(good.out).version).toBe(plan.ok && plan.version);

    // Alone, the canary refers to hosts it does not declare.
    expect((await meshctl(["validate", "-f", "examples/canary-90-10.yaml"])).code).toBe(1);
    expect((await meshctl(["validate", "-f", "examples/bookinfo.yaml"])).out).toMatch(/^valid as a whole config: 10 resources checked; the config would be version [0-9a-f]{16}$/);
  });

  it("sends several files as one body and maps the server's line numbers back to each file", () => {
    const bundle = bundleSources([
      { name: "a.yaml", text: "kind: A\nmetadata: {}\n" },
      { name: "b.yaml", text: "# comment\nkind: B" },
      { name: "c.yaml", text: "kind: C\n" },
    ]);
    expect(bundle.text).toBe("kind: A\nmetadata: {}\n---\n# comment\nkind: B\n---\nkind: C\n---\n");
    expect(bundle.single).toBeUndefined();
    const at = (line: number) => bundle.locate({ code: "ERR_CONFIG_SCHEMA", path: "", message: "x", source: { document: 3, line, column: 1 } }).source;
    expect(at(2)).toEqual({ file: "a.yaml", line: 2, column: 1 });
    expect(at(5)).toEqual({ file: "b.yaml", line: 2, column: 1 });
    expect(at(7)).toEqual({ file: "c.yaml", line: 1, column: 1 });
    expect(bundleSources([{ name: "only.yaml", text: "x" }]).single).toBe("only.yaml");
  });

  it("says how to get a token, and exits 3 when the control API cannot be reached", async () => {
    const noToken = await meshctl(["history"], { MESH_ADMIN_TOKEN: "" });
    expect(noToken).toMatchObject({ code: 2, err: expect.stringContaining("no token") });
    expect(noToken.err).toContain(".mesh/admin-token");
    const closed = await startClosedPort();
    const unreachable = await meshctl(["history", "--server", closed.url, "--token", "t"]);
    expect(unreachable.code).toBe(3);
    expect(unreachable.err).toContain(`cannot reach the control API at ${closed.url}`);
  });
});
