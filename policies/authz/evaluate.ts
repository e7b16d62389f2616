import type { CompiledAuthorizationPolicy, CompiledAuthzRule, CompiledCondition, CompiledOperation, CompiledSource } from "../snapshot/schema.js";
import { cidrContains, parseCidr, type Cidr } from "./cidr.js";
import { removeDotSegments } from "../paths/normalize.js";
import { wildcardMatches } from "./match.js";
import type { AuthzRequest } from "./request.js";

const REQUEST_KEYS = /^request\.auth\./;
const PEER_KEYS = /^source\.(principal|namespace|serviceAccount)$/;

/**
 * Istio's AuthorizationPolicy evaluation, pure:
 *
 * 1. if any DENY policy matches, deny;
 * 2. if there is no ALLOW policy, allow;
 * 3. if any ALLOW policy matches, allow; otherwise deny.
 *
 * AUDIT policies never change the decision; the ones that match are reported. Policies marked
 * dry-run are evaluated the same way, separately, and only reported (Istio's `istio.io/dry-run`).
 *
 * A policy matches when one of its rules does; a rule when one of its `from` sources, one of
 * its `to` operations and all of its `when` conditions match (an absent part matches all). Within
 * a source or operation every field must match; a field matches when one of its values does;
 * a `not` field when none does (an absent attribute matches no value, so it satisfies `not`).
 * An ALLOW policy with no rules matches nothing (it denies all); a rule `{}` matches all.
 *
 * A denial that a credential could have turned around is marked `missing` (`request` when the
 * request has no verified JWT and the deciding rules look at one, `peer` likewise for the
 * peer's identity), so the gateway can answer 401 with a challenge instead of 403.
 */

export interface AuthzOptions {
  /** The mesh trust domain and its aliases: a principal written with any of them matches the others (Istio's trustDomainAliases). */
  trustDomainAliases?: readonly string[];
}

export interface AuthzDecision {
  allowed: boolean;
  /** `deny-matched`, `allow-matched`, `no-allow-matched`, `no-policy` */
  reason: "deny-matched" | "allow-matched" | "no-allow-matched" | "no-policy";
  /** The policy (`namespace/name`) that decided, when one did. */
  policy?: string;
  /** Index of the rule that matched in that policy. */
  rule?: number;
  /** AUDIT policies that matched. */
  audit: string[];
  /** What credential the request lacks, when presenting it could change a denial. */
  missing?: "request" | "peer";
}

export interface AuthzResult {
  decision: AuthzDecision;
  /** The decision dry-run policies would have made, when there are any. */
  dryRun?: AuthzDecision;
}

export function evaluateAuthorization(policies: readonly CompiledAuthorizationPolicy[], request: AuthzRequest, options: AuthzOptions = {}): AuthzResult {
  const enforced = policies.filter((policy) => !policy.dryRun);
  const shadow = policies.filter((policy) => policy.dryRun);
  const context = new MatchContext(request, options);
  const decision = decide(enforced, context);
  return shadow.length > 0 ? { decision, dryRun: decide(shadow, context) } : { decision };
}

function decide(policies: readonly CompiledAuthorizationPolicy[], context: MatchContext): AuthzDecision {
  const audit = policies.filter((policy) => policy.action === "AUDIT" && matchingRule(policy, context) !== undefined).map((policy) => policy.name);
  const denyContext = context.forDeny();
  for (const policy of policies) {
    if (policy.action !== "DENY") continue;
    const rule = matchingRule(policy, denyContext);
    if (rule !== undefined) {
      const missing = missingForDeny(policy.rules[rule]!, context.request);
      return { allowed: false, reason: "deny-matched", policy: policy.name, rule, audit, ...(missing ? { missing } : {}) };
    }
  }
  const allows = policies.filter((policy) => policy.action === "ALLOW");
  if (allows.length === 0) return { allowed: true, reason: "no-policy", audit };
  for (const policy of allows) {
    const rule = matchingRule(policy, context);
    if (rule !== undefined) return { allowed: true, reason: "allow-matched", policy: policy.name, rule, audit };
  }
  // Would some ALLOW rule match if the request presented the credential it lacks?
  const couldMatch = (credential: "request" | "peer") => {
    const hypothetical = context.assuming(credential);
    return allows.some((policy) => matchingRule(policy, hypothetical) !== undefined);
  };
  const missing = !context.request.requestAuth && couldMatch("request") ? "request" : !context.request.peer && couldMatch("peer") ? "peer" : undefined;
  return { allowed: false, reason: "no-allow-matched", audit, ...(missing ? { missing } : {}) };
}

function matchingRule(policy: CompiledAuthorizationPolicy, context: MatchContext): number | undefined {
  const index = policy.rules.findIndex((rule) => ruleMatches(rule, context));
  return index === -1 ? undefined : index;
}

function ruleMatches(rule: CompiledAuthzRule, context: MatchContext): boolean {
  if (rule.from && !rule.from.some((source) => sourceMatches(source, context))) return false;
  if (rule.to && !rule.to.some((operation) => operationMatches(operation, context))) return false;
  if (rule.when && !rule.when.every((condition) => conditionMatches(condition, context))) return false;
  return true;
}

/** `values` must match (when given) and `notValues` must not (when given). */
function field(values: readonly string[] | undefined, notValues: readonly string[] | undefined, test: (value: string) => boolean): boolean {
  if (values && !values.some(test)) return false;
  if (notValues && notValues.some(test)) return false;
  return true;
}

function sourceMatches(source: CompiledSource, context: MatchContext): boolean {
  const { peer, requestAuth } = context.request;
  const assumePeer = context.assume === "peer";
  const assumeRequest = context.assume === "request";
  return (
    (assumePeer || field(source.principals, source.notPrincipals, (pattern) => context.principalMatches(pattern, peer?.principal))) &&
    (assumeRequest || field(source.requestPrincipals, source.notRequestPrincipals, (pattern) => wildcardMatches(pattern, requestAuth?.principal))) &&
    (assumePeer || field(source.namespaces, source.notNamespaces, (pattern) => wildcardMatches(pattern, peer?.namespace))) &&
    (assumePeer || field(source.serviceAccounts, source.notServiceAccounts, (pattern) => wildcardMatches(pattern, peer?.serviceAccount))) &&
    field(source.ipBlocks, source.notIpBlocks, (block) => context.inBlock(block, context.request.sourceIp)) &&
    field(source.remoteIpBlocks, source.notRemoteIpBlocks, (block) => context.inBlock(block, context.request.remoteIp ?? context.request.sourceIp))
  );
}

function operationMatches(operation: CompiledOperation, context: MatchContext): boolean {
  const request = context.request;
  return (
    field(operation.hosts, operation.notHosts, (pattern) => wildcardMatches(pattern, request.host, true) || wildcardMatches(pattern, request.authority, true)) &&
    field(operation.ports, operation.notPorts, (port) => Number(port) === request.port) &&
    field(operation.methods, operation.notMethods, (pattern) => wildcardMatches(pattern, request.method)) &&
    pathsMatch(operation, context)
  );
}

/**
 * `paths`/`notPaths`. A path segment may carry `;` parameters (`/admin;x=1`, `/x/..;/admin`)
 * that routing's string prefixes, or an upstream, may see through while a policy's exact paths
 * do not; Envoy leaves them in place too. So a path with parameters is judged on both spellings,
 * as received and without its parameters (dot segments then resolved again), each time in the
 * direction that refuses more: a DENY matches if either spelling does and its `notPaths` exempt
 * only if both do; an ALLOW (or AUDIT) matches only if both do and its `notPaths` exclude if
 * either does.
 */
function pathsMatch(operation: CompiledOperation, context: MatchContext): boolean {
  const request = context.request;
  const ignoreCase = request.pathIgnoreCase === true;
  const bare = withoutPathParameters(request.path);
  if (bare === request.path) return field(operation.paths, operation.notPaths, (pattern) => wildcardMatches(pattern, request.path, ignoreCase));
  const either = (pattern: string) => wildcardMatches(pattern, request.path, ignoreCase) || wildcardMatches(pattern, bare, ignoreCase);
  const both = (pattern: string) => wildcardMatches(pattern, request.path, ignoreCase) && wildcardMatches(pattern, bare, ignoreCase);
  const [match, exempt] = context.denying ? [either, both] : [both, either];
  if (operation.paths && !operation.paths.some(match)) return false;
  if (operation.notPaths && operation.notPaths.some(exempt)) return false;
  return true;
}

/** `/a;x=1/b;y` → `/a/b`, `/x/..;/admin` → `/admin`, `/;/admin` → `/admin` (a segment that was only parameters is gone). */
export function withoutPathParameters(path: string): string {
  return path.includes(";") ? removeDotSegments(path.replace(/;[^/]*/g, "").replace(/\/{2,}/g, "/")) : path;
}

function conditionMatches(condition: CompiledCondition, context: MatchContext): boolean {
  if (context.assume === "request" && REQUEST_KEYS.test(condition.key)) return true;
  if (context.assume === "peer" && PEER_KEYS.test(condition.key)) return true;
  const values = context.attribute(condition.key);
  const isIp = condition.key === "source.ip" || condition.key === "remote.ip";
  const test = (pattern: string) =>
    values.some((value) =>
      isIp ? context.inBlock(pattern, value) : condition.key === "source.principal" ? context.principalMatches(pattern, value) : wildcardMatches(pattern, value),
    );
  return field(condition.values, condition.notValues, test);
}

class MatchContext {
  private readonly aliases: ReadonlySet<string>;
  private readonly cidrs = new Map<string, Cidr | undefined>();

  constructor(
    readonly request: AuthzRequest,
    options: AuthzOptions,
    /** Hypothetical matching: treat everything that depends on this credential as satisfied (some credential could satisfy it). */
    readonly assume?: "request" | "peer",
    /** Matching a DENY policy: paths are also judged without `;` parameters. */
    readonly denying = false,
  ) {
    this.aliases = new Set(options.trustDomainAliases ?? []);
  }

  assuming(credential: "request" | "peer"): MatchContext {
    return new MatchContext(this.request, { trustDomainAliases: [...this.aliases] }, credential, this.denying);
  }

  forDeny(): MatchContext {
    return new MatchContext(this.request, { trustDomainAliases: [...this.aliases] }, this.assume, true);
  }

  /** A principal pattern matches the peer; with trust domain aliases, `old-td/ns/a/sa/b` also matches `td/ns/a/sa/b` and vice versa. */
  principalMatches(pattern: string, principal: string | undefined): boolean {
    if (principal === undefined) return false;
    if (wildcardMatches(pattern, principal)) return true;
    if (this.aliases.size < 2) return false;
    const slash = principal.indexOf("/");
    const patternSlash = pattern.indexOf("/");
    if (slash === -1 || patternSlash === -1 || pattern.startsWith("*")) return false;
    const domain = principal.slice(0, slash);
    const patternDomain = pattern.slice(0, patternSlash);
    if (!this.aliases.has(domain) || !this.aliases.has(patternDomain)) return false;
    return wildcardMatches(`${domain}${pattern.slice(patternSlash)}`, principal);
  }

  inBlock(block: string, address: string | undefined): boolean {
    if (address === undefined) return false;
    let cidr = this.cidrs.get(block);
    if (!this.cidrs.has(block)) this.cidrs.set(block, (cidr = parseCidr(block)));
    return cidr !== undefined && cidrContains(cidr, address);
  }

  /** The values of a `when` key (several for list-valued claims and audiences); empty when absent. */
  attribute(key: string): string[] {
    const request = this.request;
    const one = (value: string | null | undefined) => (value === undefined || value === null ? [] : [value]);
    switch (key) {
      case "source.ip":
        return one(request.sourceIp);
      case "remote.ip":
        return one(request.remoteIp ?? request.sourceIp);
      case "source.namespace":
        return one(request.peer?.namespace);
      case "source.principal":
        return one(request.peer?.principal);
      case "source.serviceAccount":
        return one(request.peer?.serviceAccount);
      case "request.auth.principal":
        return one(request.requestAuth?.principal);
      case "request.auth.audiences":
        return request.requestAuth?.audiences ?? [];
      case "request.auth.presenter":
        return one(request.requestAuth?.presenter);
      case "destination.port":
        return [String(request.port)];
    }
    const header = /^request\.headers\[(.+)\]$/.exec(key);
    if (header) return one(request.header(header[1]!.toLowerCase()));
    if (key.startsWith("request.auth.claims[")) {
      const path = [...key.slice("request.auth.claims".length).matchAll(/\[([^\]]+)\]/g)].map((match) => match[1]!);
      return claimValues(request.requestAuth?.claims, path);
    }
    return [];
  }
}

/** A claim by path (`[a][b]` for nested objects): strings, numbers and booleans as text; a list gives each element. */
export function claimValues(claims: Record<string, unknown> | undefined, path: readonly string[]): string[] {
  let value: unknown = claims;
  for (const name of path) {
    if (typeof value !== "object" || value === null || Array.isArray(value) || !Object.hasOwn(value, name)) return [];
    value = (value as Record<string, unknown>)[name];
  }
  const scalar = (item: unknown) => (typeof item === "string" ? [item] : typeof item === "number" || typeof item === "boolean" ? [String(item)] : []);
  return Array.isArray(value) ? value.flatMap(scalar) : scalar(value);
}


/** Whether this matched DENY rule matched because a credential is absent (`notRequestPrincipals`, `notPrincipals`, ...): presenting one could un-match it. */
function missingForDeny(rule: CompiledAuthzRule, request: AuthzRequest): "request" | "peer" | undefined {
  const sources = rule.from ?? [];
  const conditions = rule.when ?? [];
  const byAbsence = (keys: RegExp, notFields: (source: CompiledSource) => unknown[]) =>
    sources.some((source) => notFields(source).some((field) => field !== undefined)) || conditions.some((condition) => keys.test(condition.key) && condition.notValues !== undefined);
  if (!request.requestAuth && byAbsence(REQUEST_KEYS, (source) => [source.notRequestPrincipals])) return "request";
  if (!request.peer && byAbsence(PEER_KEYS, (source) => [source.notPrincipals, source.notNamespaces, source.notServiceAccounts])) return "peer";
  return undefined;
}
