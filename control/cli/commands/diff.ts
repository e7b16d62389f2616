import type { WriteResult } from "../../api/schemas.js";
import type { ResourceChange } from "../../store/diff.js";
import type { CommandContext } from "../context.js";
import { flagArg, listArg, stringArg } from "../context.js";
import { CliError, EXIT } from "../errors.js";
import { bundleSources, readSources } from "../files.js";
import { asJson, asYaml } from "../format.js";
import { printChanges, printWarnings } from "./write-result.js";

/**
 * `meshctl diff -f FILE [--prune] [--exit-code]`: what apply would change, field by field
 * (a dry run on the server). `meshctl diff --from VERSION [--to VERSION]`: between two versions.
 * With --exit-code, exits 1 when there are differences (as `git diff --exit-code`).
 */
export async function diff(context: CommandContext): Promise<number> {
  const { args } = context;
  const from = stringArg(args, "from");
  const files = listArg(args, "filename");
  if ((from === undefined) === (files.length === 0)) throw new CliError("usage: meshctl diff -f FILE [--prune]  or  meshctl diff --from VERSION [--to VERSION]", EXIT.usage);
  const client = await context.client();
  let changes: ResourceChange[];
  let heading: string;
  let body: unknown;
  if (from !== undefined) {
    const to = stringArg(args, "to");
    const answer = await client.call<{ from: string; to: string; changes: ResourceChange[] }>("GET", "/v1/diff", { query: { from, to } });
    ({ changes } = answer.body);
    heading = `version ${answer.body.from} → ${answer.body.to}`;
    body = answer.body;
  } else {
    const bundle = bundleSources(await readSources(files, context.stdin));
    const answer = await client.call<WriteResult>("POST", "/v1/validate", {
      query: { prune: flagArg(args, "prune") ? "true" : undefined, source: bundle.single },
      body: bundle.text,
      contentType: "application/yaml",
      locate: bundle.locate,
    });
    changes = answer.body.changes;
    if (context.output === "text") printWarnings(context.err, answer.body.warnings.map(bundle.locate));
    const counts = answer.body.resources;
    heading = answer.body.changed
      ? `apply would move version ${answer.body.previousVersion ?? "(none)"} → ${answer.body.version} (created ${counts.created.length}, changed ${counts.changed.length}, deleted ${counts.deleted.length}, unchanged ${counts.unchanged.length})`
      : `no changes: the config is already at version ${answer.body.version}`;
    body = answer.body;
  }
  if (context.output === "json") context.out(asJson(body));
  else if (context.output === "yaml") context.out(asYaml(body));
  else {
    printChanges(context.out, changes);
    context.out(heading);
  }
  return flagArg(args, "exit-code") && changes.length > 0 ? EXIT.refused : EXIT.ok;
}
