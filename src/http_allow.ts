/**
 * The hosts network jobs may reach (`httpAllow`, TASK_SCHEDULER_HTTP_ALLOW),
 * and the check of a URL against them.
 *
 * A rule is a host name or address (`example.com`, `10.0.0.7`, `[::1]`),
 * optionally with a port (`example.com:8443`). A rule without a port allows
 * every port of its host; one with a port allows that port only, a URL
 * without a port having its scheme's (80 for http, 443 for https). Names
 * compare as the URL parser writes them (lower case, IPv4 in dotted form), so
 * `http://LOCALHOST/` matches `localhost`; there are no wildcards, and a name
 * is matched as written, not by the address it resolves to. An empty list
 * allows every host.
 *
 * @example
 * ```ts
 * checkUrl(new URL("http://127.0.0.1:8080/health"), ["127.0.0.1"], "http-check"); // passes
 * checkUrl(new URL("https://example.com/"), ["127.0.0.1"], "http-check");
 * // throws PERMISSION_DENIED:
 * //   http-check: host "example.com" is not in TASK_SCHEDULER_HTTP_ALLOW (127.0.0.1): refused
 * ```
 *
 * @module
 */

import { CONFIG_KEYS } from "./config/keys.ts";
import { show } from "./errors.ts";
import { Unrecoverable } from "./handler.ts";

/** The environment variable that sets the list, as messages name it. */
export const HTTP_ALLOW_VAR: string = CONFIG_KEYS.httpAllow.env!;

const DEFAULT_PORTS: Record<string, string> = { "http:": "80", "https:": "443" };

/** A rule split into its host, in the URL parser's form, and its port (none: any). */
function parseRule(rule: string): { host: string; port?: string } | undefined {
  const m = /^(\[[^\]]*\]|[^:]*)(?::(\d+))?$/.exec(rule.trim());
  if (!m) return undefined;
  try {
    const host = new URL(`http://${m[1]}/`).hostname;
    return { host, port: m[2] === undefined ? undefined : String(Number(m[2])) };
  } catch {
    return undefined; // not a host: it matches nothing
  }
}

/** Whether `url`'s host (and port, where a rule names one) is allowed. Pure. */
export function isHostAllowed(url: URL, allow: readonly string[]): boolean {
  if (allow.length === 0) return true;
  const port = url.port || DEFAULT_PORTS[url.protocol] || "";
  return allow.some((rule) => {
    const r = parseRule(rule);
    return r !== undefined && r.host === url.hostname && (r.port === undefined || r.port === port);
  });
}

/**
 * Throw {@link Unrecoverable} with code PERMISSION_DENIED naming the host
 * unless `url` is allowed by `allow`.
 *
 * @param what Starts the message: `"http-check"`, or
 *   `"http-check: redirect from http://a/ to http://b/"`.
 */
export function checkUrl(url: URL, allow: readonly string[], what: string): void {
  if (isHostAllowed(url, allow)) return;
  throw new Unrecoverable(
    `${what}: host ${show(url.host)} is not in ${HTTP_ALLOW_VAR} (${allow.join(", ")}): refused`,
    { code: "PERMISSION_DENIED" },
  );
}
