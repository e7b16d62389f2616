/**
 * IPv4 and IPv6 addresses and CIDR blocks (`ipBlocks`, `remoteIpBlocks`, `source.ip` ...), as
 * 128-bit numbers (IPv4 as IPv4-mapped IPv6), so one comparison serves both families.
 */

export interface Cidr {
  network: bigint;
  /** Prefix length in the 128-bit space. */
  bits: number;
}

const MAPPED_V4 = 0xffffn << 32n;

/** Parses `a.b.c.d`, an IPv6 address, or either with `/prefix`. Undefined if invalid. */
export function parseCidr(text: string): Cidr | undefined {
  const [address, prefixText, ...rest] = text.trim().split("/");
  if (address === undefined || rest.length > 0) return undefined;
  const ip = parseIp(address);
  if (!ip) return undefined;
  // The prefix counts bits of the address as written: 32 for a.b.c.d, 128 for IPv6 (mapped or not).
  const dotted = !address.includes(":");
  const max = dotted ? 32 : 128;
  const prefix = prefixText === undefined ? max : /^\d{1,3}$/.test(prefixText) ? Number(prefixText) : NaN;
  if (!Number.isInteger(prefix) || prefix < 0 || prefix > max) return undefined;
  const bits = dotted ? prefix + 96 : prefix;
  return { network: ip.value & mask(bits), bits };
}

export function cidrContains(cidr: Cidr, address: string): boolean {
  const ip = parseIp(address);
  return ip !== undefined && (ip.value & mask(cidr.bits)) === cidr.network;
}

function mask(bits: number): bigint {
  return bits === 0 ? 0n : ((1n << 128n) - 1n) ^ ((1n << BigInt(128 - bits)) - 1n);
}

export function parseIp(text: string): { value: bigint; v4: boolean } | undefined {
  const v4 = parseV4(text);
  if (v4 !== undefined) return { value: MAPPED_V4 | v4, v4: true };
  const v6 = parseV6(text.replace(/^\[|\]$/g, ""));
  if (v6 === undefined) return undefined;
  // An IPv4-mapped IPv6 address is the IPv4 address.
  return { value: v6, v4: v6 >> 32n === 0xffffn };
}

function parseV4(text: string): bigint | undefined {
  const parts = text.split(".");
  if (parts.length !== 4) return undefined;
  let value = 0n;
  for (const part of parts) {
    if (!/^\d{1,3}$/.test(part) || Number(part) > 255 || (part.length > 1 && part.startsWith("0"))) return undefined;
    value = (value << 8n) | BigInt(part);
  }
  return value;
}

function parseV6(text: string): bigint | undefined {
  if (!/^[0-9a-fA-F:.]+$/.test(text) || text.length < 2) return undefined;
  let head = text;
  let tailV4: bigint | undefined;
  const lastColon = text.lastIndexOf(":");
  if (text.includes(".")) {
    tailV4 = parseV4(text.slice(lastColon + 1));
    if (tailV4 === undefined) return undefined;
    head = text.slice(0, lastColon + 1) + "0:0";
  }
  const halves = head.split("::");
  if (halves.length > 2) return undefined;
  const groups = (part: string) => (part === "" ? [] : part.split(":"));
  const left = groups(halves[0]!);
  const right = halves.length === 2 ? groups(halves[1]!) : [];
  const missing = 8 - left.length - right.length;
  if ((halves.length === 1 && missing !== 0) || (halves.length === 2 && missing < 1)) return undefined;
  const all = [...left, ...Array<string>(halves.length === 2 ? missing : 0).fill("0"), ...right];
  let value = 0n;
  for (const group of all) {
    if (!/^[0-9a-fA-F]{1,4}$/.test(group)) return undefined;
    value = (value << 16n) | BigInt(parseInt(group, 16));
  }
  if (tailV4 !== undefined) value = (value & ~0xffffffffn) | tailV4;
  return value;
}
