import { readdir, readFile, stat } from "node:fs/promises";
import path from "node:path";
import type { ConfigIssue } from "../../policies/errors.js";
import { CliError, EXIT } from "./errors.js";

/**
 * `-f FILE|DIR|-`, as kubectl reads it: a file, every `.yaml`/`.yml`/`.json` file of a directory
 * (sorted, not recursive), or standard input. Several sources are sent as one multi-document
 * body, so the server checks them as one change; the line numbers it reports are mapped back to
 * each file.
 */

export interface Source {
  /** As shown in messages: the path as typed (relative), or `<stdin>`. */
  name: string;
  text: string;
}

export interface Bundle {
  text: string;
  /** The name to send as `source` when there is exactly one source. */
  single: string | undefined;
  /** Maps an issue located in `text` back to its file and line. */
  locate(issue: ConfigIssue): ConfigIssue;
}

const EXTENSIONS = new Set([".yaml", ".yml", ".json"]);

export async function readSources(paths: readonly string[], stdin: () => Promise<string> = readStdin): Promise<Source[]> {
  if (paths.length === 0) throw new CliError("no input: give -f FILE, -f DIR or -f - (standard input)", EXIT.usage);
  const sources: Source[] = [];
  for (const given of paths) {
    if (given === "-") {
      sources.push({ name: "<stdin>", text: await stdin() });
      continue;
    }
    const info = await stat(given).catch((error: NodeJS.ErrnoException) => {
      throw new CliError(`cannot read ${given}: ${error.code === "ENOENT" ? "no such file or directory" : error.message}`, EXIT.usage);
    });
    if (info.isDirectory()) {
      const names = (await readdir(given)).filter((name) => EXTENSIONS.has(path.extname(name).toLowerCase())).sort();
      if (names.length === 0) throw new CliError(`directory ${given} holds no .yaml, .yml or .json file`, EXIT.usage);
      for (const name of names) sources.push({ name: path.join(given, name), text: await readFile(path.join(given, name), "utf8") });
    } else sources.push({ name: given, text: await readFile(given, "utf8") });
  }
  return sources;
}

export function bundleSources(sources: readonly Source[]): Bundle {
  if (sources.length === 1) {
    const only = sources[0]!;
    return { text: only.text, single: only.name, locate: (issue) => issue };
  }
  const parts: string[] = [];
  const starts: { name: string; firstLine: number; lines: number }[] = [];
  let line = 1;
  for (const source of sources) {
    const text = source.text.endsWith("\n") || source.text === "" ? source.text : `${source.text}\n`;
    const lines = countLines(text);
    starts.push({ name: source.name, firstLine: line, lines });
    parts.push(text, "---\n");
    line += lines + 1;
  }
  return {
    text: parts.join(""),
    single: undefined,
    locate(issue) {
      const at = issue.source?.line;
      const owner = at === undefined ? undefined : starts.find((start) => at >= start.firstLine && at < start.firstLine + Math.max(start.lines, 1) + 1);
      if (!owner || at === undefined) return issue;
      const { document: _document, ...rest } = issue.source!;
      return { ...issue, source: { ...rest, file: owner.name, line: at - owner.firstLine + 1 } };
    },
  };
}

function countLines(text: string): number {
  let lines = 0;
  for (let index = 0; index < text.length; index++) if (text.charCodeAt(index) === 10) lines++;
  return lines;
}

async function readStdin(): Promise<string> {
  if (process.stdin.isTTY) throw new CliError("-f - reads resources from standard input, but it is a terminal", EXIT.usage);
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString("utf8");
}
