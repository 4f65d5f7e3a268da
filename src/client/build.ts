/**
 * Build the client for Node.js: `deno task build:client [outDir]` (default
 * `dist/client`) writes
 *
 * - `mod.js`: one ES module, the client and the NATS client library
 *   (`@nats-io/*`, Apache-2.0) bundled in, so a Node.js user installs nothing
 *   else; it runs on Node.js 18 or later (it uses `node:net` and friends);
 * - `mod.d.ts`: its type declarations in one file;
 * - `package.json`: `@task-scheduler/client`, ESM, pointing at both.
 *
 * `deno bundle` does the work (offline once its esbuild is cached). The
 * declarations of the client's public modules (`mod.ts`, `client.ts`,
 * `errors.ts`, `types.ts`) are joined into one file; the build fails if one of
 * them refers to anything outside those four, or if they declare a name that
 * `mod.ts` does not export (the joined file would then promise what `mod.js`
 * lacks).
 *
 * @module
 */

const HERE = new URL(".", import.meta.url);
const ROOT = new URL("../../", import.meta.url);
/** The modules whose declarations make the public surface, in dependency order. */
const PUBLIC = ["errors.ts", "types.ts", "client.ts"] as const;

/** What {@link buildClient} wrote. */
export interface BuildOutput {
  /** Absolute path of the output folder. */
  dir: string;
  /** The files written, relative to `dir`. */
  files: string[];
}

async function run(args: string[]): Promise<void> {
  const out = await new Deno.Command(Deno.execPath(), {
    args,
    cwd: ROOT.pathname,
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).output();
  if (!out.success) {
    const dec = new TextDecoder();
    throw new Error(
      `deno ${args.join(" ")} failed:\n${dec.decode(out.stdout)}${dec.decode(out.stderr)}`,
    );
  }
}

/** The names a declaration file declares at its top level with `export`. */
function declaredNames(dts: string): string[] {
  const names: string[] = [];
  const re =
    /^export (?:declare )?(?:abstract )?(?:function|class|const|let|interface|type|enum) ([A-Za-z_$][\w$]*)/gm;
  for (const m of dts.matchAll(re)) names.push(m[1]);
  return names;
}

/** The names `mod.ts` exports (from its `export { … } from` and `export type { … } from` lists). */
function exportedNames(mod: string): Set<string> {
  const names = new Set<string>();
  for (const m of mod.matchAll(/export (?:type )?\{([^}]*)\}/g)) {
    for (const part of m[1].split(",")) {
      const name = part.trim().split(/\s+as\s+/).pop()?.trim();
      if (name) names.add(name);
    }
  }
  return names;
}

/** Join the public declarations into one file, dropping the imports between them. */
export function joinDeclarations(files: { name: string; text: string }[], mod: string): string {
  const exported = exportedNames(mod);
  const parts: string[] = [];
  for (const { name, text } of files) {
    const body = text.replace(
      /^import\s+(?:type\s+)?\{[^}]*\}\s+from\s+"([^"]+)";\s*$/gm,
      (_line, spec: string) => {
        const local = spec.replace(/^\.\//, "");
        if (!(PUBLIC as readonly string[]).includes(local)) {
          throw new Error(`${name}: its declarations import ${spec}, outside the public modules`);
        }
        return "";
      },
    );
    const stray = body.match(/^\s*(import|export \* from|export \{[^}]*\} from)\b.*$/m);
    if (stray) throw new Error(`${name}: cannot join a declaration file with: ${stray[0].trim()}`);
    for (const n of declaredNames(body)) {
      if (!exported.has(n)) {
        throw new Error(
          `${name} declares ${n}, which mod.ts does not export: export it or move it`,
        );
      }
    }
    parts.push(`// ---- ${name}\n${body.trim()}\n`);
  }
  return `${parts.join("\n")}`;
}

/**
 * Build into `outDir` (relative to the repository, or absolute).
 *
 * @example
 * ```ts
 * import { buildClient } from "./build.ts";
 * const { dir, files } = await buildClient("dist/client");
 * console.log(dir, files); // …/dist/client [ "mod.js", "mod.d.ts", "package.json" ]
 * ```
 */
export async function buildClient(outDir = "dist/client"): Promise<BuildOutput> {
  const dir = new URL(outDir.endsWith("/") ? outDir : `${outDir}/`, ROOT).pathname;
  await Deno.mkdir(dir, { recursive: true });
  const entry = new URL("mod.ts", HERE).pathname;
  await run(["bundle", "--quiet", "--platform", "deno", "--output", `${dir}mod.js`, entry]);

  const tmp = await Deno.makeTempDir({ prefix: "client-dts-" });
  try {
    await run([
      "bundle",
      "--quiet",
      "--platform",
      "deno",
      "--declaration",
      "--outdir",
      tmp,
      ...PUBLIC.map((f) => new URL(f, HERE).pathname),
    ]);
    const mod = await Deno.readTextFile(new URL("mod.ts", HERE));
    const files = await Promise.all(PUBLIC.map(async (f) => ({
      name: f,
      text: await Deno.readTextFile(`${tmp}/${f.replace(/\.ts$/, ".d.ts")}`),
    })));
    const header =
      "// The declarations of @task-scheduler/client (built by src/client/build.ts).\n";
    await Deno.writeTextFile(`${dir}mod.d.ts`, header + joinDeclarations(files, mod));
  } finally {
    await Deno.remove(tmp, { recursive: true }).catch(() => {});
  }
  // Deno reads the declarations of a JavaScript module from this comment; Node.js from package.json.
  const js = await Deno.readTextFile(`${dir}mod.js`);
  if (!js.startsWith("// @ts-self-types")) {
    await Deno.writeTextFile(`${dir}mod.js`, `// @ts-self-types="./mod.d.ts"\n${js}`);
  }

  const { version } = JSON.parse(await Deno.readTextFile(new URL("deno.json", ROOT))) as {
    version?: string;
  };
  const pkg = {
    name: "@task-scheduler/client",
    version: version ?? "0.0.0",
    description: "Typed client of task-scheduler over NATS JetStream (NATS client bundled in)",
    type: "module",
    main: "./mod.js",
    types: "./mod.d.ts",
    exports: { ".": { types: "./mod.d.ts", default: "./mod.js" } },
    engines: { node: ">=18" },
    sideEffects: false,
  };
  await Deno.writeTextFile(`${dir}package.json`, `${JSON.stringify(pkg, null, 2)}\n`);
  return { dir: dir.replace(/\/$/, ""), files: ["mod.js", "mod.d.ts", "package.json"] };
}

if (import.meta.main) {
  const out = await buildClient(Deno.args[0] ?? "dist/client");
  console.log(`built ${out.files.join(", ")} in ${out.dir}`);
}
