/**
 * Running `actors/cli/ctl.ts` as a subprocess, as a user would, for the CLI
 * tests.
 */

/** What one run of the CLI gave. */
export interface Run {
  code: number;
  stdout: string;
  stderr: string;
  /** stdout as JSON (throws, naming the output, when it is not). */
  json<T = Record<string, unknown>>(): T;
}

/** The repository root. */
export const ROOT = new URL("../../../", import.meta.url).pathname;
const CTL = `${ROOT}actors/cli/ctl.ts`;

/** Variables of the caller's environment that would change what the CLI does. */
const CLEARED = [
  "TASK_SCHEDULER_TOKEN",
  "TASK_SCHEDULER_LOGIN_FILE",
  "TASK_SCHEDULER_SUBJECT_PREFIX",
  "TASK_SCHEDULER_NATS_USER",
  "TASK_SCHEDULER_NATS_PASSWORD",
  "TASK_SCHEDULER_TLS_CERT",
  "TASK_SCHEDULER_TLS_KEY",
  "TASK_SCHEDULER_TLS_CA",
  "TASK_SCHEDULER_JWT_SECRET",
];

/**
 * `deno run actors/cli/ctl.ts ...args` against `broker`, with `env` on top of
 * a cleared environment and `stdin` piped in.
 */
export async function ctl(
  broker: string,
  args: string[],
  opts: { env?: Record<string, string>; stdin?: string } = {},
): Promise<Run> {
  const env: Record<string, string> = { NO_COLOR: "1", TASK_SCHEDULER_MESSAGE_BROKER: broker };
  for (const k of CLEARED) env[k] = "";
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-net",
      "--allow-env",
      "--allow-read",
      "--allow-write",
      CTL,
      ...args,
    ],
    cwd: ROOT,
    env: { ...env, ...opts.env },
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const writer = child.stdin.getWriter();
  await writer.write(new TextEncoder().encode(opts.stdin ?? "")).catch(() => {});
  await writer.close().catch(() => {});
  const out = await child.output();
  const dec = new TextDecoder();
  const stdout = dec.decode(out.stdout);
  const stderr = dec.decode(out.stderr);
  return {
    code: out.code,
    stdout,
    stderr,
    json<T>() {
      try {
        return JSON.parse(stdout) as T;
      } catch {
        throw new Error(`not JSON on stdout (exit ${out.code}):\n${stdout}\nstderr:\n${stderr}`);
      }
    },
  };
}

/** A readable account of a run, for assertion messages. */
export function show(r: Run): string {
  return `exit ${r.code}\nstdout:\n${r.stdout}\nstderr:\n${r.stderr}`;
}
