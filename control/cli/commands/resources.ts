import type { WriteResult } from "../../api/schemas.js";
import { resolveKind } from "../../api/kinds.js";
import type { ControlClient } from "../client.js";
import type { CommandContext } from "../context.js";
import { stringArg } from "../context.js";
import { CliError, EXIT } from "../errors.js";
import { asJson, resourcesAsYaml, table } from "../format.js";
import { printWriteResult } from "./write-result.js";

/**
 * `meshctl get KIND [NAME] [-n NAMESPACE]` and `meshctl delete KIND NAME [-n NAMESPACE]`.
 * Without -n, a NAME is looked up in every namespace (and must be unique there).
 */

type Raw = Record<string, unknown> & { kind: string; metadata: { name: string; namespace: string } };

export async function get(context: CommandContext): Promise<number> {
  const [kindArg, name, ...extra] = context.args.positionals;
  if (kindArg === undefined) throw new CliError("usage: meshctl get KIND [NAME] [-n NAMESPACE] (KIND: all, gateways|gw, virtualservices|vs, destinationrules|dr, serviceentries|se)", EXIT.usage);
  if (extra.length) throw new CliError(`unexpected argument '${extra[0]}'`, EXIT.usage);
  const kind = kindArg.toLowerCase() === "all" ? undefined : requireKind(kindArg);
  const namespace = stringArg(context.args, "namespace");
  const client = await context.client();

  if (name !== undefined) {
    if (kind === undefined) throw new CliError("get all takes no NAME", EXIT.usage);
    const item = await findOne(client, kind, name, namespace);
    context.out(context.output === "json" ? asJson(item) : resourcesAsYaml([item]));
    return 0;
  }
  const answer = await client.call<{ version: string | null; items: Raw[] }>("GET", "/v1/resources", { query: { kind, namespace } });
  const items = answer.body.items;
  if (context.output === "json") context.out(asJson(answer.body));
  else if (context.output === "yaml") context.out(resourcesAsYaml(items));
  else if (items.length === 0) context.out(`no ${kind ?? "resources"} found${namespace ? ` in namespace ${namespace}` : ""} (version ${answer.body.version ?? "none"})`);
  else {
    context.out(table(["KIND", "NAMESPACE", "NAME", "HOSTS"], items.map((item) => [item.kind, item.metadata.namespace, item.metadata.name, hostsOf(item)])));
  }
  return 0;
}

export async function remove(context: CommandContext): Promise<number> {
  const [kindArg, name, ...extra] = context.args.positionals;
  if (kindArg === undefined || name === undefined) throw new CliError("usage: meshctl delete KIND NAME [-n NAMESPACE] [--if-match VERSION]", EXIT.usage);
  if (extra.length) throw new CliError(`unexpected argument '${extra[0]}'`, EXIT.usage);
  const kind = requireKind(kindArg);
  const client = await context.client();
  const item = await findOne(client, kind, name, stringArg(context.args, "namespace"));
  const ifMatch = stringArg(context.args, "if-match");
  const answer = await client.call<WriteResult>("DELETE", `/v1/resources/${kind}/${encodeURIComponent(item.metadata.namespace)}/${encodeURIComponent(name)}`, ifMatch !== undefined ? { ifMatch } : {});
  printWriteResult(context.out, context.err, context.output, answer.body, "deleted");
  return 0;
}

async function findOne(client: ControlClient, kind: string, name: string, namespace: string | undefined): Promise<Raw> {
  if (namespace !== undefined) {
    return (await client.call<Raw>("GET", `/v1/resources/${kind}/${encodeURIComponent(namespace)}/${encodeURIComponent(name)}`)).body;
  }
  const { items } = (await client.call<{ items: Raw[] }>("GET", "/v1/resources", { query: { kind } })).body;
  const found = items.filter((item) => item.metadata.name === name);
  if (found.length === 0) throw new CliError(`${kind} '${name}' not found in any namespace`, EXIT.refused);
  if (found.length > 1) {
    throw new CliError(`${kind} '${name}' exists in several namespaces (${found.map((item) => item.metadata.namespace).join(", ")}): pick one with -n`, EXIT.usage);
  }
  return found[0]!;
}

function requireKind(name: string): string {
  const kind = resolveKind(name);
  if (!kind) throw new CliError(`unknown kind '${name}' (kinds: gateways|gw, virtualservices|vs, destinationrules|dr, serviceentries|se)`, EXIT.usage);
  return kind;
}

function hostsOf(item: Raw): string {
  const spec = (item.spec ?? {}) as { hosts?: unknown; host?: unknown; servers?: { hosts?: unknown }[] };
  if (Array.isArray(spec.hosts)) return spec.hosts.join(",");
  if (typeof spec.host === "string") return spec.host;
  if (Array.isArray(spec.servers)) return spec.servers.flatMap((server) => (Array.isArray(server.hosts) ? server.hosts : [])).join(",");
  return "";
}

