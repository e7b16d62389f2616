import { readFile } from "node:fs/promises";
import path from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import type { WriteResult } from "../../control/api/schemas.js";
import { ConfigStoreCore, type StoreAnswer } from "../../control/store/config-store.js";
import { CURRENT_POINTER_KEY, KV_HISTORY_KEY, resourcesKey, snapshotKey } from "../../control/store/keys.js";
import { compileSnapshot } from "../../policies/snapshot/compile.js";
import { Snapshot } from "../../policies/snapshot/schema.js";
import { parseConfigText } from "../../policies/config/load.js";
import { REPO_ROOT } from "../../scripts/lib/bundle-worker.js";
import { extraServiceEntry } from "./support/extra-service.js";
import { MemoryKv, MemoryStorage, type WriteLog } from "./support/memory-backends.js";

/**
 * The config store's rules, in plain Node over in-memory backends: versions, all-or-nothing
 * writes, If-Match, the order of publication, what a failure leaves behind, history, rollback.
 * test/control/api.test.ts runs the same store in its Durable Object in workerd.
 */

let bookinfo: string;
let canary: string;
let broken: string;

beforeAll(async () => {
  [bookinfo, canary, broken] = (await Promise.all(
    ["bookinfo.yaml", "canary-90-10.yaml", "broken-canary.yaml"].map((name) => readFile(path.join(REPO_ROOT, "examples", name), "utf8")),
  )) as [string, string, string];
});

function store(log: WriteLog = { entries: [] }) {
  const storage = new MemoryStorage(log);
  const kv = new MemoryKv(log);
  const core = new ConfigStoreCore({ storage, kv, now: () => new Date("2026-01-02T03:04:05Z"), sleep: async () => {}, log: () => {} });
  return { core, storage, kv, log };
}

function ok<T>(answer: StoreAnswer<T>): T {
  if (answer.status !== 200) throw new Error(`expected 200, got ${answer.status}: ${JSON.stringify(answer.body)}`);
  return answer.body as T;
}

const admin = { author: "alice" };

describe("apply", () => {
  it("stores the set, publishes immutable keys before the pointer and the record last, and versions it by content", async () => {
    const { core, kv, log } = store();
    const result = ok(await core.apply({ text: bookinfo, source: "bookinfo.yaml", ...admin }));
    expect(result).toMatchObject({ changed: true, previousVersion: null, historySeq: 1 });
    expect(result.resources.created).toHaveLength(10);

    // Gateways follow the pointer; what it names must already be complete.
    const order = log.entries.map((entry) => entry.split(":")[0] + ":" + entry.split(":")[1]!.split(",")[0]);
    const pointerAt = log.entries.indexOf(`kv:${CURRENT_POINTER_KEY}`);
    expect(log.entries.indexOf(`kv:${snapshotKey(result.version)}`)).toBeLessThan(pointerAt);
    expect(log.entries.indexOf(`kv:${resourcesKey(result.version)}`)).toBeLessThan(pointerAt);
    expect(log.entries.findIndex((entry) => entry.startsWith("do:"))).toBeGreaterThan(pointerAt);
    expect(order.at(-1)).toBe(`kv:${KV_HISTORY_KEY}`);

    expect(JSON.parse((await kv.get(CURRENT_POINTER_KEY))!)).toEqual({ version: result.version });
    const stored = JSON.parse((await kv.get(snapshotKey(result.version)))!);
    expect(Snapshot.parse(stored).version).toBe(result.version);
    expect(stored.source.digest).toMatch(/^[0-9a-f]{64}$/);
    expect(JSON.parse((await kv.get(resourcesKey(result.version)))!)).toHaveLength(10);
    expect(await core.currentVersion()).toBe(result.version);
  });

  it("answers an identical set with the same version and writes nothing, whatever the order and format", async () => {
    const { core, log } = store();
    const first = ok(await core.apply({ text: bookinfo, ...admin }));
    const writes = log.entries.length;
    const documents = bookinfo.split(/^---$/m).reverse().join("\n---\n");
    const again = ok(await core.apply({ text: documents, ...admin }));
    expect(again).toMatchObject({ version: first.version, changed: false, historySeq: null });
    expect(again.resources.unchanged).toHaveLength(10);
    expect(log.entries.length).toBe(writes);
    expect(ok(await core.history()).entries).toHaveLength(1);
  });

  it("gives a change the compiler does not see (an annotation) a new version, so If-Match can tell them apart", async () => {
    const { core } = store();
    const first = ok(await core.apply({ text: bookinfo, ...admin }));
    const annotated = bookinfo.replace("  name: reviews\n  namespace: bookinfo\nspec:\n  host:", "  name: reviews\n  namespace: bookinfo\n  annotations: { owner: team-b }\nspec:\n  host:");
    expect(annotated).not.toBe(bookinfo);
    const second = ok(await core.apply({ text: annotated, ...admin }));
    expect(second.version).not.toBe(first.version);
    expect(second.resources.changed).toEqual([{ kind: "DestinationRule", namespace: "bookinfo", name: "reviews" }]);
    const compiledAlone = await compileSnapshot(parseConfigText(annotated).resources);
    expect(compiledAlone.ok && compiledAlone.snapshot.version).not.toBe(second.version);
  });

  it("rejects an invalid change with every issue, located in the file, and stores nothing", async () => {
    const { core, log } = store();
    const first = ok(await core.apply({ text: bookinfo, ...admin }));
    const writes = log.entries.length;
    const answer = await core.apply({ text: broken, source: "broken-canary.yaml", ...admin });
    expect(answer.status).toBe(400);
    expect(answer.version).toBe(first.version);
    const issues = (answer.body as { error: { code: string; issues: { message: string; source: { file: string; line: number } }[] } }).error;
    expect(issues.code).toBe("invalid_config");
    expect(issues.issues.map((issue) => issue.message)).toEqual([expect.stringContaining("unknown host 'reviewz.bookinfo.local'"), expect.stringContaining("unknown subset 'v4'")]);
    expect(issues.issues.every((issue) => issue.source.file === "broken-canary.yaml" && issue.source.line === 10)).toBe(true);
    expect(log.entries.length).toBe(writes);
    expect(await core.currentVersion()).toBe(first.version);
  });

  it("reports syntax errors with line and column, and refuses a body without resources", async () => {
    const { core } = store();
    const syntax = await core.apply({ text: "kind: Gateway\nmetadata: { name: x\nspec: {}\n", ...admin });
    expect(syntax.status).toBe(400);
    const issue = (syntax.body as { error: { issues: { code: string; source: { line: number; column: number } }[] } }).error.issues[0]!;
    expect(issue.code).toBe("ERR_CONFIG_PARSE");
    expect(issue.source.line).toBeGreaterThan(0);
    expect(issue.source.column).toBeGreaterThan(0);
    const empty = await core.apply({ text: "# nothing here\n", ...admin });
    expect(empty).toMatchObject({ status: 400, body: { error: { code: "bad_request" } } });
  });

  it("passes the compiler's warnings on, located in the file, and still applies", async () => {
    const { core } = store();
    ok(await core.apply({ text: bookinfo, ...admin }));
    const unserved = `
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: internal-only, namespace: bookinfo }
spec:
  hosts: [ratings.bookinfo.local]
  http: [{ route: [{ destination: { host: ratings.bookinfo.local } }] }]
`;
    const dry = ok(await core.validate({ text: unserved, source: "internal.yaml" }));
    expect(dry.warnings).toEqual([expect.objectContaining({ code: "WARN_CONFIG_NOT_SERVED", path: "spec.gateways", source: expect.objectContaining({ file: "internal.yaml", line: 2 }) })]);
    const applied = ok(await core.apply({ text: unserved, source: "internal.yaml", ...admin }));
    expect(applied.changed).toBe(true);
    expect(applied.warnings).toHaveLength(1);
  });

  it("with prune, makes the set exactly the body", async () => {
    const { core } = store();
    ok(await core.apply({ text: bookinfo, ...admin }));
    // The VirtualService alone is a valid resource, but not a valid whole config: the set is checked.
    const virtualServiceOnly = bookinfo.slice(bookinfo.indexOf("# Everything that enters"));
    const answer = await core.apply({ text: virtualServiceOnly, prune: true, ...admin });
    expect(answer.status).toBe(400);
    const gatewayOnly = bookinfo.split(/^---$/m)[0]!;
    const pruned = ok(await core.apply({ text: gatewayOnly, prune: true, ...admin }));
    expect(pruned.resources.deleted).toHaveLength(9);
    expect(ok(await core.listResources({})).items).toHaveLength(1);
  });
});

describe("If-Match and concurrent writers", () => {
  it("refuses a stale If-Match with 412 and changes nothing; * and the current version pass", async () => {
    const { core, log } = store();
    const first = ok(await core.apply({ text: bookinfo, ...admin }));
    const writes = log.entries.length;
    const stale = await core.apply({ text: canary, ifMatch: { any: false, versions: ["0000000000000000"] }, ...admin });
    expect(stale).toMatchObject({ status: 412, version: first.version, body: { error: { code: "precondition_failed", currentVersion: first.version } } });
    expect(log.entries.length).toBe(writes);
    const empty = store();
    expect((await empty.core.apply({ text: bookinfo, ifMatch: { any: true, versions: [] }, ...admin })).status).toBe(412);
    ok(await core.apply({ text: canary, ifMatch: { any: false, versions: ["x", first.version] }, ...admin }));
  });

  it("lets exactly one of several writers based on the same version win; the others get 412", async () => {
    const { core } = store();
    const base = ok(await core.apply({ text: bookinfo, ...admin }));
    const weights = [91, 92, 93, 94, 95];
    const answers = await Promise.all(
      weights.map((weight) => core.apply({ text: canary.replace("weight: 90", `weight: ${weight}`), ifMatch: { any: false, versions: [base.version] }, author: `writer-${weight}` })),
    );
    expect(answers.map((answer) => answer.status).sort()).toEqual([200, 412, 412, 412, 412]);
    const history = ok(await core.history()).entries;
    expect(history).toHaveLength(2);
    const winner = answers.find((answer) => answer.status === 200)!.body as WriteResult;
    expect(history[0]).toMatchObject({ version: winner.version, previous: base.version });
  });

  it("serialises writers without If-Match: each builds on the one before, none is lost", async () => {
    const { core } = store();
    ok(await core.apply({ text: bookinfo, ...admin }));
    const extra = (index: number) => extraServiceEntry(index, "bookinfo");
    const answers = await Promise.all([0, 1, 2, 3, 4, 5].map((index) => core.apply({ text: extra(index), author: `writer-${index}` })));
    expect(answers.every((answer) => answer.status === 200)).toBe(true);
    expect(ok(await core.listResources({ kind: "se" })).items).toHaveLength(11);
    const history = ok(await core.history()).entries.reverse();
    expect(history.map((entry) => entry.seq)).toEqual([1, 2, 3, 4, 5, 6, 7]);
    for (let index = 1; index < history.length; index++) expect(history[index]!.previous).toBe(history[index - 1]!.version);
  });
});

describe("failures", () => {
  it("retries a KV write the rate limit refused", async () => {
    const { core, kv } = store();
    kv.failures.set(CURRENT_POINTER_KEY, 2);
    const result = ok(await core.apply({ text: bookinfo, ...admin }));
    expect(JSON.parse((await kv.get(CURRENT_POINTER_KEY))!)).toEqual({ version: result.version });
  });

  it("changes nothing when the pointer cannot be written", async () => {
    const { core, kv } = store();
    const first = ok(await core.apply({ text: bookinfo, ...admin }));
    kv.failures.set(CURRENT_POINTER_KEY, 3);
    const answer = await core.apply({ text: canary, ...admin });
    expect(answer).toMatchObject({ status: 503, version: first.version, body: { error: { code: "unavailable" } } });
    expect(JSON.parse((await kv.get(CURRENT_POINTER_KEY))!)).toEqual({ version: first.version });
    expect(ok(await core.history()).entries).toHaveLength(1);
    expect(await core.currentVersion()).toBe(first.version);
  });

  it("moves the pointer back when the store's own record cannot be written", async () => {
    const { core, kv, storage } = store();
    const first = ok(await core.apply({ text: bookinfo, ...admin }));
    storage.failNextPut = new Error("storage overloaded");
    const answer = await core.apply({ text: canary, ...admin });
    expect(answer.status).toBe(503);
    expect(JSON.parse((await kv.get(CURRENT_POINTER_KEY))!)).toEqual({ version: first.version });
    expect(await core.currentVersion()).toBe(first.version);
    // And the next write goes through.
    expect(ok(await core.apply({ text: canary, ...admin })).changed).toBe(true);
  });
});

describe("delete, rollback, history, diff", () => {
  it("refuses a delete that would leave a route without its ServiceEntry, with the reason", async () => {
    const { core } = store();
    const first = ok(await core.apply({ text: bookinfo, ...admin }));
    const refused = await core.delete({ kind: "ServiceEntry", namespace: "bookinfo", name: "reviews" }, admin);
    expect(refused).toMatchObject({ status: 409, version: first.version, body: { error: { code: "conflict" } } });
    const messages = (refused.body as { error: { issues: { message: string }[] } }).error.issues.map((issue) => issue.message);
    expect(messages).toContainEqual(expect.stringContaining("unknown host 'reviews.bookinfo.local'"));
    expect((await core.delete({ kind: "vs", namespace: "bookinfo", name: "nope" }, admin)).status).toBe(404);
    expect((await core.delete({ kind: "Sidecar", namespace: "bookinfo", name: "x" }, admin)).status).toBe(404);
  });

  it("rolls back to an earlier version as a new history entry, with the same version string", async () => {
    const { core } = store();
    const v1 = ok(await core.apply({ text: bookinfo, ...admin }));
    const v2 = ok(await core.apply({ text: canary, author: "bob" }));
    const back = ok(await core.rollback(v1.version, { author: "carol" }));
    expect(back).toMatchObject({ version: v1.version, previousVersion: v2.version, changed: true });
    expect(back.resources.changed).toEqual([{ kind: "VirtualService", namespace: "bookinfo", name: "bookinfo" }]);
    const history = ok(await core.history()).entries;
    expect(history.map((entry) => [entry.seq, entry.action, entry.author, entry.version])).toEqual([
      [3, "rollback", "carol", v1.version],
      [2, "apply", "bob", v2.version],
      [1, "apply", "alice", v1.version],
    ]);
    expect(history[0]!.summary).toBe(`rollback to ${v1.version}: changed VirtualService bookinfo/bookinfo`);
    expect(ok(await core.rollback(v1.version, admin)).changed).toBe(false);
    expect((await core.rollback("ffffffffffffffff", admin)).status).toBe(404);
  });

  it("diffs two versions field by field and serves each version's snapshot", async () => {
    const { core } = store();
    const v1 = ok(await core.apply({ text: bookinfo, ...admin }));
    const v2 = ok(await core.apply({ text: canary, ...admin }));
    const diff = ok(await core.diff(v1.version));
    expect(diff.to).toBe(v2.version);
    expect(diff.changes).toEqual([
      {
        resource: { kind: "VirtualService", namespace: "bookinfo", name: "bookinfo" },
        change: "changed",
        fields: [
          { path: "spec.http[2].route[0].weight", from: 80, to: 90 },
          { path: "spec.http[2].route[1].destination.subset", from: "v2", to: "v3" },
          { path: "spec.http[2].route[1].weight", from: 20, to: 10 },
        ],
      },
    ]);
    expect(ok(await core.snapshot(v1.version)).snapshot.version).toBe(v1.version);
    expect((await core.snapshot("nope")).status).toBe(404);
  });

  it("validates without storing, and survives a restart (a new instance over the same storage)", async () => {
    const log: WriteLog = { entries: [] };
    const storage = new MemoryStorage(log);
    const kv = new MemoryKv(log);
    const first = new ConfigStoreCore({ storage, kv, log: () => {} });
    const v1 = ok(await first.apply({ text: bookinfo, ...admin }));
    const writes = log.entries.length;
    const dry = ok(await first.validate({ text: canary }));
    expect(dry).toMatchObject({ dryRun: true, changed: true, previousVersion: v1.version });
    expect(log.entries.length).toBe(writes);

    const restarted = new ConfigStoreCore({ storage, kv, log: () => {} });
    expect(await restarted.currentVersion()).toBe(v1.version);
    expect(ok(await restarted.listResources({})).items).toHaveLength(10);
    const applied = ok(await restarted.apply({ text: canary, ...admin }));
    expect(applied.version).toBe(dry.version);
  });
});

describe("metrics", () => {
  it("counts the writes it accepted and refused, and reports the current config's size", async () => {
    const { core, kv, storage, log } = store();
    expect(await core.metrics()).toMatchObject({ version: null, historyEntries: 0, lastWriteAt: null, resources: {}, snapshot: null, writes: [], rejected: [] });

    const v1 = ok(await core.apply({ text: bookinfo, ...admin }));
    ok(await core.apply({ text: bookinfo, ...admin })); // unchanged
    ok(await core.validate({ text: canary })); // a dry run is not a write
    expect((await core.apply({ text: broken, ...admin })).status).toBe(400);
    expect((await core.apply({ text: canary, ifMatch: { any: false, versions: ["stale"] }, ...admin })).status).toBe(412);
    ok(await core.apply({ text: canary, ...admin }));
    expect((await core.delete({ kind: "se", namespace: "bookinfo", name: "reviews" }, admin)).status).toBe(409);
    ok(await core.rollback(v1.version, admin));

    const metrics = await core.metrics();
    expect(metrics).toMatchObject({ version: v1.version, historyEntries: 3, lastWriteAt: "2026-01-02T03:04:05.000Z", resources: { Gateway: 1, ServiceEntry: 5, DestinationRule: 1, VirtualService: 1 } });
    expect(metrics.writes).toEqual(
      expect.arrayContaining([
        { action: "apply", result: "published", count: 2 },
        { action: "apply", result: "unchanged", count: 1 },
        { action: "rollback", result: "published", count: 1 },
      ]),
    );
    expect(metrics.writes).toHaveLength(3);
    expect(metrics.rejected).toEqual(
      expect.arrayContaining([
        { action: "apply", reason: "invalid_config", count: 1 },
        { action: "apply", reason: "precondition_failed", count: 1 },
        { action: "delete", reason: "conflict", count: 1 },
      ]),
    );
    expect(metrics.rejected).toHaveLength(3);
    // The size of what gateways read from KV.
    const published = (await kv.get(snapshotKey(v1.version)))!;
    expect(metrics.snapshot).toEqual({ bytes: new TextEncoder().encode(published).length, gateways: 1, virtualHosts: 1, routes: 8, clusters: 7, endpoints: 7 });

    // The counts are kept in storage: a restarted store (an evicted Durable Object) goes on from them.
    expect(log.bookkeeping).toHaveLength(7); // one per counted write
    const restarted = new ConfigStoreCore({ storage, kv, log: () => {} });
    expect((await restarted.metrics()).writes).toEqual(metrics.writes);
    expect((await restarted.apply({ text: broken, ...admin })).status).toBe(400);
    expect((await restarted.metrics()).rejected).toContainEqual({ action: "apply", reason: "invalid_config", count: 2 });
  });
});
