import { describe, expect, it } from "vitest";
import { RemoteDocument, type Fetcher } from "../../../policies/identity/remote-document.js";

/** A cached remote JWKS / bundle: the last good copy survives failures; refreshes are rate-limited. */

function server() {
  const state = { body: { keys: [{ kid: "a" }] } as unknown, status: 200, calls: 0, fail: false };
  const fetch: Fetcher = async () => {
    state.calls++;
    if (state.fail) throw new TypeError("connection refused");
    return new Response(JSON.stringify(state.body), { status: state.status });
  };
  return { state, fetch };
}

const parse = (json: unknown) => {
  const keys = (json as { keys?: unknown }).keys;
  if (!Array.isArray(keys)) throw new Error("not a key set");
  return keys.map((key: { kid: string }) => key.kid);
};

describe("RemoteDocument", () => {
  it("fetches on first use, then serves the cache until it is stale", async () => {
    const { state, fetch } = server();
    const document = new RemoteDocument({ url: "https://idp.test/jwks", fetch, parse, maxAgeMs: 60_000 });
    expect(await document.get(0)).toEqual(["a"]);
    expect(await document.get(59_000)).toEqual(["a"]);
    expect(state.calls).toBe(1);
    state.body = { keys: [{ kid: "b" }] };
    expect(await document.get(60_000)).toEqual(["b"]);
    expect(document.generation).toBe(2);
  });

  it("keeps the last good keys when the endpoint fails, answers non-2xx or serves garbage", async () => {
    const { state, fetch } = server();
    const document = new RemoteDocument({ url: "https://idp.test/jwks", fetch, parse, maxAgeMs: 1_000, cooldownMs: 0 });
    await document.get(0);
    state.fail = true;
    expect(await document.get(5_000)).toEqual(["a"]);
    expect(document.lastError).toContain("connection refused");
    state.fail = false;
    state.status = 500;
    expect(await document.get(10_000)).toEqual(["a"]);
    state.status = 200;
    state.body = { nope: true };
    expect(await document.get(15_000)).toEqual(["a"]);
    state.body = { keys: [{ kid: "c" }] };
    expect(await document.get(20_000)).toEqual(["c"]);
    expect(document.lastError).toBeUndefined();
  });

  it("refreshes on an unknown key at once after a routine load, then at most once per cooldown", async () => {
    const { state, fetch } = server();
    const document = new RemoteDocument({ url: "https://idp.test/jwks", fetch, parse, cooldownMs: 30_000 });
    await document.get(0);
    state.body = { keys: [{ kid: "rotated" }] };
    // A key rotated right after the routine load is picked up by the first request that carries it.
    expect(await document.get(1_000, { refresh: true })).toEqual(["rotated"]);
    state.body = { keys: [{ kid: "again" }] };
    expect(await document.get(20_000, { refresh: true })).toEqual(["rotated"]);
    expect(state.calls).toBe(2);
    expect(await document.get(31_000, { refresh: true })).toEqual(["again"]);
    expect(state.calls).toBe(3);
  });

  it("lets only a few refreshes run at once", async () => {
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    let calls = 0;
    const slow: Fetcher = async () => {
      calls++;
      if (calls > 1) await gate;
      return new Response(JSON.stringify({ keys: [{ kid: "a" }] }));
    };
    const document = new RemoteDocument({ url: "https://idp.test/jwks", fetch: slow, parse });
    await document.get(0);
    const pending = Array.from({ length: 10 }, () => document.get(1_000, { refresh: true }));
    release();
    await Promise.all(pending);
    expect(calls).toBe(1 + 4);
  });

  it("with nothing cached, retries only after the cooldown once a fetch has failed", async () => {
    const { state, fetch } = server();
    state.fail = true;
    const document = new RemoteDocument({ url: "https://idp.test/jwks", fetch, parse, cooldownMs: 30_000 });
    expect(await document.get(0)).toBeUndefined();
    expect(await document.get(1_000)).toBeUndefined();
    expect(state.calls).toBe(1);
    state.fail = false;
    expect(await document.get(30_000)).toEqual(["a"]);
  });

  it("refreshes a stale document in the background, serving the cached one at once", async () => {
    const { state, fetch } = server();
    const document = new RemoteDocument({ url: "https://idp.test/jwks", fetch, parse, maxAgeMs: 1_000 });
    await document.get(0);
    state.body = { keys: [{ kid: "b" }] };
    const pending: Promise<unknown>[] = [];
    expect(await document.get(40_000, { background: (work) => pending.push(work) })).toEqual(["a"]);
    await Promise.all(pending);
    expect(document.peek()).toEqual(["b"]);
  });

  it("honours a per-document freshness (a bundle's refresh hint), clamped to the cooldown", async () => {
    const { state, fetch } = server();
    const document = new RemoteDocument<string[]>({ url: "https://td.test/bundle", fetch, parse, maxAgeMs: 3_600_000, cooldownMs: 30_000, freshnessOf: () => 1 });
    await document.get(0);
    await document.get(29_000);
    expect(state.calls).toBe(1);
    await document.get(30_000);
    expect(state.calls).toBe(2);
  });

  it("refuses documents larger than maxBytes, and does not follow redirects", async () => {
    const moved = new RemoteDocument({ url: "https://idp.test/jwks", fetch: async () => new Response(null, { status: 302, headers: { location: "https://evil.test/jwks" } }), parse });
    expect(await moved.get(0)).toBeUndefined();
    expect(moved.lastError).toContain("HTTP 302");
    const seen: RequestInit[] = [];
    const big: Fetcher = async (_url, init) => {
      seen.push(init);
      return new Response("x".repeat(2_000));
    };
    const document = new RemoteDocument({ url: "https://idp.test/jwks", fetch: big, parse, maxBytes: 1_000 });
    expect(await document.get(0)).toBeUndefined();
    expect(document.lastError).toContain("exceeds 1000 bytes");
    expect(seen[0]!.redirect).toBe("manual");
  });
});
