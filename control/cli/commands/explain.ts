import type { Explanation } from "../../../policies/explain/schema.js";
import type { CommandContext } from "../context.js";
import { flagArg, listArg, stringArg } from "../context.js";
import { CliError, EXIT } from "../errors.js";
import { asJson, asYaml, percent } from "../format.js";

/**
 * `meshctl explain URL [-X METHOD] [-H 'name: value']... [--peer SPIFFE_ID [--peer-via
 * mtls|jwt-svid]] [--request-principal ISS/SUB] [--version V] [--labels k=v,...] [--egress]`:
 * how the gateway (or, with `--egress` or `--labels istio=egressgateway`, the egress) would
 * handle the request, as a readable trace. The peer and the request principal are taken as
 * verified: explain checks no certificate or token.
 */
export async function explain(context: CommandContext): Promise<number> {
  const { args } = context;
  const [url, ...extra] = args.positionals;
  if (url === undefined) throw new CliError("usage: meshctl explain URL [-X METHOD] [-H 'name: value']... (e.g. meshctl explain http://bookinfo.local/reviews/1 -H 'end-user: jason')", EXIT.usage);
  if (extra.length) throw new CliError(`unexpected argument '${extra[0]}'`, EXIT.usage);
  const headers: Record<string, string> = {};
  for (const header of listArg(args, "header")) {
    const colon = header.indexOf(":");
    if (colon <= 0) throw new CliError(`-H '${header}': headers are 'name: value'`, EXIT.usage);
    headers[header.slice(0, colon).trim().toLowerCase()] = header.slice(colon + 1).trim();
  }
  const labelsText = stringArg(args, "labels");
  const egress = flagArg(args, "egress");
  if (egress && labelsText !== undefined) throw new CliError("--egress and --labels: give one (--egress is --labels istio=egressgateway)", EXIT.usage);
  const labels = labelsText !== undefined ? parseLabels(labelsText) : egress ? { istio: "egressgateway" } : undefined;
  const peer = stringArg(args, "peer");
  const via = stringArg(args, "peer-via");
  if (via !== undefined && via !== "mtls" && via !== "jwt-svid") throw new CliError(`--peer-via: 'mtls' or 'jwt-svid' (got '${via}')`, EXIT.usage);
  if (via !== undefined && peer === undefined) throw new CliError("--peer-via needs --peer", EXIT.usage);
  const requestPrincipal = stringArg(args, "request-principal");
  const version = stringArg(args, "version");
  const body = {
    ...(version !== undefined ? { version } : {}),
    ...(labels ? { gatewayLabels: labels } : {}),
    request: {
      method: stringArg(args, "request") ?? "GET",
      url,
      headers,
      ...(peer !== undefined ? { peer: { principal: peer, ...(via !== undefined ? { via } : {}) } } : {}),
      ...(requestPrincipal !== undefined ? { requestPrincipal: { principal: requestPrincipal } } : {}),
    },
  };
  const client = await context.client();
  const answer = await client.call<Explanation>("POST", "/v1/explain", { body: JSON.stringify(body) });
  if (context.output === "json") context.out(asJson(answer.body));
  else if (context.output === "yaml") context.out(asYaml(answer.body));
  else for (const line of traceLines(answer.body)) context.out(line);
  return EXIT.ok;
}

/** The explanation as a trace, one decision per line, in the order the gateway takes them. */
export function traceLines(e: Explanation): string[] {
  const lines: string[] = [];
  const add = (label: string, text: string) => lines.push(`${label.padEnd(10)}${text}`);
  add("request", `${e.request.method} ${e.request.scheme}://${e.request.authority}${e.request.path}  (host ${e.request.host}, port ${e.request.port})`);
  add("version", e.version);
  if (e.peer) add("peer", `${e.peer.principal} (${e.peer.note})`);
  const labels = Object.entries(e.gatewayLabels).map(([key, value]) => `${key}=${value}`).join(",");
  if (e.gateways.length === 0) add("gateways", "none in this config");
  for (const gateway of e.gateways) {
    const facts = [
      gateway.selected ? `selected by ${labels}` : `not selected (selector ${Object.entries(gateway.selector).map(([k, v]) => `${k}=${v}`).join(",") || "{}"} vs labels ${labels})`,
      gateway.acceptsHost ? "accepts the host" : `does not accept host ${e.request.host} (server hosts: ${gateway.serverHosts.join(", ")})`,
      ...(gateway.virtualService ? [`VirtualService ${gateway.virtualService}`] : []),
    ];
    add(gateway.name === e.gateway ? "gateway *" : "gateway", `${gateway.name}: ${facts.join("; ")}`);
  }
  if (e.egress) {
    const lookup = e.egress;
    add(
      "egress",
      lookup.kind === "virtual_service"
        ? "a VirtualService on the egress's Gateway serves the host"
        : lookup.kind === "registered"
          ? `ServiceEntry ${lookup.serviceEntry} declares ${lookup.serviceHost} (port ${lookup.port}): cluster ${lookup.cluster}`
          : lookup.kind === "passthrough"
            ? `undeclared host, ${lookup.outboundTrafficPolicy}: passed through to the host itself (${lookup.cluster})`
            : `undeclared host, ${lookup.outboundTrafficPolicy}: blocked (BlackHoleCluster)`,
    );
  }
  if (e.virtualService) add("vs", e.virtualService);
  if (e.routes.length) lines.push("routes");
  for (const route of e.routes) {
    const head = `  ${route.verdict === "matched" ? "MATCH" : route.verdict === "no_match" ? "no   " : "-    "} #${route.position} ${route.name}`;
    if (route.verdict === "matched") lines.push(`${head}${route.matchedBy === null || route.matchedBy === undefined ? " (no match conditions: matches everything)" : ` (by match[${route.matchedBy}])`}`);
    else if (route.verdict === "not_reached") lines.push(`${head} (not reached)`);
    else {
      lines.push(head);
      for (const failed of route.failed) lines.push(`        match[${failed.match}] ${failed.condition}: ${failed.message}`);
    }
  }
  const action = e.action;
  if (action?.type === "forward") {
    lines.push(`destinations (total weight ${action.totalWeight})`);
    for (const destination of action.destinations) {
      lines.push(`  ${percent(destination.probability).padStart(6)}  ${destination.cluster}  weight ${destination.weight}; ${destination.balancing}`);
      for (const endpoint of destination.endpoints) {
        const share = endpoint.probability === null ? "" : `${percent(endpoint.probability)} `;
        lines.push(`            ${share}${endpoint.address}:${endpoint.port} ${Object.entries(endpoint.labels).map(([k, v]) => `${k}=${v}`).join(",")}${endpoint.chosen ? "  <- chosen by hash" : ""}`);
      }
      if (destination.tls) lines.push(`            TLS origination: ${destination.tls.mode}${destination.tls.sni ? `, SNI ${destination.tls.sni}` : ""}${destination.tls.credentialName ? `, client certificate ${destination.tls.credentialName}` : ""}`);
      if (destination.egressCredential) {
        const credential = destination.egressCredential;
        const adds = [
          ...(credential.inject ? [`secret ${credential.inject.secretName} as ${credential.inject.header}`] : []),
          ...(credential.workloadIdentity ? [`the caller's JWT-SVID (audience ${credential.workloadIdentity.audience}) as ${credential.workloadIdentity.header}`] : []),
        ];
        lines.push(`            EgressCredential ${credential.name}: adds ${adds.join(" and ")}`);
      }
      if (destination.outlierDetection) lines.push(`            outlier detection: eject after ${destination.outlierDetection.consecutive5xxErrors} consecutive 5xx for ${destination.outlierDetection.baseEjectionTimeMs} ms (max ${destination.outlierDetection.maxEjectionPercent}%)`);
    }
  } else if (action?.type === "redirect") add("redirect", `${action.code} to ${action.location}`);
  else if (action?.type === "direct") add("direct", `${action.status} (${action.bodyBytes} bytes of body)`);
  if (e.route !== null) {
    add("timeout", e.timeoutMs === null ? "none" : `${e.timeoutMs} ms`);
    add(
      "retries",
      e.retries === null
        ? "none"
        : `${e.retries.attempts} on ${[...e.retries.conditions, ...e.retries.statusCodes.map(String)].join(",")}${e.retries.perTryTimeoutMs !== undefined ? `, ${e.retries.perTryTimeoutMs} ms per try` : ""}`,
    );
    const faults = [
      ...(e.fault?.delay ? [`delay ${e.fault.delay.delayMs} ms for ${e.fault.delay.percent}%`] : []),
      ...(e.fault?.abort ? [`abort ${e.fault.abort.status} for ${e.fault.abort.percent}%`] : []),
    ];
    add("fault", faults.join("; ") || "none");
    add("mirror", e.mirror ? `${percent(e.mirror.probability)} to ${e.mirror.cluster}` : "none");
    if (e.rewrite) add("rewrite", Object.entries(e.rewrite).map(([key, value]) => `${key} ${JSON.stringify(value)}`).join(", "));
    if (e.cors) add("cors", "corsPolicy applies");
  }
  for (const verdict of e.security) lines.push(...securityLines(verdict, e.security.length > 1));
  lines.push("outcomes");
  for (const outcome of e.outcomes) {
    lines.push(`  ${percent(outcome.probability).padStart(6)}  ${outcome.status ?? "upstream"}${outcome.flag ? ` ${outcome.flag}` : ""}: ${outcome.description}`);
  }
  for (const note of e.notes) add("note", note);
  return lines;
}

/** One namespace's security decisions, in the gateway's order. */
function securityLines(v: Explanation["security"][number], several: boolean): string[] {
  const lines: string[] = [];
  const add = (label: string, text: string) => lines.push(`${label.padEnd(10)}${text}`);
  const scope = several ? ` [${v.namespace}: ${v.clusters.join(", ")}]` : "";
  if (!v.enforced) {
    add("security", `none configured (no MeshConfig or security policy): not authenticated, not authorized${scope}`);
    return lines;
  }
  const peer = v.peerAuthentication;
  add(
    "mtls",
    `${peer.mode}${peer.policies.length ? ` (${peer.policies.join(", ")})` : " (default)"}${peer.serverTls ? `; Gateway server tls ${peer.serverTls.mode}` : ""}${peer.required ? "; a peer identity is required" : ""}; peer ${peer.peer ?? "none"}${scope}`,
  );
  const jwt = v.requestAuthentication;
  if (jwt.policies.length || jwt.requestPrincipal || jwt.tokensPresent.length) {
    add("jwt", `${jwt.policies.length ? `${jwt.policies.join(", ")} (issuers ${jwt.issuers.join(", ")})` : "no RequestAuthentication"}; request principal ${jwt.requestPrincipal ?? "none"}`);
  }
  const authz = v.authorization;
  const reached = !v.denial || v.denial.stage === "authorization" || v.denial.stage === "egress_credential";
  if (!reached) add("authz", "not reached");
  else if (authz.policies.length === 0) add("authz", "no AuthorizationPolicy applies");
  for (const policy of authz.policies) {
    add(policy.matched ? "authz *" : "authz", `${policy.action}${policy.dryRun ? " (dry-run)" : ""} ${policy.name}: ${policy.matched ? `matches${policy.rule !== null ? ` (rule ${policy.rule})` : ""}` : "does not match"}`);
  }
  if (authz.decision) {
    const d = authz.decision;
    add("decision", `${d.allowed ? "allow" : "deny"} (${REASON_TEXT[d.reason]}${d.policy ? `: ${d.policy}` : ""})${d.audit.length ? `; audited by ${d.audit.join(", ")}` : ""}${d.missing ? `; a ${d.missing === "peer" ? "peer identity" : "request token"} could change it` : ""}`);
  }
  if (authz.dryRun) add("dry-run", `would ${authz.dryRun.allowed ? "allow" : "deny"} (${REASON_TEXT[authz.dryRun.reason]}${authz.dryRun.policy ? `: ${authz.dryRun.policy}` : ""})`);
  if (v.denial) add("refused", `${v.denial.status}${v.denial.flag ? ` ${v.denial.flag}` : ""} ${v.denial.detail} by ${v.denial.stage.replaceAll("_", " ")}: ${v.denial.message}`);
  for (const assumption of v.assumptions) add("assumed", assumption);
  return lines;
}

function parseLabels(text: string): Record<string, string> {
  const labels: Record<string, string> = {};
  for (const pair of text.split(",").map((item) => item.trim()).filter(Boolean)) {
    const eq = pair.indexOf("=");
    if (eq <= 0) throw new CliError(`--labels: '${pair}' is not key=value`, EXIT.usage);
    labels[pair.slice(0, eq)] = pair.slice(eq + 1);
  }
  return labels;
}

/** The authorization decision's reason, in words (Istio's order: DENY first, then ALLOW). */
const REASON_TEXT: Record<"deny-matched" | "allow-matched" | "no-allow-matched" | "no-policy", string> = {
  "deny-matched": "a DENY policy matched",
  "allow-matched": "an ALLOW policy matched",
  "no-allow-matched": "ALLOW policies apply and none matched",
  "no-policy": "no DENY matched and no ALLOW policy applies",
};
