import type { HistoryEntry } from "../../api/schemas.js";
import type { CommandContext } from "../context.js";
import { stringArg } from "../context.js";
import { CliError, EXIT } from "../errors.js";
import { age, asJson, asYaml, table } from "../format.js";

/**
 * `meshctl status [--gateway URL]... [--wait SECONDS]`: the current version at the control API,
 * and the version each local gateway serves (its /__mesh/healthz). With --wait, polls until
 * every gateway serves the current version (exit 1 if they do not in time).
 */

interface GatewayStatus {
  name: string;
  url: string;
  version: string | null;
  state: "in sync" | "stale" | "no config" | "unreachable";
  detail?: string;
}

export async function status(context: CommandContext): Promise<number> {
  const waitText = stringArg(context.args, "wait");
  const waitSeconds = waitText === undefined ? 0 : Number(waitText);
  if (!Number.isFinite(waitSeconds) || waitSeconds < 0) throw new CliError(`--wait must be a number of seconds (got '${waitText}')`, EXIT.usage);
  const client = await context.client();
  const gateways = await context.gateways();
  const deadline = Date.now() + waitSeconds * 1000;
  for (;;) {
    const { version, entries } = (await client.call<{ version: string | null; entries: HistoryEntry[] }>("GET", "/v1/history", { query: { limit: "1" } })).body;
    const states = await Promise.all(gateways.map((gateway) => gatewayStatus(gateway, version, context.fetch ?? fetch)));
    const synced = states.every((state) => state.state === "in sync");
    if (synced || Date.now() >= deadline) {
      const latest = entries[0];
      const body = { control: { url: client.server, version, lastChange: latest ?? null }, gateways: states };
      if (context.output === "json") context.out(asJson(body));
      else if (context.output === "yaml") context.out(asYaml(body));
      else {
        context.out(`control   ${client.server}  version ${version ?? "(none)"}${latest ? `  (${latest.action} by ${latest.author}, ${age(latest.at)})` : ""}`);
        context.out(table(["GATEWAY", "URL", "VERSION", "STATE"], states.map((state) => [state.name, state.url, state.version ?? "-", state.detail ? `${state.state}: ${state.detail}` : state.state])));
      }
      return waitSeconds > 0 && !synced ? EXIT.refused : EXIT.ok;
    }
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

async function gatewayStatus(gateway: { name: string; url: string }, current: string | null, fetcher: typeof fetch): Promise<GatewayStatus> {
  try {
    const response = await fetcher(new URL("/__mesh/healthz", gateway.url), { signal: AbortSignal.timeout(5000) });
    const body = (await response.json()) as { configVersion?: string | null; reason?: string };
    const version = body.configVersion ?? null;
    if (version === null) return { ...gateway, version, state: "no config", ...(body.reason ? { detail: body.reason } : {}) };
    return { ...gateway, version, state: version === current ? "in sync" : "stale" };
  } catch (error) {
    return { ...gateway, version: null, state: "unreachable", detail: (error as { cause?: { code?: string } }).cause?.code ?? (error as Error).message };
  }
}
