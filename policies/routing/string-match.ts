import type { CompiledStringMatch } from "../snapshot/schema.js";

/**
 * Evaluates Istio StringMatch conditions. Regexes are RE2 in Istio and must match the whole
 * value (Envoy's safe_regex); JS RegExp is close enough for the patterns people write, and is
 * anchored here. Compiled regexes are cached per snapshot by the caller's RegexCache.
 */
export class RegexCache {
  private readonly cache = new Map<string, RegExp>();

  get(source: string, ignoreCase: boolean): RegExp {
    const key = ignoreCase ? `i:${source}` : `s:${source}`;
    let regex = this.cache.get(key);
    if (!regex) {
      regex = new RegExp(`^(?:${source})$`, ignoreCase ? "i" : "");
      this.cache.set(key, regex);
    }
    return regex;
  }
}

export function stringMatches(match: CompiledStringMatch, value: string | null, regexes: RegexCache): boolean {
  if (value === null) return false;
  switch (match.type) {
    case "present":
      return true;
    case "exact":
      return match.ignoreCase ? value.toLowerCase() === match.value.toLowerCase() : value === match.value;
    case "prefix":
      return match.ignoreCase ? value.toLowerCase().startsWith(match.value.toLowerCase()) : value.startsWith(match.value);
    case "regex":
      return regexes.get(match.value, match.ignoreCase === true).test(value);
  }
}
