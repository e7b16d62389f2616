import os from "node:os";
import { ControlClient } from "./client.js";
import { CliError, EXIT } from "./errors.js";
import type { OutputFormat } from "./format.js";
import { meshHome, readEndpoints, readToken } from "./local-state.js";

/** What a command gets: its parsed arguments, the client (built on first use), and where to print. */

export interface ParsedArgs {
  values: Record<string, string | boolean | string[] | undefined>;
  positionals: string[];
}

export interface CommandContext {
  args: ParsedArgs;
  output: OutputFormat;
  env: NodeJS.ProcessEnv;
  out(text: string): void;
  err(text: string): void;
  client(): Promise<ControlClient>;
  /** The local gateways to ask for their version (status). */
  gateways(): Promise<{ name: string; url: string }[]>;
  stdin?: () => Promise<string>;
  fetch?: typeof fetch;
  /** Ends a command that runs until stopped (top); default Ctrl-C. */
  signal?: AbortSignal;
  /** Output goes to a terminal (top clears the screen between frames). */
  isTty?: boolean;
}

export function stringArg(args: ParsedArgs, name: string): string | undefined {
  const value = args.values[name];
  return typeof value === "string" ? value : undefined;
}

export function listArg(args: ParsedArgs, name: string): string[] {
  const value = args.values[name];
  return Array.isArray(value) ? value : typeof value === "string" ? [value] : [];
}

export function flagArg(args: ParsedArgs, name: string): boolean {
  return args.values[name] === true;
}

export interface ContextOptions {
  args: ParsedArgs;
  env?: NodeJS.ProcessEnv;
  out?: (text: string) => void;
  err?: (text: string) => void;
  fetch?: typeof fetch;
  stdin?: () => Promise<string>;
  signal?: AbortSignal;
}

export function createContext(options: ContextOptions): CommandContext {
  const env = options.env ?? process.env;
  const args = options.args;
  const output = stringArg(args, "output") ?? "text";
  if (output !== "text" && output !== "json" && output !== "yaml") throw new CliError(`--output must be text, json or yaml (got '${output}')`, EXIT.usage);
  const home = meshHome(env);
  let client: Promise<ControlClient> | undefined;
  return {
    args,
    output,
    env,
    out: options.out ?? ((text) => process.stdout.write(`${text}\n`)),
    err: options.err ?? ((text) => process.stderr.write(`${text}\n`)),
    ...(options.fetch ? { fetch: options.fetch } : {}),
    ...(options.stdin ? { stdin: options.stdin } : {}),
    ...(options.signal ? { signal: options.signal } : {}),
    isTty: options.out === undefined && process.stdout.isTTY === true,
    client: () =>
      (client ??= (async () => {
        const endpoints = await readEndpoints(home);
        // An empty environment variable counts as unset.
        const server = stringArg(args, "server") ?? (env.MESH_CONTROL_URL || undefined) ?? endpoints?.control ?? `http://127.0.0.1:${env.CONTROL_PORT || "8789"}`;
        if (!URL.canParse(server) || !/^https?:$/.test(new URL(server).protocol)) throw new CliError(`the control API URL '${server}' is not an http(s) URL (--server / MESH_CONTROL_URL)`, EXIT.usage);
        const token = stringArg(args, "token") ?? (env.MESH_ADMIN_TOKEN || undefined) ?? (await readToken(home, "admin"));
        const author = stringArg(args, "author") ?? (env.MESH_AUTHOR || undefined) ?? defaultAuthor();
        return new ControlClient({ server, token, author, ...(options.fetch ? { fetch: options.fetch } : {}) });
      })()),
    async gateways() {
      const given = listArg(args, "gateway");
      if (given.length > 0) return given.map((url, index) => ({ name: `gateway-${index + 1}`, url }));
      if (env.MESH_GATEWAY_URLS) return env.MESH_GATEWAY_URLS.split(",").filter(Boolean).map((url, index) => ({ name: `gateway-${index + 1}`, url: url.trim() }));
      const endpoints = await readEndpoints(home);
      if (endpoints?.gateways.length) return endpoints.gateways;
      return [{ name: "mesh-ingress", url: `http://127.0.0.1:${env.INGRESS_PORT || "8787"}` }];
    },
  };
}

function defaultAuthor(): string {
  try {
    return `${os.userInfo().username}@${os.hostname()}`;
  } catch {
    return "meshctl";
  }
}
