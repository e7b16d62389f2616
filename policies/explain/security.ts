import { evaluateAuthorization, type AuthzDecision } from "../authz/evaluate.js";
import type { AuthzRequest, PeerIdentity, RequestAuth } from "../authz/request.js";
import { effectivePeerMode, selectPolicies, serverTlsFor } from "../authz/scope.js";
import { namespaceOf, parseSpiffeId, principalOf, serviceAccountOf, type SpiffeId } from "../identity/spiffe-id.js";
import { extractTokens, jwtRuleLocations, jwtSvidLocationsOf, type TokenLocation, type TokenSource } from "../identity/token-location.js";
import type { RequestView } from "../routing/request-view.js";
import type { CompiledAuthorizationPolicy, Snapshot } from "../snapshot/schema.js";
import type { Denial, SecurityVerdict } from "./schema.js";

/**
 * The gateway's three security stages for one described request, in its order (peer
 * authentication, request authentication, [the egress's block of an undeclared host],
 * authorization), over the snapshot's compiled security. The decisions are the gateway's own
 * functions (selectPolicies, effectivePeerMode, serverTlsFor, evaluateAuthorization); what only
 * a live request can show (a certificate's or a token's signature) is taken from the input as
 * verified and listed in `assumptions`. The status, flag and detail of a refusal are the ones the
 * stages throw (gateway/stages/{peer-authentication,request-authentication,authorization}.ts).
 */

export interface AssumedPeer {
  /** `spiffe://...` */
  principal: string;
  via: "mtls" | "jwt-svid";
}

export interface AssumedRequestPrincipal {
  principal: string;
  audiences?: string[] | undefined;
  claims?: Record<string, unknown> | undefined;
  presenter?: string | undefined;
}

export interface SecurityQuestion {
  snapshot: Snapshot;
  /** The destination's namespace (the cluster's ServiceEntry's; for a route answered at the gateway, the VirtualService's). */
  namespace: string;
  clusters: string[];
  /** The Gateway that accepted the host (`namespace/name`); its servers' TLS may require a client certificate. */
  gatewayName: string;
  labels: Readonly<Record<string, string>>;
  request: RequestView;
  /** The matched route's uri match was `ignoreUriCase`: authorization compares paths that way too. */
  pathIgnoreCase: boolean;
  tokens: TokenSource;
  sourceIp: string | undefined;
  peer: AssumedPeer | undefined;
  requestPrincipal: AssumedRequestPrincipal | undefined;
  /** Egress: the host is undeclared under REGISTRY_ONLY, refused after authentication, before authorization. */
  egressBlocked: boolean;
}

export function explainSecurity(question: SecurityQuestion): SecurityVerdict {
  const { snapshot, namespace, request } = question;
  const config = snapshot.security;
  const verdict: SecurityVerdict = {
    namespace,
    clusters: question.clusters,
    enforced: config !== undefined,
    peerAuthentication: { mode: "PERMISSIVE", policies: [], serverTls: null, required: false, peer: null },
    requestAuthentication: { policies: [], issuers: [], tokensPresent: [], requestPrincipal: null },
    authorization: { policies: [], decision: null, dryRun: null },
    denial: null,
    assumptions: [],
  };
  const assume = (text: string) => verdict.assumptions.push(text);
  const refuse = (denial: Denial) => {
    verdict.denial = denial;
    return verdict;
  };
  const egressBlock = (): Denial => ({
    stage: "egress_block",
    status: 502,
    flag: "NR",
    detail: "outbound_host_blocked",
    message: `'${request.host}' is not declared by a MESH_EXTERNAL ServiceEntry (outbound traffic policy REGISTRY_ONLY)`,
  });
  let spiffeId: SpiffeId | undefined;
  if (question.peer) spiffeId = parseSpiffeId(question.peer.principal);

  if (!config) {
    if (question.peer || question.requestPrincipal) assume("the config has no MeshConfig, security policy or server TLS: the gateway skips authentication and authorization, and no identity is read");
    return question.egressBlocked ? refuse(egressBlock()) : verdict;
  }

  // Peer authentication (gateway/stages/peer-authentication.ts).
  const policies = selectPolicies(config, namespace, question.labels);
  const mode = effectivePeerMode(policies.peer);
  const tls = serverTlsFor(config, question.gatewayName, request.host);
  const required = mode === "STRICT" || tls?.mode === "MUTUAL";
  const used = mode !== "DISABLE" || tls?.mode === "MUTUAL" || tls?.mode === "OPTIONAL_MUTUAL";
  verdict.peerAuthentication = {
    mode,
    policies: [...policies.peer.mesh, ...policies.peer.gateway, ...policies.peer.namespace].map((policy) => `${policy.name} (${policy.mode})`),
    serverTls: tls ?? null,
    required,
    peer: null,
  };
  let peer: SpiffeId | undefined;
  if (spiffeId && question.peer!.via === "mtls") {
    if (!used) {
      assume(`the peer's certificate is not read: mTLS mode is DISABLE for namespace '${namespace}' and Gateway ${question.gatewayName}'s server does not ask for one`);
    } else {
      if (tls?.subjectAltNames && !tls.subjectAltNames.includes(spiffeId.uri)) {
        return refuse({ stage: "peer_authentication", status: 403, flag: "UAEX", detail: "peer_authentication_failed{subject_alt_name}", message: "the client certificate's SAN is not one the Gateway server accepts" });
      }
      peer = spiffeId;
      const known = [config.trustDomain, ...config.trustDomainAliases, ...config.trustBundles.map((bundle) => bundle.trustDomain)];
      assume(
        `the peer presents a valid X.509-SVID for ${spiffeId.uri} (or calls through a service binding whose props name it)` +
          (known.includes(spiffeId.trustDomain) ? "" : `; trust domain '${spiffeId.trustDomain}' has no trust bundle in this config, so a certificate would be refused (403 UAEX peer_authentication_failed)`),
      );
    }
  }
  if (required && !peer) {
    const why = tls?.mode === "MUTUAL" ? `Gateway ${question.gatewayName} requires a client certificate (tls.mode MUTUAL)` : `PeerAuthentication for namespace '${namespace}' is STRICT`;
    if (spiffeId && question.peer!.via === "jwt-svid") assume("a JWT-SVID is read by request authentication, after this check: it does not satisfy STRICT or MUTUAL");
    return refuse({
      stage: "peer_authentication",
      status: 403,
      flag: "UAEX",
      detail: "peer_authentication_required",
      message: `mutual TLS is required: ${why}; present an X.509-SVID (or call through a service binding whose props name a spiffeId)`,
    });
  }

  // Request authentication (gateway/stages/request-authentication.ts).
  const rules = policies.request.flatMap((policy) => policy.jwtRules);
  verdict.requestAuthentication.policies = policies.request.map((policy) => policy.name);
  verdict.requestAuthentication.issuers = [...new Set(rules.map((rule) => rule.issuer))];
  const locations = [...rules.flatMap(jwtRuleLocations), ...jwtSvidLocationsOf(config)];
  verdict.requestAuthentication.tokensPresent = [...new Set(extractTokens(locations, question.tokens).map((found) => describeLocation(found.location)))];
  let requestAuth: RequestAuth | undefined;
  const assumed = question.requestPrincipal;
  if (assumed) {
    const slash = assumed.principal.lastIndexOf("/");
    const issuer = assumed.principal.slice(0, slash);
    const subject = assumed.principal.slice(slash + 1);
    const rule = rules.find((candidate) => candidate.issuer === issuer);
    if (!rule) {
      if (rules.length > 0) {
        assume(`the end-user token sits where this namespace's jwtRules look for one (${[...new Set(rules.flatMap(jwtRuleLocations).map(describeLocation))].join(", ")})`);
        return refuse(jwtRefusal("ERR_JWT_ISSUER_NOT_CONFIGURED", `no jwtRule for issuer '${issuer}' reads this token's location`));
      }
      assume(`no RequestAuthentication applies to namespace '${namespace}': the gateway verifies no end-user token, so the request has no request principal`);
    } else {
      const audiences = assumed.audiences ?? rule.audiences ?? [];
      if (rule.audiences && rule.audiences.length > 0 && !audiences.some((audience) => rule.audiences!.includes(audience))) {
        return refuse(jwtRefusal("ERR_JWT_AUDIENCE", "the token's aud does not include an accepted audience"));
      }
      requestAuth = {
        principal: assumed.principal,
        claims: { iss: issuer, sub: subject, ...(audiences.length > 0 ? { aud: audiences } : {}), ...assumed.claims },
        audiences,
        presenter: assumed.presenter,
      };
      verdict.requestAuthentication.requestPrincipal = assumed.principal;
      assume(`the request carries a JWT from issuer '${issuer}' whose signature, expiry and audience the gateway accepts (explain verifies no token)`);
    }
  } else if (verdict.requestAuthentication.tokensPresent.length > 0) {
    assume(
      `the request carries a token (${verdict.requestAuthentication.tokensPresent.join(", ")}); explain cannot verify it and treats the request as having no verified token: ` +
        "give requestPrincipal for a valid end-user JWT, or peer with via jwt-svid for a JWT-SVID; an invalid one is 401 UAEX jwt_authn_access_denied",
    );
  }
  if (spiffeId && question.peer!.via === "jwt-svid" && !peer) {
    const where = jwtSvidLocationsOf(config).map(describeLocation).join(" or ");
    // The gateway reads a JWT-SVID only of a trust domain whose JWT keys the mesh has (request-authentication.ts, verifiesJwtSvidsOf).
    const domain = config.trustDomainAliases.includes(spiffeId.trustDomain) ? config.trustDomain : spiffeId.trustDomain;
    const bundle = config.trustBundles.find((candidate) => candidate.trustDomain === domain);
    if (bundle && (bundle.jwtAuthorities.length > 0 || bundle.url !== undefined)) {
      peer = spiffeId;
      assume(`the request carries a valid JWT-SVID for ${spiffeId.uri} in ${where}, addressed to this gateway`);
    } else {
      assume(`a JWT-SVID of trust domain '${spiffeId.trustDomain}' is ignored: the mesh has no JWT-SVID keys for it, so the request has no peer`);
    }
  }
  verdict.peerAuthentication.peer = peer?.uri ?? null;

  // The egress refuses an undeclared host here: after authentication (the audit names the caller), before authorization.
  if (question.egressBlocked) return refuse(egressBlock());

  // Authorization (gateway/stages/authorization.ts).
  if (policies.authz.length === 0) return verdict;
  const authzRequest: AuthzRequest = {
    host: request.host,
    authority: request.authority,
    port: request.port,
    method: request.method,
    path: request.path,
    pathIgnoreCase: question.pathIgnoreCase,
    header: request.header,
    sourceIp: question.sourceIp,
    remoteIp: question.sourceIp,
    peer: peer ? peerIdentityOf(peer) : undefined,
    requestAuth,
  };
  const options = { trustDomainAliases: [config.trustDomain, ...config.trustDomainAliases] };
  const { decision, dryRun } = evaluateAuthorization(policies.authz, authzRequest, options);
  verdict.authorization.decision = view(decision);
  verdict.authorization.dryRun = dryRun ? view(dryRun) : null;
  verdict.authorization.policies = policies.authz.map((policy) => {
    // Each policy on its own, through the same evaluation: does it match this request?
    const alone = evaluateAuthorization([{ ...policy, dryRun: false }], authzRequest, options).decision;
    const matched = policy.action === "AUDIT" ? alone.audit.length > 0 : alone.reason === (policy.action === "DENY" ? "deny-matched" : "allow-matched");
    return { name: policy.name, action: policy.action, dryRun: policy.dryRun === true, matched, rule: matched && alone.rule !== undefined ? alone.rule : null };
  });
  if (question.sourceIp === undefined && policies.authz.some(readsAddresses)) {
    assume("the request has no source address (give a cf-connecting-ip header): ipBlocks and source.ip match nothing");
  }
  if (!decision.allowed) {
    if (decision.missing) {
      return refuse({ stage: "authorization", status: 401, flag: "RBAC", detail: "rbac_access_denied_missing_credential", message: "RBAC: access denied: this request needs credentials" });
    }
    return refuse({ stage: "authorization", status: 403, flag: "RBAC", detail: "rbac_access_denied", message: "RBAC: access denied" });
  }
  return verdict;
}

/** Parses the peer input as the gateway would hold a verified identity; throws SpiffeIdError when it is not a SPIFFE ID. */
export function peerIdentityOf(id: SpiffeId): PeerIdentity {
  return { principal: principalOf(id), trustDomain: id.trustDomain, namespace: namespaceOf(id), serviceAccount: serviceAccountOf(id) };
}

function view(decision: AuthzDecision): NonNullable<SecurityVerdict["authorization"]["decision"]> {
  return {
    allowed: decision.allowed,
    reason: decision.reason,
    ...(decision.policy !== undefined ? { policy: decision.policy } : {}),
    ...(decision.rule !== undefined ? { rule: decision.rule } : {}),
    audit: decision.audit,
    ...(decision.missing ? { missing: decision.missing } : {}),
  };
}

/** Whether a policy looks at the caller's address (ipBlocks, remoteIpBlocks, source.ip, remote.ip). */
function readsAddresses(policy: CompiledAuthorizationPolicy): boolean {
  return policy.rules.some(
    (rule) =>
      (rule.from ?? []).some((source) => source.ipBlocks || source.notIpBlocks || source.remoteIpBlocks || source.notRemoteIpBlocks) ||
      (rule.when ?? []).some((condition) => condition.key === "source.ip" || condition.key === "remote.ip"),
  );
}

function jwtRefusal(code: string, message: string): Denial {
  return { stage: "request_authentication", status: 401, flag: "UAEX", detail: `jwt_authn_access_denied{${code}}`, message: `the request's token was refused: ${message}` };
}


function describeLocation(location: TokenLocation): string {
  if (location.kind === "header") return `header ${location.name}${location.prefix ? ` (${location.prefix.trim()})` : ""}`;
  return `${location.kind} ${location.name}`;
}
