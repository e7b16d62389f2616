import { readFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { REPO_ROOT } from "../../../scripts/lib/bundle-worker.js";
import { MUTATIONS } from "./rule-mutations.js";

/**
 * The mutation run (rule-mutations.ts, run by hand: it runs the suites ~90 times) can only
 * prove a rule is tested if its pattern still finds the rule. This keeps every pattern pointing
 * at exactly one place in the source, in every `npm test`, so the run cannot silently rot.
 */
describe("security rule mutations", () => {
  it.each(MUTATIONS.map((mutation, index) => [index, mutation.rule, mutation] as const))("#%i %s: its pattern matches exactly once and its tests exist", (_index, _rule, mutation) => {
    const source = readFileSync(path.join(REPO_ROOT, mutation.file), "utf8");
    expect(source.split(mutation.find).length - 1).toBe(1);
    expect(mutation.replace).not.toBe(mutation.find);
    for (const test of mutation.tests) expect(() => readFileSync(path.join(REPO_ROOT, test)), test).not.toThrow();
  });
});
