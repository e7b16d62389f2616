import type { ConfigIssue } from "../../../policies/errors.js";
import type { WriteResult } from "../../api/schemas.js";
import { planApply } from "../../store/plan.js";
import { readResourceText } from "../../store/read-text.js";
import { toMap } from "../../store/resource-set.js";
import type { CommandContext } from "../context.js";
import { flagArg, listArg } from "../context.js";
import { CliError, EXIT } from "../errors.js";
import { bundleSources, readSources, type Bundle } from "../files.js";
import { asJson, asYaml } from "../format.js";
import { printWarnings } from "./write-result.js";

/**
 * `meshctl validate -f FILE [--base FILE|DIR ...] [--prune] [--remote]`: the control plane's own
 * checks, offline (no server): the files are read by the same loader and compiled by the same
 * compiler as on apply, so the messages are the same. `--base` gives resources the files are
 * applied on top of (as the server's current config would be); `--remote` asks the server
 * instead (a dry-run apply on its current config).
 */
export async function validate(context: CommandContext): Promise<number> {
  const { args } = context;
  const bundle = bundleSources(await readSources(listArg(args, "filename"), context.stdin));
  if (flagArg(args, "remote")) {
    const client = await context.client();
    const answer = await client.call<WriteResult>("POST", "/v1/validate", {
      query: { prune: flagArg(args, "prune") ? "true" : undefined, source: bundle.single },
      body: bundle.text,
      contentType: "application/yaml",
      locate: bundle.locate,
    });
    return report(context, { ...answer.body, warnings: answer.body.warnings.map(bundle.locate) }, "on the server's current config");
  }

  const baseFiles = listArg(args, "base");
  let base = new Map();
  if (baseFiles.length > 0) {
    const baseBundle = bundleSources(await readSources(baseFiles));
    base = toMap(read(baseBundle, "base config").resources);
  }
  const incoming = read(bundle, "config");
  const plan = await planApply(base, incoming.resources, { prune: flagArg(args, "prune"), locate: incoming.locate });
  if (!plan.ok) throw invalid(plan.issues.map(bundle.locate), "config");
  const result: WriteResult = { version: plan.version, previousVersion: null, changed: true, dryRun: true, resources: plan.summary, changes: plan.changes, warnings: plan.warnings.map(bundle.locate), historySeq: null };
  return report(context, result, baseFiles.length ? `on top of ${baseFiles.join(", ")}` : "as a whole config");
}

function read(bundle: Bundle, what: string) {
  const read = readResourceText(bundle.text, bundle.single);
  if (!read.ok) throw invalid(read.issues.map(bundle.locate), what);
  if (read.resources.length === 0) throw new CliError(`the ${what} holds no resources`, EXIT.refused);
  return read;
}

function invalid(issues: readonly ConfigIssue[], what: string): CliError {
  return new CliError(`the ${what} is invalid (${issues.length} issue${issues.length === 1 ? "" : "s"})`, EXIT.refused, issues);
}

function report(context: CommandContext, result: WriteResult, where: string): number {
  if (context.output === "json") context.out(asJson(result));
  else if (context.output === "yaml") context.out(asYaml(result));
  else {
    printWarnings(context.err, result.warnings);
    const count = result.resources.created.length + result.resources.changed.length + result.resources.unchanged.length;
    context.out(`valid ${where}: ${count} resource${count === 1 ? "" : "s"} checked; the config would be version ${result.version}`);
  }
  return EXIT.ok;
}
