/**
 * Masks every occurrence of a secret in a response body as it streams through, so an external
 * API that echoes the credential it was sent (an error page quoting the request, an echo
 * endpoint) never hands it to the caller. The mask has the secret's length, so Content-Length
 * stays right. A chunk's last `secret.length - 1` bytes are held back until the next chunk, so
 * an occurrence split across chunks is caught too.
 */
export function maskSecretInStream(body: ReadableStream<Uint8Array>, secret: string): ReadableStream<Uint8Array> {
  const needle = new TextEncoder().encode(secret);
  const mask = new Uint8Array(needle.length).fill(0x2a); // "*"
  let pending = new Uint8Array(0);
  return body.pipeThrough(
    new TransformStream<Uint8Array, Uint8Array>({
      transform(chunk, controller) {
        const data = concat(pending, chunk);
        maskAll(data, needle, mask);
        const keep = Math.min(needle.length - 1, data.length);
        if (data.length > keep) controller.enqueue(data.subarray(0, data.length - keep));
        pending = data.slice(data.length - keep);
      },
      flush(controller) {
        if (pending.length > 0) controller.enqueue(pending);
      },
    }),
  );
}

/** Overwrites every occurrence of `needle` in `data` with `mask` (same length), in place. */
export function maskAll(data: Uint8Array, needle: Uint8Array, mask: Uint8Array): void {
  if (needle.length === 0) return;
  const first = needle[0]!;
  for (let start = data.indexOf(first); start !== -1 && start + needle.length <= data.length; start = data.indexOf(first, start + 1)) {
    let matches = true;
    for (let offset = 1; offset < needle.length; offset++) {
      if (data[start + offset] !== needle[offset]) {
        matches = false;
        break;
      }
    }
    if (matches) {
      data.set(mask, start);
      start += needle.length - 1;
    }
  }
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  if (a.length === 0) return new Uint8Array(b); // a copy: the chunk is the stream's, and is written to
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}
