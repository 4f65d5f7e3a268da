/**
 * The NATS side of "secure by default": the embedded nats-server that
 * `deno task start` launches runs with authorization, and a node that
 * connects to some other NATS checks whether that one is open.
 *
 * The embedded server has two users:
 *
 * - `node`, with a password generated at each start and written to
 *   `<data dir>/nats/credentials.json` (mode 0600): this process and other
 *   node processes started from the same folder connect with it, and may do
 *   everything;
 * - `client`, which every connection without credentials becomes
 *   (`no_auth_user`): it may submit tasks, make the client requests, read
 *   stored results, and subscribe to results, progress, monitoring and its
 *   inbox. It cannot publish on `sched.>`, `tasks.outcome.>`, `tasks.result.>`
 *   or the streams' and buckets' APIs, so the tour's plain `nats pub` works
 *   and forging an assignment or a result does not.
 *
 * @module
 */

import {
  type Config,
  connectNats,
  type NatsServer,
  startNatsServer,
  type Subjects,
  type Transport,
} from "../src/internal_mod.ts";

/** User and password of the node user of an embedded server. */
export interface Credentials {
  user: string;
  password: string;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Where the node credentials of the embedded server live. */
export function credentialsFile(dataDir: string): string {
  return `${dataDir}/nats/credentials.json`;
}

/** Read the credentials an embedded server wrote, if any. */
export async function readCredentials(dataDir: string): Promise<Credentials | null> {
  try {
    const c = JSON.parse(await Deno.readTextFile(credentialsFile(dataDir))) as Credentials;
    return typeof c.user === "string" && typeof c.password === "string" ? c : null;
  } catch {
    return null;
  }
}

/** How a process of this node reaches NATS. */
export interface NatsAccess {
  servers: string[];
  tls?: { certFile?: string; keyFile?: string; caFile?: string };
  user?: string;
  pass?: string;
}

/**
 * The servers, TLS files and credentials of a node's processes (and of the
 * CLIs that act as the node): the configured NATS user, else the credentials
 * an embedded server started from this data folder wrote, else none.
 */
export async function natsAccess(config: Config): Promise<NatsAccess> {
  // A CA alone is TLS without a client certificate (a private CA); a cert and key add mTLS.
  const tls = config.tlsCert || config.tlsCa
    ? { certFile: config.tlsCert, keyFile: config.tlsKey, caFile: config.tlsCa }
    : undefined;
  const servers = config.broker.split(",");
  if (config.natsUser) return { servers, tls, user: config.natsUser, pass: config.natsPassword };
  const local = await readCredentials(config.dataDir);
  return local ? { servers, tls, user: local.user, pass: local.password } : { servers, tls };
}

/** What an anonymous connection to the embedded server may do (the `client` user). */
export function clientPermissions(subj: Subjects): { publish: string[]; subscribe: string[] } {
  return {
    publish: [
      subj.submitAll,
      subj.cancel,
      subj.status,
      // The operator's requests: the token decides who may (viewer lists, admin retries, purges).
      subj.list,
      subj.retry,
      subj.purge,
      subj.schedulesAll,
      subj.authLogin,
      subj.monitorSnapshot,
      `${subj.monitorSnapshot}.worker.*`,
      // Reading a stored result later: stream info and get-last-by-subject on RESULTS.
      "$JS.API.INFO",
      `$JS.API.STREAM.INFO.${subj.resultsStream}`,
      `$JS.API.STREAM.MSG.GET.${subj.resultsStream}`,
      `$JS.API.DIRECT.GET.${subj.resultsStream}`,
      `$JS.API.DIRECT.GET.${subj.resultsStream}.>`,
    ],
    subscribe: [subj.resultAll, `${subj.progress("*")}`, subj.monitorAll, "_INBOX.>"],
  };
}

/** The authorization block of the embedded server's config. */
export function authorizationConfig(
  subj: Subjects,
  node: Credentials,
  clientPassword: string,
): string {
  const list = (xs: string[]) => `[${xs.map((x) => JSON.stringify(x)).join(", ")}]`;
  const client = clientPermissions(subj);
  return [
    "authorization {",
    "  users: [",
    `    { user: ${JSON.stringify(node.user)}, password: ${JSON.stringify(node.password)} }`,
    `    { user: "client", password: ${JSON.stringify(clientPassword)}, permissions: {`,
    `        publish: { allow: ${list(client.publish)} }`,
    `        subscribe: { allow: ${list(client.subscribe)} }`,
    "    } }",
    "  ]",
    "}",
    // Connections without credentials are the client user.
    'no_auth_user: "client"',
  ].join("\n");
}

function secret(): string {
  return btoa(String.fromCharCode(...crypto.getRandomValues(new Uint8Array(24))))
    .replaceAll("+", "-").replaceAll("/", "_").replaceAll("=", "");
}

/**
 * Start the embedded nats-server with authorization on `port` (or any free
 * port when that one is taken), writing fresh node credentials first.
 */
export async function startEmbedded(
  dataDir: string,
  port: number,
  subj: Subjects,
): Promise<{ server: NatsServer; credentials: Credentials }> {
  const dir = `${dataDir}/nats`;
  await Deno.mkdir(dir, { recursive: true, mode: 0o700 });
  await Deno.chmod(dir, 0o700);
  const credentials: Credentials = { user: "node", password: secret() };
  await Deno.writeTextFile(credentialsFile(dataDir), JSON.stringify(credentials) + "\n", {
    mode: 0o600,
  });
  const extraConfig = authorizationConfig(subj, credentials, secret());
  const server = await startNatsServer({ dir, port, extraConfig }).catch(() =>
    startNatsServer({ dir, port: -1, extraConfig })
  );
  // The config holds the passwords: readable by this user only.
  await Deno.chmod(`${dir}/server.conf`, 0o600);
  return { server, credentials };
}

/**
 * Can a connection without credentials publish and subscribe on the internal
 * subjects of this NATS? (Then anyone who reaches it could talk to the nodes
 * directly, if they also had the cluster secret; and could flood them or
 * forge results for clients that do not check signatures.) Resolves true when
 * a probe message on `sched.probe.<random>` made the round trip.
 */
export async function anonymousCanUseInternal(
  servers: string[],
  subj: Subjects,
  tls?: { caFile?: string },
): Promise<boolean> {
  let probe: Transport | null = null;
  try {
    probe = await connectNats({ servers, name: "security-probe", timeoutMs: 2_000, tls });
  } catch {
    return false; // anonymous connections are refused altogether
  }
  try {
    const subject = subj.node(`probe-${crypto.randomUUID().slice(0, 8)}`);
    const got = Promise.withResolvers<boolean>();
    const sub = probe.subscribe(subject, (m) => got.resolve(decoder.decode(m.data) === "probe"));
    probe.publish(subject, encoder.encode("probe"));
    await probe.flush().catch(() => {});
    const timer = setTimeout(() => got.resolve(false), 1_000);
    const reached = await got.promise;
    clearTimeout(timer);
    sub.unsubscribe();
    return reached;
  } catch {
    return false;
  } finally {
    await probe.close().catch(() => {});
  }
}
