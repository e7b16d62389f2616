import type { Explanation } from "../../../policies/explain/schema.js";
import type { CommandContext } from "../context.js";
import { listArg, stringArg } from "../context.js";
import { CliError, EXIT } from "../errors.js";
import { asJson, asYaml, percent } from "../format.js";

/**
 * `meshctl explain URL [-X METHOD] [-H 'name: value']... [--peer SPIFFE_ID] [--version V]
 * [--labels k=v,...]`: how the gateway would handle the request, as a readable trace.
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
  const labels = labelsText !== undefined ? parseLabels(labelsText) : undefined;
  const peer = stringArg(args, "peer");
  const version = stringArg(args, "version");
  const body = {
    ...(version !== undefined ? { version } : {}),
    ...(labels ? { gatewayLabels: labels } : {}),
    request: { method: stringArg(args, "request") ?? "GET", url, headers, ...(peer !== undefined ? { peer: { principal: peer } } : {}) },
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
  lines.push("outcomes");
  for (const outcome of e.outcomes) {
    lines.push(`  ${percent(outcome.probability).padStart(6)}  ${outcome.status ?? "upstream"}${outcome.flag ? ` ${outcome.flag}` : ""}: ${outcome.description}`);
  }
  for (const note of e.notes) add("note", note);
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
