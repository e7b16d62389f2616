import { describe, expect, it } from "vitest";
import { normalizePath, removeDotSegments, type PathNormalizationOptions } from "../../../policies/paths/normalize.js";

/** Istio's path normalisation options, and the spellings people use to slip past path rules. */

const BASE: PathNormalizationOptions = { normalization: "BASE" };
const MERGE: PathNormalizationOptions = { normalization: "MERGE_SLASHES" };
const DECODE: PathNormalizationOptions = { normalization: "DECODE_AND_MERGE_SLASHES" };
const NONE: PathNormalizationOptions = { normalization: "NONE" };

const path = (raw: string, options: PathNormalizationOptions) => {
  const result = normalizePath(raw, options);
  return result.ok ? result.path : `400: ${result.reason}`;
};

describe("BASE (the default)", () => {
  it.each([
    ["/admin", "/admin"],
    ["/a/../admin", "/admin"],
    ["/a/b/../../admin", "/admin"],
    ["/admin/.", "/admin/"],
    ["/admin/./x", "/admin/x"],
    ["/..", "/"],
    ["/%61dmin", "/admin"],
    ["/%2e%2e/admin", "/admin"],
    ["/a/%2E%2E/admin", "/admin"],
    ["\\admin", "/admin"],
    ["/a\\..\\admin", "/admin"],
    ["/%7euser", "/~user"],
    ["/caf%c3%a9", "/caf%C3%A9"],
    ["/a b", "/a%20b"],
    ["/ä", "/%C3%A4"],
    ["/x;y=1", "/x;y=1"],
    ["/ADMIN", "/ADMIN"],
  ])("%s → %s", (raw, expected) => {
    expect(path(raw, BASE)).toBe(expected);
  });

  it.each([
    ["//admin", "empty segment"],
    ["/a//b", "empty segment"],
    ["/admin%2F", "escaped slash"],
    ["/admin%2fx", "escaped slash"],
    ["/admin%5Cx", "escaped slash"],
    ["/admin%00.png", "encoded NUL"],
    ["/admin%zz", "invalid percent-encoding"],
    ["/admin%", "invalid percent-encoding"],
    ["/a\u0001b", "control character"],
    ["admin", "does not start with '/'"],
    ["*", "does not start with '/'"],
  ])("refuses %j (%s)", (raw, reason) => {
    expect(path(raw, BASE)).toContain(reason);
  });

  it("keeps escaped slashes encoded with escapedSlashes: KEEP (Envoy's pass-through)", () => {
    expect(path("/admin%2fx", { normalization: "BASE", escapedSlashes: "KEEP" })).toBe("/admin%2Fx");
  });

  it("is idempotent", () => {
    for (const raw of ["/a/../b/%61/./c/", "/x%2Fy%20z", "\\a\\b"]) {
      const once = normalizePath(raw, { normalization: "MERGE_SLASHES", escapedSlashes: "KEEP" });
      if (once.ok) expect(path(once.path, { normalization: "MERGE_SLASHES", escapedSlashes: "KEEP" })).toBe(once.path);
    }
  });
});

describe("MERGE_SLASHES and DECODE_AND_MERGE_SLASHES", () => {
  it("merges slashes after BASE", () => {
    expect(path("//admin", MERGE)).toBe("/admin");
    // As in Envoy, dot segments go first, then slashes merge: '..' removes the empty segment.
    expect(path("/a//..//admin///", MERGE)).toBe("/a/admin/");
    expect(path("/a/b/..//admin", MERGE)).toBe("/a/admin");
    expect(path("/admin%2F", MERGE)).toContain("escaped slash");
  });

  it("decodes %2F and %5C first, so /admin%2F..%2Fsecret is /secret and /admin%2F is /admin/", () => {
    expect(path("/admin%2F", DECODE)).toBe("/admin/");
    expect(path("/public%2F..%2Fadmin", DECODE)).toBe("/admin");
    expect(path("/%5Cadmin", DECODE)).toBe("/admin");
    expect(path("%2Fadmin", DECODE)).toContain("does not start with '/'");
  });
});

describe("NONE", () => {
  it("passes the path as received", () => {
    expect(path("//a/../%61%2F", NONE)).toBe("//a/../%61%2F");
  });
});

describe("removeDotSegments (RFC 3986 §5.2.4)", () => {
  it.each([
    ["/a/b/c/./../../g", "/a/g"],
    ["/mid/content=5/../6", "/mid/6"],
    ["/a/b/..", "/a/"],
    ["/", "/"],
  ])("%s → %s", (input, output) => {
    expect(removeDotSegments(input)).toBe(output);
  });
});
