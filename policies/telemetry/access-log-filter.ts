/**
 * The access-log filter of Istio's Telemetry resource (`accessLogging[].filter.expression`): a
 * CEL expression over Envoy's request attributes, e.g. `response.code >= 400`. This is the part
 * of CEL such filters use, compiled once into a predicate:
 *
 *   literals   123  "text" 'text'  true  false  [1, 2]
 *   operators  ||  &&  !  ==  !=  <  <=  >  >=  in  ( )
 *   methods    s.startsWith(x)  s.endsWith(x)  s.contains(x)  s.matches(regex)
 *
 * over the attributes in ACCESS_LOG_ATTRIBUTES. An unknown attribute or a syntax error is an
 * `AccessLogFilterError` when the filter is compiled (the gateway refuses to start); a type
 * mismatch while evaluating (`request.path > 3`) makes the expression false, so no line is written.
 */

export const ACCESS_LOG_ATTRIBUTES = {
  "request.method": "string",
  "request.path": "string",
  "request.url_path": "string",
  "request.host": "string",
  "request.protocol": "string",
  "request.id": "string",
  "request.size": "int",
  "response.code": "int",
  "response.code_details": "string",
  "response.flags": "string",
  "response.size": "int",
  "xds.route_name": "string",
  "xds.cluster_name": "string",
  "upstream.address": "string",
  "connection.mtls": "bool",
  "connection.uri_san_peer_certificate": "string",
} as const;

export type AccessLogAttribute = keyof typeof ACCESS_LOG_ATTRIBUTES;
export type AccessLogAttributes = Partial<Record<AccessLogAttribute, string | number | boolean>>;
export type AccessLogFilter = (attributes: AccessLogAttributes) => boolean;

export class AccessLogFilterError extends Error {
  readonly code = "ERR_ACCESS_LOG_FILTER";
  constructor(readonly expression: string, readonly position: number, reason: string) {
    super(`access log filter '${expression}': ${reason} at position ${position}`);
    this.name = "AccessLogFilterError";
  }
}

type Value = string | number | boolean | undefined | Value[];
type Node = (attributes: AccessLogAttributes) => Value;

class TypeMismatch extends Error {}

export function compileAccessLogFilter(expression: string): AccessLogFilter {
  const tokens = tokenize(expression);
  let index = 0;
  const peek = () => tokens[index]!;
  const fail = (reason: string): never => {
    throw new AccessLogFilterError(expression, peek().at, reason);
  };
  const take = (kind: string, text?: string) => {
    const token = peek();
    if (token.kind !== kind || (text !== undefined && token.text !== text)) fail(`expected ${text ?? kind}, found '${token.text || "end"}'`);
    index++;
    return token;
  };
  const accept = (kind: string, text: string) => {
    if (peek().kind === kind && peek().text === text) {
      index++;
      return true;
    }
    return false;
  };

  // CEL's logical operators absorb errors (a missing attribute, a type mismatch) when the other
  // side decides: `error || true` is true and `error && false` is false, in either order.
  function logical(operand: () => Node, op: "||" | "&&"): Node {
    const decisive = op === "||";
    let left = operand();
    while (accept("op", op)) {
      const [a, b] = [left, operand()];
      left = (x) => {
        const first = attempt(a, x);
        if (first === decisive) return decisive;
        const second = attempt(b, x);
        if (second === decisive) return decisive;
        if (first === undefined || second === undefined) throw new TypeMismatch();
        return !decisive;
      };
    }
    return left;
  }
  function or(): Node {
    return logical(and, "||");
  }
  function and(): Node {
    return logical(unary, "&&");
  }
  function unary(): Node {
    if (accept("op", "!")) {
      const operand = unary();
      return (x) => !bool(operand(x));
    }
    return comparison();
  }
  function comparison(): Node {
    const left = member();
    const token = peek();
    if (token.kind === "op" && ["==", "!=", "<", "<=", ">", ">="].includes(token.text)) {
      index++;
      const right = member();
      return (x) => compare(token.text, left(x), right(x));
    }
    if (token.kind === "ident" && token.text === "in") {
      index++;
      const right = member();
      return (x) => {
        const list = right(x);
        if (!Array.isArray(list)) throw new TypeMismatch();
        const value = left(x);
        return list.some((item) => item === value);
      };
    }
    return left;
  }
  function member(): Node {
    let node = primary();
    while (accept("op", ".")) {
      const name = take("ident").text;
      if (!["startsWith", "endsWith", "contains", "matches"].includes(name)) fail(`unsupported method '${name}'`);
      take("op", "(");
      // A literal pattern is checked now, so a config with a broken regex is refused, not every request.
      if (name === "matches" && peek().kind === "string" && tokens[index + 1]?.text === ")") {
        try {
          new RegExp(peek().text);
        } catch (error) {
          fail(`invalid regex '${peek().text}' in matches(): ${(error as Error).message}`);
        }
      }
      const argument = or();
      take("op", ")");
      const target = node;
      const regexCache = new Map<string, RegExp>();
      node = (x) => {
        const [text, arg] = [target(x), argument(x)];
        if (typeof text !== "string" || typeof arg !== "string") throw new TypeMismatch();
        if (name === "startsWith") return text.startsWith(arg);
        if (name === "endsWith") return text.endsWith(arg);
        if (name === "contains") return text.includes(arg);
        let regex = regexCache.get(arg);
        if (!regex) {
          try {
            regex = new RegExp(arg);
          } catch {
            throw new TypeMismatch(); // a pattern computed from the request that is no regex: no match, never a failure
          }
          if (regexCache.size < 64) regexCache.set(arg, regex);
        }
        return regex.test(text);
      };
    }
    return node;
  }
  function primary(): Node {
    const token = peek();
    if (token.kind === "int" || token.kind === "string") {
      index++;
      const value = token.kind === "int" ? Number(token.text) : token.text;
      return () => value;
    }
    if (token.kind === "op" && token.text === "(") {
      index++;
      const inner = or();
      take("op", ")");
      return inner;
    }
    if (token.kind === "op" && token.text === "[") {
      index++;
      const items: Node[] = [];
      if (!accept("op", "]")) {
        do items.push(or());
        while (accept("op", ","));
        take("op", "]");
      }
      return (x) => items.map((item) => item(x));
    }
    if (token.kind === "ident") {
      index++;
      if (token.text === "true" || token.text === "false") {
        const value = token.text === "true";
        return () => value;
      }
      let name = token.text;
      // Attribute paths are dotted; a method call is a dot followed by a name and '('.
      while (peek().kind === "op" && peek().text === "." && tokens[index + 1]?.kind === "ident" && tokens[index + 2]?.text !== "(") {
        index++;
        name += `.${take("ident").text}`;
      }
      if (!(name in ACCESS_LOG_ATTRIBUTES)) fail(`unknown attribute '${name}' (known: ${Object.keys(ACCESS_LOG_ATTRIBUTES).join(", ")})`);
      const attribute = name as AccessLogAttribute;
      return (x) => x[attribute];
    }
    return fail(`unexpected '${token.text || "end"}'`);
  }

  const root = or();
  if (peek().kind !== "end") fail(`unexpected '${peek().text}'`);
  return (attributes) => {
    try {
      return bool(root(attributes));
    } catch (error) {
      if (error instanceof TypeMismatch) return false;
      throw error;
    }
  };
}

function bool(value: Value): boolean {
  if (typeof value !== "boolean") throw new TypeMismatch();
  return value;
}

function compare(op: string, left: Value, right: Value): boolean {
  if (left === undefined || right === undefined || typeof left !== typeof right || Array.isArray(left)) throw new TypeMismatch();
  switch (op) {
    case "==":
      return left === right;
    case "!=":
      return left !== right;
    case "<":
      return left < right;
    case "<=":
      return left <= right;
    case ">":
      return left > right;
    default:
      return left >= right;
  }
}

interface Token {
  kind: "ident" | "int" | "string" | "op" | "end";
  text: string;
  at: number;
}

function tokenize(expression: string): Token[] {
  const tokens: Token[] = [];
  let at = 0;
  while (at < expression.length) {
    const rest = expression.slice(at);
    const space = /^\s+/.exec(rest);
    if (space) {
      at += space[0].length;
      continue;
    }
    const ident = /^[A-Za-z_][A-Za-z0-9_]*/.exec(rest);
    const int = /^\d+/.exec(rest);
    const op = /^(\|\||&&|==|!=|<=|>=|[<>!().,[\]])/.exec(rest);
    const quote = rest[0];
    if (ident) tokens.push({ kind: "ident", text: ident[0], at });
    else if (int) tokens.push({ kind: "int", text: int[0], at });
    else if (op) tokens.push({ kind: "op", text: op[0], at });
    else if (quote === '"' || quote === "'") {
      let text = "";
      let end = 1;
      for (; end < rest.length && rest[end] !== quote; end++) {
        if (rest[end] === "\\" && end + 1 < rest.length) end++;
        text += rest[end];
      }
      if (end >= rest.length) throw new AccessLogFilterError(expression, at, "unterminated string");
      tokens.push({ kind: "string", text, at });
      at += end + 1;
      continue;
    } else throw new AccessLogFilterError(expression, at, `unexpected character '${rest[0]}'`);
    at += tokens.at(-1)!.text.length;
  }
  tokens.push({ kind: "end", text: "", at });
  return tokens;
}

/** A node's boolean value, or undefined where CEL has an error (a missing attribute, a type mismatch). */
function attempt(node: (attributes: AccessLogAttributes) => Value, attributes: AccessLogAttributes): boolean | undefined {
  try {
    return bool(node(attributes));
  } catch (error) {
    if (error instanceof TypeMismatch) return undefined;
    throw error;
  }
}
