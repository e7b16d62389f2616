import type { MiddlewareHandler } from "hono";
import type { JWTPayload } from "jose";
import type { RequestAuth } from "../../policies/authz/request.js";
import { claimValues } from "../../policies/authz/evaluate.js";
import { sha256Hex } from "../../policies/identity/encoding.js";
import { IdentityError, JwtError } from "../../policies/identity/errors.js";
import { decodeUnverified, END_USER_JWT_ALGORITHMS, verifyJwt } from "../../policies/identity/jwt.js";
import { verifyJwtSvid } from "../../policies/identity/jwt-svid.js";
import { parseSpiffeId } from "../../policies/identity/spiffe-id.js";
import { extractTokens, jwtRuleLocations, locationKey, type TokenLocation } from "../../policies/identity/token-location.js";
import type { CompiledJwtRule } from "../../policies/snapshot/schema.js";
import type { GatewayEnv } from "../context.js";
import { GatewayError } from "../errors.js";
import { parseCookie } from "../upstream/cookies.js";
import type { SecurityState, SnapshotSecurity } from "../security/state.js";

/**
 * Request authentication: end-user JWTs per the RequestAuthentication `jwtRules` that apply, and
 * JWT-SVIDs (workload tokens in `Authorization: Bearer`, JWT-SVID §5.2).
 *
 * - Each token found at a rule's location is matched to a rule by its issuer and verified with
 *   that rule's keys (inline `jwks`, or `jwksUri`: cached, refreshed once on an unknown `kid`,
 *   the last good keys kept when a fetch fails). A token that fails, or whose issuer no rule
 *   covering its location names, is `401` even when no policy requires a token (Istio's
 *   semantics). A request without a token passes; authorization may then require one.
 * - A bearer token that no rule claims and whose `sub` is a SPIFFE ID of a trust domain the mesh
 *   has JWT-SVID keys for is verified as a JWT-SVID (audience: the gateway's SPIFFE ID or
 *   MeshConfig `jwtSvid.audiences`); when valid, it is the peer's identity unless an
 *   X.509-SVID already is. It is never forwarded (it was addressed to the gateway).
 * - A bearer token that is neither (no rule, not a JWT-SVID of ours) is left alone.
 *
 * Verified tokens are cached by their hash (with the audience and the keys' generation), up to
 * their `exp`.
 */
export function requestAuthentication(state: SecurityState, now: () => number): MiddlewareHandler<GatewayEnv> {
  return async function requestAuthentication(c, next) {
    const identity = c.get("identity");
    const security = identity.security;
    if (!security.config) return next();
    const rules = (identity.policies ?? security.policies(identity.namespace))!.request.flatMap((policy) => policy.jwtRules);
    const ruleLocations = rules.map((rule) => ({ rule, keys: new Set(jwtRuleLocations(rule).map(locationKey)) }));
    const locations = [...rules.flatMap(jwtRuleLocations), ...security.jwtSvidLocations];
    const url = new URL(c.req.url);
    const view = c.get("request");
    const cookies = c.req.raw.headers.get("cookie");
    const found = extractTokens(locations, {
      header: (name) => view.header(name),
      query: (name) => url.searchParams.get(name),
      cookie: (name) => parseCookie(cookies, name),
    });
    const time = now();
    const skew = c.get("settings").MESH_CLOCK_SKEW_MS;
    const background = (work: Promise<unknown>) => c.executionCtx.waitUntil(work);
    const outbound = c.get("outbound");
    const stream = c.get("stream");
    const host = view.host;

    for (const { token, location } of found) {
      const key = locationKey(location);
      const covering = ruleLocations.filter((entry) => entry.keys.has(key)).map((entry) => entry.rule);
      let payload: JWTPayload;
      try {
        payload = decodeUnverified(token).payload;
      } catch (error) {
        if (covering.length === 0) continue; // an opaque bearer token nobody asked us to check
        throw unauthenticated(error, host);
      }
      const rule = covering.find((candidate) => candidate.issuer === payload.iss);
      if (rule) {
        const claims = await verifyEndUser(state, security, rule, token, time, skew, background).catch((error: unknown) => {
          throw unauthenticated(error, host);
        });
        if (!identity.requestAuth) {
          identity.requestAuth = requestAuthOf(claims);
          stream.requestPrincipal = identity.requestAuth.principal;
        }
        applyOutputs(rule, token, claims, outbound.headers);
        if (!rule.forwardOriginalToken) removeToken(location, outbound);
        continue;
      }
      const trustDomain = typeof payload.sub === "string" ? /^spiffe:\/\/([^/]*)/.exec(payload.sub)?.[1] : undefined;
      if (security.jwtSvidLocationKeys.has(key) && trustDomain !== undefined && security.verifiesJwtSvidsOf(trustDomain)) {
        const svid = await verifyWorkload(state, security, token, time, skew, background).catch((error: unknown) => {
          throw unauthenticated(error, host);
        });
        if (!identity.peer) {
          identity.peer = { spiffeId: svid, via: "jwt-svid" };
          stream.peerPrincipal = svid.uri;
          stream.peerAuthentication = "jwt-svid";
        }
        removeToken(location, outbound);
        continue;
      }
      if (covering.length > 0) {
        throw unauthenticated(new JwtError("ERR_JWT_ISSUER_NOT_CONFIGURED", `no jwtRule for issuer '${String(payload.iss)}' reads this token's location`, "iss"), host);
      }
    }
    await next();
  };
}


async function verifyEndUser(
  state: SecurityState,
  security: SnapshotSecurity,
  rule: CompiledJwtRule,
  token: string,
  now: number,
  skew: number,
  background: (work: Promise<unknown>) => void,
): Promise<Record<string, unknown>> {
  let { keys, generation } = await security.keysFor(rule, now, { background });
  const cacheKey = async (generation: number) => `jwt|${await sha256Hex(token)}|${rule.issuer}|${(rule.audiences ?? []).join(",")}|${security.version}|${generation}`;
  const cached = state.tokens.get(await cacheKey(generation), now);
  if (cached) return cached.claims;
  const attempt = async (set: typeof keys) => {
    if (!set || set.length === 0) throw new JwtError("ERR_JWT_KEYS_UNAVAILABLE", `no keys for issuer '${rule.issuer}' (the JWKS could not be fetched)`);
    return verifyJwt(token, set, {
      algorithms: END_USER_JWT_ALGORITHMS,
      audiences: rule.audiences && rule.audiences.length > 0 ? rule.audiences : undefined,
      now,
      clockSkewMs: skew,
      requireExp: true,
    });
  };
  let verified;
  try {
    verified = await attempt(keys);
  } catch (error) {
    const retriable = error instanceof JwtError && (error.code === "ERR_JWT_UNKNOWN_KID" || error.code === "ERR_JWT_KEYS_UNAVAILABLE") && rule.jwksUri !== undefined;
    if (!retriable) throw error;
    // A rotated key: refetch once (rate-limited by the key set's cooldown) and try again.
    ({ keys, generation } = await security.keysFor(rule, now, { refresh: true }));
    verified = await attempt(keys);
  }
  const claims = verified.payload as Record<string, unknown>;
  state.tokens.set(await cacheKey(generation), { claims }, now, (verified.payload.exp ?? 0) * 1000);
  return claims;
}

async function verifyWorkload(
  state: SecurityState,
  security: SnapshotSecurity,
  token: string,
  now: number,
  skew: number,
  background: (work: Promise<unknown>) => void,
) {
  const cacheKey = `svid|${await sha256Hex(token)}|${security.jwtSvidAudiences.join(",")}|${security.generation()}`;
  const cached = state.tokens.get(cacheKey, now);
  if (cached) return parseSpiffeId(cached.claims.sub as string);
  const verified = await verifyJwtSvid(token, security.bundles(now, background), { audience: security.jwtSvidAudiences, now, clockSkewMs: skew });
  state.tokens.set(cacheKey, { claims: verified.claims as Record<string, unknown> }, now, verified.expiresAt);
  return verified.spiffeId;
}

function requestAuthOf(claims: Record<string, unknown>): RequestAuth {
  const aud = claims.aud;
  return {
    principal: `${String(claims.iss)}/${String(claims.sub)}`,
    claims,
    audiences: typeof aud === "string" ? [aud] : Array.isArray(aud) ? aud.filter((item): item is string => typeof item === "string") : [],
    presenter: typeof claims.azp === "string" ? claims.azp : undefined,
  };
}

/** Istio's outputPayloadToHeader (the base64url payload, as received) and outputClaimToHeaders (string, number or boolean claims; `a.b` for nested ones). */
function applyOutputs(rule: CompiledJwtRule, token: string, claims: Record<string, unknown>, headers: Headers): void {
  if (rule.outputPayloadToHeader) headers.set(rule.outputPayloadToHeader, token.split(".")[1]!);
  for (const output of rule.outputClaimToHeaders) {
    const direct = claimValues(claims, [output.claim]);
    const values = direct.length > 0 ? direct : claimValues(claims, output.claim.split("."));
    if (values.length === 1 && !Array.isArray(valueAt(claims, output.claim))) headers.set(output.header, values[0]!);
  }
}

function valueAt(claims: Record<string, unknown>, claim: string): unknown {
  if (Object.hasOwn(claims, claim)) return claims[claim];
  let value: unknown = claims;
  for (const part of claim.split(".")) value = typeof value === "object" && value !== null ? (value as Record<string, unknown>)[part] : undefined;
  return value;
}

/** Takes a verified token out of what goes upstream (Istio's `forwardOriginalToken: false`, the default). */
function removeToken(location: TokenLocation, outbound: { headers: Headers; pathAndQuery: string }): void {
  if (location.kind === "header") {
    outbound.headers.delete(location.name);
  } else if (location.kind === "param") {
    const queryStart = outbound.pathAndQuery.indexOf("?");
    if (queryStart === -1) return;
    const params = new URLSearchParams(outbound.pathAndQuery.slice(queryStart + 1));
    params.delete(location.name);
    const query = params.toString();
    outbound.pathAndQuery = outbound.pathAndQuery.slice(0, queryStart) + (query ? `?${query}` : "");
  }
}

function unauthenticated(error: unknown, host: string): GatewayError {
  if (!(error instanceof IdentityError)) throw error;
  return new GatewayError(401, "UAEX", `jwt_authn_access_denied{${error.code}}`, `the request's token was refused: ${error.message}`, {
    "www-authenticate": `Bearer realm="${host.replace(/["\\]/g, "")}", error="invalid_token"`,
  });
}
