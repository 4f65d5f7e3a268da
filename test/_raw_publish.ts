/**
 * Publishing over a raw connection, as a client that checks nothing could:
 * a header block as written, which nats.js would refuse to send.
 */

import assert from "node:assert/strict";

const enc = new TextEncoder();

/** Publish over a raw connection, as a client that checks nothing could: `header` as written. */
export async function rawPublish(
  port: number,
  subject: string,
  header: string,
  body: string,
): Promise<void> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    const h = enc.encode(header);
    const b = enc.encode(body);
    const frame = new Uint8Array([
      ...enc.encode(
        `CONNECT {"verbose":false,"headers":true,"no_responders":true}\r\n` +
          `HPUB ${subject} ${h.length} ${h.length + b.length}\r\n`,
      ),
      ...h,
      ...b,
      ...enc.encode("\r\nPING\r\n"),
    ]);
    await conn.write(frame);
    // INFO first, then PONG once the server has read the message (or -ERR if it refused it).
    const dec = new TextDecoder();
    let seen = "";
    const buf = new Uint8Array(4096);
    while (!/PONG|-ERR/.test(seen)) {
      const n = await conn.read(buf);
      if (n === null) break;
      seen += dec.decode(buf.subarray(0, n));
    }
    assert.match(seen, /PONG/, `the server answered: ${seen}`);
  } finally {
    conn.close();
  }
}
