import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

/**
 * Hono's `c.var` builds a fresh object of every context variable on each read
 * (`Object.fromEntries`); `c.get("name")` is one Map lookup with the same types. The gateway
 * read `c.var` about 90 times per request, 14–18% of its CPU (docs/performance.md), so this
 * guard keeps it out of gateway/.
 */
const GATEWAY = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../gateway");

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) return sources(full);
    return entry.name.endsWith(".ts") ? [full] : [];
  });
}

describe("gateway context reads", () => {
  it("never reads c.var (a copy of every variable per read); uses c.get", () => {
    const offenders = sources(GATEWAY).flatMap((file) =>
      readFileSync(file, "utf8")
        .split("\n")
        .map((line, index) => ({ line, at: `${path.relative(GATEWAY, file)}:${index + 1}` }))
        .filter(({ line }) => /\bc\.var\b/.test(line))
        .map(({ at, line }) => `${at}: ${line.trim()}`),
    );
    expect(offenders).toEqual([]);
  });
});
