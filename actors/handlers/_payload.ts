/**
 * Payload checks the built-in handlers share. A handler's parser takes its
 * untrusted payload through {@link payloadObject}, then reads each field with
 * one of the readers here, or with a check of its own where the rule is its
 * alone. Every check throws {@link Unrecoverable} with a message that names
 * the field and shows the bad value.
 *
 * `compute` runs inside a Web Worker and imports this module by URL, so it
 * imports only the light public entry, `src/mod.ts`.
 *
 * @module
 */

import { show } from "../../src/mod.ts";
import { Unrecoverable } from "../../src/mod.ts";

/**
 * Check that `payload` is a plain object whose keys are all among `fields`,
 * and return it for the field readers.
 *
 * @example
 * ```ts
 * const p = payloadObject(payload, "backup", ["source", "target"]);
 * // payloadObject([], ...) throws "payload must be an object: got []"
 * // payloadObject({ x: 1 }, ...) throws
 * //   "payload.x is not a backup field (expected: source, target): got 1"
 * ```
 */
export function payloadObject(
  payload: unknown,
  type: string,
  fields: readonly string[],
  article: "a" | "an" = "a",
): Record<string, unknown> {
  if (typeof payload !== "object" || payload === null || Array.isArray(payload)) {
    throw new Unrecoverable(`payload must be an object: got ${show(payload)}`);
  }
  const p = payload as Record<string, unknown>;
  for (const key of Object.keys(p)) {
    if (!fields.includes(key)) {
      throw new Unrecoverable(
        `payload.${key} is not ${article} ${type} field (expected: ${fields.join(", ")}): got ${
          show(p[key])
        }`,
      );
    }
  }
  return p;
}

/**
 * `p[key]` as a path: a non-empty string without NUL. When the field is
 * absent (`undefined`) and a `fallback` is given, the fallback.
 */
export function pathField(p: Record<string, unknown>, key: string, fallback?: string): string {
  const value = p[key] === undefined ? fallback : p[key];
  if (typeof value !== "string" || value === "" || value.includes("\0")) {
    throw new Unrecoverable(`payload.${key} must be a non-empty path: got ${show(value)}`);
  }
  return value;
}

/**
 * `p[key]` as an integer from `min` to `max`. When the field is absent
 * (`undefined`) and a `fallback` is given, the fallback.
 */
export function intField(
  p: Record<string, unknown>,
  key: string,
  min: number,
  max: number,
  fallback?: number,
): number {
  const value = p[key] === undefined ? fallback : p[key];
  if (typeof value !== "number" || !Number.isInteger(value) || value < min || value > max) {
    throw new Unrecoverable(
      `payload.${key} must be an integer from ${min} to ${max}: got ${show(value)}`,
    );
  }
  return value;
}

/** Bounds for {@link numberField}. */
export interface NumberRange {
  min: number;
  /** None: no upper bound. */
  max?: number;
}

/**
 * `p[key]` as a finite number, within `range` when one is given. When the
 * field is absent (`undefined`) and a `fallback` is given, the fallback.
 */
export function numberField(
  p: Record<string, unknown>,
  key: string,
  range?: NumberRange,
  fallback?: number,
): number {
  const value = p[key] === undefined ? fallback : p[key];
  if (
    typeof value !== "number" || !Number.isFinite(value) ||
    (range !== undefined && (value < range.min || (range.max !== undefined && value > range.max)))
  ) {
    const what = range === undefined
      ? "a finite number"
      : range.max === undefined
      ? `a finite number, ${range.min} or more`
      : `a number from ${range.min} to ${range.max}`;
    throw new Unrecoverable(`payload.${key} must be ${what}: got ${show(value)}`);
  }
  return value;
}
