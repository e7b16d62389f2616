import { describe, expect, it } from "vitest";
import { cidrContains, parseCidr, parseIp } from "../../../policies/authz/cidr.js";

describe("CIDR blocks", () => {
  it.each([
    ["10.0.0.0/8", "10.255.1.2", true],
    ["10.0.0.0/8", "11.0.0.1", false],
    ["192.168.1.7", "192.168.1.7", true],
    ["192.168.1.7", "192.168.1.8", false],
    ["0.0.0.0/0", "8.8.8.8", true],
    ["0.0.0.0/0", "2001:db8::1", false],
    ["2001:db8::/32", "2001:db8:1::1", true],
    ["2001:db8::/32", "2001:db9::1", false],
    ["::/0", "fe80::1", true],
    ["::1", "::1", true],
    ["10.0.0.0/8", "::ffff:10.1.2.3", true],
    ["::ffff:10.0.0.0/104", "10.9.9.9", true],
  ])("%s contains %s: %s", (block, address, expected) => {
    expect(cidrContains(parseCidr(block)!, address)).toBe(expected);
  });

  it("refuses malformed blocks and addresses", () => {
    for (const bad of ["10.0.0.0/33", "10.0.0", "10.0.0.256", "010.0.0.1", "1::2::3", "2001:db8::/129", "abc", "10.0.0.0/8/1", ""]) expect(parseCidr(bad), bad).toBeUndefined();
    expect(parseIp("not an ip")).toBeUndefined();
    expect(cidrContains(parseCidr("10.0.0.0/8")!, "garbage")).toBe(false);
  });
});
