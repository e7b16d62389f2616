import { parseAllDocuments } from "yaml";
import type { ConfigIssue } from "../errors.js";
import { formatResourceRef } from "../errors.js";
import { parseResource, resourceRefOf, type MeshResource } from "../resources/resource.js";

/**
 * Reads resources from text as users write them: multi-document YAML, a JSON resource, a JSON
 * array, or a list (`{"items": [...]}`, `kind: List`). JSON is read by the YAML parser too
 * (JSON is YAML 1.2), so both report syntax errors with a line and column.
 */

export interface LoadedConfig {
  resources: MeshResource[];
  issues: ConfigIssue[];
  /** Adds where a resource was read (file, line) to issues found later, e.g. by the compiler. */
  locate(issues: readonly ConfigIssue[]): ConfigIssue[];
}

export function parseConfigText(text: string, file?: string): LoadedConfig {
  const resources: MeshResource[] = [];
  const issues: ConfigIssue[] = [];
  const origins = new Map<string, NonNullable<ConfigIssue["source"]>>();
  const source = (document: number, line?: number, column?: number) => ({
    ...(file !== undefined ? { file } : {}),
    document,
    ...(line !== undefined ? { line, column } : {}),
  });

  const documents = parseAllDocuments(text, { prettyErrors: true, uniqueKeys: true });
  const list = Array.isArray(documents) ? documents : [documents];
  list.forEach((document, documentIndex) => {
    if (document.errors.length > 0) {
      for (const error of document.errors) {
        const position = error.linePos?.[0];
        issues.push({
          code: "ERR_CONFIG_PARSE",
          path: "",
          message: `invalid YAML/JSON: ${error.message.split("\n")[0]}`,
          source: source(documentIndex, position?.line, position?.col),
        });
      }
      return;
    }
    const value: unknown = document.toJS();
    const line = document.contents?.range ? lineOf(text, document.contents.range[0]) : undefined;
    for (const item of flattenItems(value)) {
      const parsed = parseResource(item);
      if (parsed.ok) {
        resources.push(parsed.resource);
        origins.set(formatResourceRef(resourceRefOf(parsed.resource)), source(documentIndex, line, line ? 1 : undefined));
      }
      else for (const issue of parsed.issues) issues.push({ ...issue, source: source(documentIndex, line, line ? 1 : undefined) });
    }
  });

  issues.push(...findDuplicates(resources));
  const locate = (found: readonly ConfigIssue[]) =>
    found.map((issue) => {
      const origin = issue.source === undefined && issue.resource ? origins.get(formatResourceRef(issue.resource)) : undefined;
      return origin ? { ...issue, source: origin } : issue;
    });
  return { resources, issues, locate };
}

function flattenItems(value: unknown): unknown[] {
  if (value === null || value === undefined) return [];
  if (Array.isArray(value)) return value.flatMap(flattenItems);
  if (typeof value === "object" && "items" in value && Array.isArray((value as { items: unknown }).items)) {
    const { kind } = value as { kind?: unknown };
    if (kind === undefined || kind === "List" || (typeof kind === "string" && kind.endsWith("List"))) {
      return (value as { items: unknown[] }).items.flatMap(flattenItems);
    }
  }
  return [value];
}

function findDuplicates(resources: readonly MeshResource[]): ConfigIssue[] {
  const seen = new Set<string>();
  const issues: ConfigIssue[] = [];
  for (const resource of resources) {
    const ref = resourceRefOf(resource);
    const key = formatResourceRef(ref);
    if (seen.has(key)) {
      issues.push({ code: "ERR_CONFIG_DUPLICATE", resource: ref, path: "metadata.name", message: `${key} is defined more than once` });
    }
    seen.add(key);
  }
  return issues;
}

function lineOf(text: string, offset: number): number {
  let line = 1;
  for (let index = 0; index < offset && index < text.length; index++) if (text.charCodeAt(index) === 10) line++;
  return line;
}
