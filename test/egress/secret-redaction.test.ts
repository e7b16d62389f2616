import { describe, expect, it } from "vitest";
import { maskSecretInStream } from "../../egress/secret-redaction.js";

async function throughMask(chunks: string[], secret: string): Promise<string> {
  const encoder = new TextEncoder();
  const body = new ReadableStream<Uint8Array>({
    start(controller) {
      for (const chunk of chunks) controller.enqueue(encoder.encode(chunk));
      controller.close();
    },
  });
  return new Response(maskSecretInStream(body, secret)).text();
}

describe("maskSecretInStream", () => {
  const secret = "sk-live-abc123";
  const stars = "*".repeat(secret.length);

  it("masks every occurrence, keeping the length", async () => {
    const text = `{"echo":"Bearer ${secret}","again":"${secret}${secret}"}`;
    const masked = await throughMask([text], secret);
    expect(masked).toBe(`{"echo":"Bearer ${stars}","again":"${stars}${stars}"}`);
    expect(masked.length).toBe(text.length);
  });

  it("catches an occurrence split across chunks at every position", async () => {
    const text = `before ${secret} after`;
    for (let split = 1; split < text.length; split++) {
      expect(await throughMask([text.slice(0, split), text.slice(split)], secret), `split at ${split}`).toBe(`before ${stars} after`);
    }
    // One byte per chunk.
    expect(await throughMask([...text], secret)).toBe(`before ${stars} after`);
  });

  it("passes other bytes through unchanged, including a near miss and a short body", async () => {
    expect(await throughMask(["sk-live-abc12", "4 and sk-live-"], secret)).toBe("sk-live-abc124 and sk-live-");
    expect(await throughMask(["sk"], secret)).toBe("sk");
    expect(await throughMask([], secret)).toBe("");
  });
});
