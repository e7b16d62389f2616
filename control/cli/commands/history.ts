import type { HistoryEntry, WriteResult } from "../../api/schemas.js";
import type { CommandContext } from "../context.js";
import { stringArg } from "../context.js";
import { CliError, EXIT } from "../errors.js";
import { age, asJson, asYaml, table } from "../format.js";
import { printWriteResult } from "./write-result.js";

/** `meshctl history [--limit N]`: every write, newest first; `*` marks the current version. */
export async function history(context: CommandContext): Promise<number> {
  const limit = stringArg(context.args, "limit");
  if (limit !== undefined && !/^\d+$/.test(limit)) throw new CliError(`--limit must be a number (got '${limit}')`, EXIT.usage);
  const client = await context.client();
  const answer = await client.call<{ version: string | null; entries: HistoryEntry[] }>("GET", "/v1/history", { query: { limit } });
  const { version, entries } = answer.body;
  if (context.output === "json") context.out(asJson(answer.body));
  else if (context.output === "yaml") context.out(asYaml(answer.body));
  else if (entries.length === 0) context.out("no history yet: nothing has been applied");
  else {
    context.out(
      table(
        ["", "SEQ", "VERSION", "WHEN", "AUTHOR", "ACTION", "SUMMARY"],
        entries.map((entry) => [entry.seq === entries[0]!.seq && entry.version === version ? "*" : "", String(entry.seq), entry.version, age(entry.at), entry.author, entry.action, entry.summary]),
      ),
    );
  }
  return EXIT.ok;
}

/**
 * `meshctl rollback [VERSION] [--if-match VERSION]`: makes VERSION current again (a new history
 * entry). Without VERSION, the version before the current one — sent with If-Match on the
 * current one, so a change made meanwhile by someone else is not rolled back unseen.
 */
export async function rollback(context: CommandContext): Promise<number> {
  const [given, ...extra] = context.args.positionals;
  if (extra.length) throw new CliError(`unexpected argument '${extra[0]}'`, EXIT.usage);
  const client = await context.client();
  let target = given;
  let ifMatch = stringArg(context.args, "if-match");
  if (target === undefined) {
    const { entries } = (await client.call<{ entries: HistoryEntry[] }>("GET", "/v1/history", { query: { limit: "1" } })).body;
    const latest = entries[0];
    if (!latest?.previous) throw new CliError("nothing to roll back to: the history has no earlier version", EXIT.refused);
    target = latest.previous;
    ifMatch ??= latest.version;
  }
  const answer = await client.call<WriteResult>("POST", "/v1/rollback", { body: JSON.stringify({ version: target }), ...(ifMatch !== undefined ? { ifMatch } : {}) });
  printWriteResult(context.out, context.err, context.output, answer.body, "rolled back");
  return EXIT.ok;
}
