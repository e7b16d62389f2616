/**
 * mulberry32: a tiny seeded PRNG with a full 2^32 period and good enough statistics for
 * sampling tests. Returns numbers in [0, 1), like Math.random, so it can be injected anywhere the
 * engine takes `random`.
 */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) | 0;
    let t = Math.imul(state ^ (state >>> 15), 1 | state);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A `random` that replays `values` in order (then fails loudly), for exact-path tests. */
export function scriptedRandom(...values: number[]): () => number {
  let index = 0;
  return () => {
    const value = values[index++];
    if (value === undefined) throw new Error(`scriptedRandom: only ${values.length} values were scripted`);
    return value;
  };
}
