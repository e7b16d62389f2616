import { stringify } from "yaml";
import { formatResourceRef, type ResourceRef } from "../../policies/errors.js";

/** Printing helpers: aligned tables, resource references, JSON and YAML. */

export type OutputFormat = "text" | "json" | "yaml";

export function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((title, column) => Math.max(title.length, ...rows.map((row) => (row[column] ?? "").length)));
  const line = (cells: readonly string[]) =>
    cells
      .map((cell, column) => (column === cells.length - 1 ? cell : cell.padEnd(widths[column]!)))
      .join("  ")
      .trimEnd();
  return [line(header), ...rows.map(line)].join("\n");
}

export function refs(list: readonly ResourceRef[]): string {
  return list.map(formatResourceRef).join(", ");
}

export function asJson(value: unknown): string {
  return JSON.stringify(value, null, 2);
}

export function asYaml(value: unknown): string {
  return stringify(value, { lineWidth: 0 }).trimEnd();
}

/** Resources as a multi-document YAML stream that `meshctl apply -f` takes back unchanged. */
export function resourcesAsYaml(items: readonly unknown[]): string {
  return items.map((item) => stringify(item, { lineWidth: 0 }).trimEnd()).join("\n---\n");
}

export function value(input: unknown): string {
  return input === undefined ? "(absent)" : JSON.stringify(input);
}

export function percent(probability: number): string {
  const value = probability * 100;
  return `${Number.isInteger(value) ? value.toFixed(0) : value.toFixed(1)}%`;
}

/** `3s ago`, `5m ago`, or the date for anything older than a day. */
export function age(iso: string, now = Date.now()): string {
  const seconds = Math.max(0, Math.round((now - Date.parse(iso)) / 1000));
  if (seconds < 60) return `${seconds}s ago`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)}m ago`;
  if (seconds < 86_400) return `${Math.floor(seconds / 3600)}h ago`;
  return iso.slice(0, 10);
}
