/**
 * MurmurHash3 (x86, 32-bit) of a string's UTF-8 bytes: a fast, pure, synchronous hash with good
 * avalanche, for placing endpoints and request keys on the consistent-hash ring. (FNV-1a is
 * simpler but spreads near-identical inputs such as `10.0.0.1:80#1`, `#2`, ... poorly.)
 * Not a cryptographic hash: keys are user-controlled, but a skewed key only skews its own traffic.
 */

const encoder = new TextEncoder();

const C1 = 0xcc9e2d51;
const C2 = 0x1b873593;

export function murmur3_32(text: string, seed = 0): number {
  const bytes = encoder.encode(text);
  const length = bytes.length;
  let hash = seed >>> 0;
  let i = 0;
  for (; i + 4 <= length; i += 4) {
    const block = bytes[i]! | (bytes[i + 1]! << 8) | (bytes[i + 2]! << 16) | (bytes[i + 3]! << 24);
    hash ^= scrambleBlock(block);
    hash = rotateLeft(hash, 13);
    hash = (Math.imul(hash, 5) + 0xe6546b64) | 0;
  }
  const tailLength = length & 3;
  if (tailLength > 0) {
    let tail = 0;
    if (tailLength === 3) tail ^= bytes[i + 2]! << 16;
    if (tailLength >= 2) tail ^= bytes[i + 1]! << 8;
    tail ^= bytes[i]!;
    hash ^= scrambleBlock(tail);
  }
  hash ^= length;
  hash ^= hash >>> 16;
  hash = Math.imul(hash, 0x85ebca6b);
  hash ^= hash >>> 13;
  hash = Math.imul(hash, 0xc2b2ae35);
  hash ^= hash >>> 16;
  return hash >>> 0;
}

function scrambleBlock(block: number): number {
  return Math.imul(rotateLeft(Math.imul(block, C1), 15), C2);
}

function rotateLeft(value: number, bits: number): number {
  return (value << bits) | (value >>> (32 - bits));
}
