import type { WriteResult } from "../../api/schemas.js";
import type { ResourceChange } from "../../store/diff.js";
import { formatConfigIssue, formatResourceRef, type ConfigIssue } from "../../../policies/errors.js";
import { asJson, asYaml, value, type OutputFormat } from "../format.js";

/** How apply, delete and rollback report what they did (warnings go to `err`). */
export function printWriteResult(out: (text: string) => void, err: (text: string) => void, format: OutputFormat, result: WriteResult, verb: string): void {
  if (format === "json") return out(asJson(result));
  if (format === "yaml") return out(asYaml(result));
  printWarnings(err, result.warnings);
  if (!result.changed) {
    out(`unchanged: the config is already at version ${result.version}${result.resources.unchanged.length ? ` (${result.resources.unchanged.length} resource${result.resources.unchanged.length === 1 ? "" : "s"} as sent)` : ""}`);
    return;
  }
  out(`${verb}: version ${result.version}${result.previousVersion ? ` (was ${result.previousVersion})` : ""}`);
  const lines: [string, typeof result.resources.created][] = [
    ["created", result.resources.created],
    ["changed", result.resources.changed],
    ["deleted", result.resources.deleted],
  ];
  for (const [word, list] of lines) for (const ref of list) out(`  ${word.padEnd(9)} ${formatResourceRef(ref)}`);
  if (result.resources.unchanged.length) out(`  unchanged ${result.resources.unchanged.length} resource${result.resources.unchanged.length === 1 ? "" : "s"}`);
}

/** `~ VirtualService bookinfo/bookinfo` and one line per changed field. */
export function printChanges(out: (text: string) => void, changes: readonly ResourceChange[]): void {
  for (const change of changes) {
    const mark = change.change === "created" ? "+" : change.change === "deleted" ? "-" : "~";
    out(`${mark} ${formatResourceRef(change.resource)}`);
    for (const field of change.fields ?? []) {
      if (!("from" in field)) out(`    ${field.path}: + ${value(field.to)}`);
      else if (!("to" in field)) out(`    ${field.path}: - ${value(field.from)}`);
      else out(`    ${field.path}: ${value(field.from)} → ${value(field.to)}`);
    }
  }
}

export function printWarnings(err: (text: string) => void, warnings: readonly ConfigIssue[]): void {
  for (const warning of warnings) err(`warning: ${formatConfigIssue(warning)}`);
}
