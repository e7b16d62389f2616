import type { WriteResult } from "../../api/schemas.js";
import type { CommandContext } from "../context.js";
import { flagArg, listArg, stringArg } from "../context.js";
import { bundleSources, readSources } from "../files.js";
import { printWriteResult } from "./write-result.js";

/** `meshctl apply -f FILE|DIR|- [--prune] [--if-match VERSION] [--dry-run]` */
export async function apply(context: CommandContext): Promise<number> {
  const { args } = context;
  const bundle = bundleSources(await readSources(listArg(args, "filename"), context.stdin));
  const client = await context.client();
  const dryRun = flagArg(args, "dry-run");
  const ifMatch = stringArg(args, "if-match");
  const answer = await client.call<WriteResult>("POST", dryRun ? "/v1/validate" : "/v1/apply", {
    query: { prune: flagArg(args, "prune") ? "true" : undefined, source: bundle.single },
    body: bundle.text,
    contentType: "application/yaml",
    locate: bundle.locate,
    ...(ifMatch !== undefined ? { ifMatch } : {}),
  });
  const result = { ...answer.body, warnings: answer.body.warnings.map(bundle.locate) };
  printWriteResult(context.out, context.err, context.output, result, dryRun ? "would apply (dry run, nothing stored)" : "applied");
  return 0;
}
