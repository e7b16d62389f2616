import { parseArgs } from "node:util";
import { formatConfigIssue } from "../../policies/errors.js";
import { kindUsage } from "../api/kinds.js";
import { apply } from "./commands/apply.js";
import { diff } from "./commands/diff.js";
import { explain } from "./commands/explain.js";
import { history, rollback } from "./commands/history.js";
import { get, remove } from "./commands/resources.js";
import { status } from "./commands/status.js";
import { cert, token } from "./commands/svid.js";
import { top } from "./commands/top.js";
import { validate } from "./commands/validate.js";
import { createContext, type CommandContext, type ContextOptions, type ParsedArgs } from "./context.js";
import { CliError, EXIT } from "./errors.js";

/**
 * meshctl: the control plane's CLI, a thin client of the control API (istioctl/kubectl style).
 * Every command prints what it did or why it could not, and exits 0 on success, 1 when the
 * request was refused, 2 on a usage error, 3 when the control API cannot be reached.
 */

const GLOBAL = ["server", "token", "output", "author", "help"] as const;

const OPTIONS = {
  server: { type: "string" },
  token: { type: "string" },
  output: { type: "string", short: "o" },
  author: { type: "string" },
  help: { type: "boolean", short: "h" },
  filename: { type: "string", short: "f", multiple: true },
  prune: { type: "boolean" },
  "if-match": { type: "string" },
  "dry-run": { type: "boolean" },
  namespace: { type: "string", short: "n" },
  base: { type: "string", multiple: true },
  remote: { type: "boolean" },
  limit: { type: "string" },
  from: { type: "string" },
  to: { type: "string" },
  "exit-code": { type: "boolean" },
  request: { type: "string", short: "X" },
  header: { type: "string", short: "H", multiple: true },
  peer: { type: "string" },
  "peer-via": { type: "string" },
  "request-principal": { type: "string" },
  egress: { type: "boolean" },
  version: { type: "string" },
  labels: { type: "string" },
  gateway: { type: "string", multiple: true },
  wait: { type: "string" },
  interval: { type: "string" },
  once: { type: "boolean" },
  by: { type: "string" },
  reporter: { type: "string" },
  "metrics-token": { type: "string" },
  "spiffe-id": { type: "string" },
  "out-dir": { type: "string" },
  ttl: { type: "string" },
  audience: { type: "string", multiple: true },
} as const;

interface Command {
  run: (context: CommandContext) => Promise<number>;
  options: readonly (keyof typeof OPTIONS)[];
  usage: string;
}

const COMMANDS: Record<string, Command> = {
  apply: { run: apply, options: ["filename", "prune", "if-match", "dry-run"], usage: "apply -f FILE|DIR|- [-f ...] [--prune] [--if-match VERSION] [--dry-run]" },
  get: { run: get, options: ["namespace"], usage: `get KIND [NAME] [-n NAMESPACE]      KIND: all, ${kindUsage()}` },
  delete: { run: remove, options: ["namespace", "if-match"], usage: "delete KIND NAME [-n NAMESPACE] [--if-match VERSION]" },
  diff: { run: diff, options: ["filename", "prune", "from", "to", "exit-code"], usage: "diff -f FILE [--prune] [--exit-code]  |  diff --from VERSION [--to VERSION]" },
  validate: { run: validate, options: ["filename", "base", "prune", "remote"], usage: "validate -f FILE [--base FILE|DIR]... [--prune] [--remote]   (offline unless --remote)" },
  history: { run: history, options: ["limit"], usage: "history [--limit N]" },
  rollback: { run: rollback, options: ["if-match"], usage: "rollback [VERSION] [--if-match VERSION]   (default: the version before the current one)" },
  explain: {
    run: explain,
    options: ["request", "header", "peer", "peer-via", "request-principal", "version", "labels", "egress"],
    usage: "explain URL [-X METHOD] [-H 'name: value']... [--peer SPIFFE_ID [--peer-via mtls|jwt-svid]] [--request-principal ISS/SUB] [--version V] [--labels k=v,...] [--egress]",
  },
  status: { run: status, options: ["gateway", "wait"], usage: "status [--gateway URL]... [--wait SECONDS]" },
  cert: { run: cert, options: ["spiffe-id", "out-dir", "ttl"], usage: "cert issue --spiffe-id ID [--out-dir DIR] [--ttl 1h]   an X.509-SVID: key made locally, only a CSR is sent" },
  token: { run: token, options: ["spiffe-id", "audience", "ttl"], usage: "token issue --spiffe-id ID --audience AUD [--audience ...] [--ttl 5m]   prints a JWT-SVID" },
  top: {
    run: top,
    options: ["gateway", "interval", "once", "by", "reporter", "metrics-token"],
    usage: "top [--gateway URL]... [--interval SECONDS] [--once] [--by version|service|route] [--reporter source|destination] [--metrics-token T]",
  },
};

export const USAGE = `meshctl — the edge mesh's control plane CLI

usage: meshctl COMMAND [options]

commands:
${Object.values(COMMANDS)
  .map((command) => `  ${command.usage}`)
  .join("\n")}

options for every command:
  --server URL        the control API (env MESH_CONTROL_URL; default: the local one npm start runs, http://127.0.0.1:8789)
  --token TOKEN       bearer token (env MESH_ADMIN_TOKEN; default: .mesh/admin-token written by npm start);
                      cert/token issue also take a workload registration token
  --author NAME       recorded in the history for writes (env MESH_AUTHOR; default user@host)
  -o, --output FORMAT text (default), json or yaml
  -h, --help          this help

gateways (status, top): --gateway URL (repeatable), else env MESH_GATEWAY_URLS (comma-separated), else the one npm start runs
metrics token (top): --metrics-token, else env MESH_METRICS_TOKEN (only when the gateway sets one)

exit codes: 0 done, 1 refused (invalid config, not found, conflict, stale --if-match, forbidden), 2 usage error, 3 control API unreachable or failing

examples:
  meshctl apply -f examples/canary-90-10.yaml
  meshctl diff -f examples/canary-90-10.yaml
  meshctl validate -f examples/broken-canary.yaml --base examples/bookinfo.yaml
  meshctl get vs -o yaml
  meshctl history
  meshctl rollback
  meshctl explain http://bookinfo.local/reviews/1 -H 'end-user: jason'
  meshctl explain http://bookinfo.local/details/1 --peer spiffe://acme.test/ns/bookinfo/sa/reviews
  meshctl explain http://api.partner.test/v1/quotes --egress --peer spiffe://acme.test/ns/bookinfo/sa/productpage
  meshctl status --wait 10
  meshctl top --interval 5
  meshctl cert issue --spiffe-id spiffe://acme.test/ns/bookinfo/sa/productpage --out-dir ./svid
  meshctl token issue --spiffe-id spiffe://acme.test/ns/bookinfo/sa/productpage --audience bookinfo.local`;

export interface RunOptions extends Omit<ContextOptions, "args"> {}

/** Runs meshctl with `argv` (without node and the script); resolves to the exit code. */
export async function runMeshctl(argv: readonly string[], options: RunOptions = {}): Promise<number> {
  const err = options.err ?? ((text: string) => process.stderr.write(`${text}\n`));
  const out = options.out ?? ((text: string) => process.stdout.write(`${text}\n`));
  let args: ParsedArgs;
  try {
    args = parseArgs({ args: [...argv], options: OPTIONS, allowPositionals: true, strict: true }) as ParsedArgs;
  } catch (error) {
    err(`meshctl: ${(error as Error).message}\n\n${USAGE}`);
    return EXIT.usage;
  }
  const [name, ...positionals] = args.positionals;
  if (name === undefined || name === "help") {
    (args.values.help || name === "help" ? out : err)(USAGE);
    return args.values.help || name === "help" ? EXIT.ok : EXIT.usage;
  }
  const command = COMMANDS[name];
  if (!command) {
    err(`meshctl: unknown command '${name}' (commands: ${Object.keys(COMMANDS).join(", ")})`);
    return EXIT.usage;
  }
  if (args.values.help) {
    out(`usage: meshctl ${command.usage}`);
    return EXIT.ok;
  }
  const allowed = new Set<string>([...GLOBAL, ...command.options]);
  const stray = Object.keys(args.values).find((option) => !allowed.has(option));
  if (stray) {
    err(`meshctl ${name}: --${stray} does not apply to this command\nusage: meshctl ${command.usage}`);
    return EXIT.usage;
  }
  try {
    const context = createContext({ ...options, out, err, args: { values: args.values, positionals } });
    return await command.run(context);
  } catch (error) {
    if (error instanceof CliError) {
      err(`error: ${error.message}`);
      for (const issue of error.issues) err(`  ${formatConfigIssue(issue)}`);
      if (error.hint) err(`hint: ${error.hint}`);
      return error.exitCode;
    }
    err(`meshctl: unexpected failure: ${(error as Error).stack ?? String(error)}`);
    return EXIT.unavailable;
  }
}
