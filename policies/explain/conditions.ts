import type { RequestView } from "../routing/request-view.js";
import { stringMatches, type RegexCache } from "../routing/string-match.js";
import type { CompiledMatch, CompiledStringMatch } from "../snapshot/schema.js";
import type { FailedCondition } from "./schema.js";

/**
 * The first condition of a match block that rejects a request, in the order `matchAccepts`
 * (policies/routing/match-route.ts) checks them, or undefined when the block accepts it. The two
 * must agree; test/policies/explain holds them to one table of cases.
 */
export function firstFailedCondition(
  match: CompiledMatch,
  matchIndex: number,
  request: RequestView,
  gatewayName: string,
  regexes: RegexCache,
): FailedCondition | undefined {
  const fail = (condition: string, message: string): FailedCondition => ({ match: matchIndex, condition, message });
  if (match.gateways && !match.gateways.includes(gatewayName)) {
    return fail("gateways", `applies only through ${match.gateways.join(", ")}, not ${gatewayName}`);
  }
  const checks: [string, CompiledStringMatch | undefined, string][] = [
    ["uri", match.uri, request.path],
    ["method", match.method, request.method],
    ["scheme", match.scheme, request.scheme],
    ["authority", match.authority, request.authority],
  ];
  for (const [condition, expected, actual] of checks) {
    if (expected && !stringMatches(expected, actual, regexes)) return fail(condition, `${describeMatch(expected)} does not match ${quote(actual)}`);
  }
  if (match.port !== undefined && match.port !== request.port) return fail("port", `port ${match.port} does not match ${request.port}`);
  for (const header of match.headers) {
    const value = request.header(header.name);
    if (!stringMatches(header.match, value, regexes)) {
      return fail(`headers.${header.name}`, value === null ? `header '${header.name}' is absent (needs ${describeMatch(header.match)})` : `header '${header.name}': ${describeMatch(header.match)} does not match ${quote(value)}`);
    }
  }
  for (const header of match.withoutHeaders) {
    const value = request.header(header.name);
    if (stringMatches(header.match, value, regexes)) {
      return fail(`withoutHeaders.${header.name}`, `header '${header.name}' ${quote(value ?? "")} must not match ${describeMatch(header.match)}`);
    }
  }
  for (const param of match.queryParams) {
    const value = request.query(param.name);
    if (!stringMatches(param.match, value, regexes)) {
      return fail(`queryParams.${param.name}`, value === null ? `query parameter '${param.name}' is absent (needs ${describeMatch(param.match)})` : `query parameter '${param.name}': ${describeMatch(param.match)} does not match ${quote(value)}`);
    }
  }
  return undefined;
}

export function describeMatch(match: CompiledStringMatch): string {
  if (match.type === "present") return "present";
  return `${match.type} ${quote(match.value)}${match.ignoreCase ? " (any case)" : ""}`;
}

function quote(value: string): string {
  return JSON.stringify(value);
}
