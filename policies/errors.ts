/**
 * Errors in a mesh configuration. Like jose's errors, each has a stable `code` to branch on and
 * the facts a user needs: which resource, which field, what is wrong.
 */

export type ConfigErrorCode =
  | "ERR_CONFIG_PARSE"
  | "ERR_CONFIG_SCHEMA"
  | "ERR_CONFIG_UNSUPPORTED_FIELD"
  | "ERR_CONFIG_UNKNOWN_KIND"
  | "ERR_CONFIG_DUPLICATE"
  | "ERR_CONFIG_REFERENCE"
  | "ERR_CONFIG_CONFLICT"
  | "ERR_CONFIG_INSECURE"
  | "ERR_CONFIG_WEIGHTS"
  /** Not an error: the config is accepted, but probably not what was meant. */
  | "WARN_CONFIG_NOT_SERVED";

export interface ResourceRef {
  kind: string;
  namespace: string;
  name: string;
}

export interface ConfigIssue {
  code: ConfigErrorCode;
  /** The resource the issue is in, when it is known (a YAML syntax error may have none). */
  resource?: ResourceRef;
  /** Dotted field path inside the resource, e.g. `spec.http[0].route[1].weight`. */
  path: string;
  message: string;
  /** Where the resource came from: file name and document index, line and column when known. */
  source?: { file?: string; document?: number; line?: number; column?: number };
}

export function formatResourceRef(ref: ResourceRef): string {
  return `${ref.kind} ${ref.namespace}/${ref.name}`;
}

/** One line per issue, e.g. `VirtualService default/reviews: spec.http[0].timeout: invalid duration 'x'`. */
export function formatConfigIssue(issue: ConfigIssue): string {
  const where: string[] = [];
  if (issue.source?.file !== undefined) {
    let location = issue.source.file;
    if (issue.source.line !== undefined) location += `:${issue.source.line}:${issue.source.column ?? 1}`;
    else if (issue.source.document !== undefined) location += ` (document ${issue.source.document + 1})`;
    where.push(location);
  }
  if (issue.resource) where.push(formatResourceRef(issue.resource));
  if (issue.path) where.push(issue.path);
  return `${where.length ? where.join(": ") + ": " : ""}${issue.message}`;
}

/** Thrown when a configuration cannot be accepted; carries every issue found, not just the first. */
export class ConfigRejectedError extends Error {
  readonly code = "ERR_CONFIG_REJECTED";
  constructor(readonly issues: ConfigIssue[]) {
    super(`configuration rejected:\n${issues.map((issue) => "  " + formatConfigIssue(issue)).join("\n")}`);
    this.name = "ConfigRejectedError";
  }
}

/** Formats a path of keys and indexes the way users read it: `spec.http[0].route[1].weight`. */
export function formatFieldPath(path: readonly PropertyKey[]): string {
  let out = "";
  for (const key of path) {
    if (typeof key === "number") out += `[${key}]`;
    else out += out === "" ? String(key) : `.${String(key)}`;
  }
  return out;
}
