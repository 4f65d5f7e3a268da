/**
 * `new Date(ms).toISOString()` without building a Date and formatting all of
 * it each time: the text up to the second is kept for the last second seen,
 * and only the milliseconds are written. A result carries two or three such
 * times, and in a burst most fall in the same second; formatting took about
 * 0.4 µs each, this about 0.01.
 *
 * @module
 */

/** Years 0000 to 9999: where toISOString's text has a fixed shape. */
const FIXED_SHAPE_BEFORE = 253_402_300_800_000;

let second = Number.NaN;
let prefix = "";

/** The same text as `new Date(ms).toISOString()`. */
export function isoTime(ms: number): string {
  if (!Number.isInteger(ms) || ms < 0 || ms >= FIXED_SHAPE_BEFORE) {
    return new Date(ms).toISOString();
  }
  const s = Math.floor(ms / 1000);
  if (s !== second) {
    second = s;
    prefix = new Date(s * 1000).toISOString().slice(0, 20); // "YYYY-MM-DDTHH:MM:SS."
  }
  const r = ms - s * 1000;
  return `${prefix}${r < 10 ? "00" : r < 100 ? "0" : ""}${r}Z`;
}
