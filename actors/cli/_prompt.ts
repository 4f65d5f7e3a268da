/**
 * Reading from the person at the terminal, for the CLIs (`deno task user`,
 * `deno task ctl login`): the first line of stdin, or a line typed with echo
 * off.
 *
 * @module
 */

const encoder = new TextEncoder();

/**
 * The first line of stdin (without its line end). It reads one byte at a time,
 * so that what follows the line stays in stdin for the next reader (a second
 * command of the same shell script, say).
 */
export async function readLine(): Promise<string> {
  const bytes: number[] = [];
  const one = new Uint8Array(1);
  for (;;) {
    const n = await Deno.stdin.read(one);
    if (n === 0) continue;
    if (n === null || one[0] === 10) break;
    bytes.push(one[0]);
  }
  return new TextDecoder().decode(new Uint8Array(bytes)).replace(/\r$/, "");
}

/** All of stdin as text. */
export async function readAll(): Promise<string> {
  return await new Response(Deno.stdin.readable).text();
}

/**
 * Read a line from the terminal with echo off, after writing `prompt` to
 * stderr: Enter ends it, Backspace erases, Ctrl-C aborts (throws "cancelled").
 */
export async function readHidden(prompt: string): Promise<string> {
  await Deno.stderr.write(encoder.encode(prompt));
  const bytes: number[] = [];
  const one = new Uint8Array(1);
  Deno.stdin.setRaw(true);
  try {
    for (;;) {
      const n = await Deno.stdin.read(one);
      if (n === null) break;
      const b = one[0];
      if (b === 13 || b === 10) break;
      if (b === 3) throw new Error("cancelled");
      if (b === 4) {
        if (bytes.length === 0) break;
        continue;
      }
      if (b === 127 || b === 8) {
        // Erase one character: its continuation bytes (10xxxxxx), then its first byte.
        while (bytes.length && (bytes[bytes.length - 1] & 0xc0) === 0x80) bytes.pop();
        bytes.pop();
        continue;
      }
      bytes.push(b);
    }
  } finally {
    Deno.stdin.setRaw(false);
    await Deno.stderr.write(encoder.encode("\n"));
  }
  return new TextDecoder().decode(new Uint8Array(bytes));
}
