import { describe, expect, it } from "vitest";
import { VerifiedCache } from "../../../policies/identity/verified-cache.js";

describe("VerifiedCache", () => {
  it("never serves an entry past its credential's expiry or the cache's own TTL", () => {
    const cache = new VerifiedCache<string>(10, 1_000);
    cache.set("token", "ok", 0, 500);
    expect(cache.get("token", 499)).toBe("ok");
    expect(cache.get("token", 500)).toBeUndefined();
    cache.set("long", "ok", 0, 1_000_000);
    expect(cache.get("long", 999)).toBe("ok");
    expect(cache.get("long", 1_000)).toBeUndefined();
    cache.set("expired", "no", 100, 50);
    expect(cache.size).toBe(0);
  });

  it("drops the least recently used entry when full", () => {
    const cache = new VerifiedCache<number>(2, 10_000);
    cache.set("a", 1, 0, 5_000);
    cache.set("b", 2, 0, 5_000);
    cache.get("a", 1);
    cache.set("c", 3, 1, 5_000);
    expect(cache.get("b", 2)).toBeUndefined();
    expect(cache.get("a", 2)).toBe(1);
    expect(cache.get("c", 2)).toBe(3);
  });
});
