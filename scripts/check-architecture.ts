/**
 * The import rules and the guarded store path, checked on the TypeScript program of `src/`:
 *
 * 1. `src/core` never imports `src/stores`: the core owns the store contract (`src/core/store/`)
 *    and the adapters implement it, never the other way round.
 * 2. No module under `src/` imports `src/index.ts`: it is the package's list of exports, and an
 *    internal import of it is how import cycles start.
 * 3. Core code writes to a store only through the guarded run store
 *    (`src/core/store/guarded-store.ts`): a call of a raw store's write method (`acquire`,
 *    `renew`, `complete`, `release`, `recordRun`, a batch scope's `commit`, a backfill's
 *    `open` and `finish`) anywhere else in
 *    `src/core` would skip the read-back of a lost reply.
 *
 * `npm run lint` runs it; `checkArchitecture` is exported for its test, which feeds it files
 * that break each rule.
 */
import { dirname, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import ts from "typescript";

/** One broken rule, with where. */
export interface Violation {
  readonly file: string;
  readonly line: number;
  readonly rule: "core-imports-stores" | "imports-index" | "raw-store-write";
  readonly message: string;
}

/** The files allowed to call a raw store's writes: the wrapper itself. */
const GUARDED = new Set(["src/core/store/guarded-store.ts"]);
/** Where the raw write methods are declared: the contract's interfaces and the adapters. */
const RAW_DECLARATIONS = /^src\/(core\/store\/(run|backfill)-store\.ts|stores\/)/;
const WRITES = new Set([
  "acquire",
  "renew",
  "complete",
  "release",
  "recordRun",
  "commit",
  "open",
  "finish",
]);

/**
 * Checks the program made of `src/**` under `root`, plus `extra` files (path relative to
 * `root` -> text) laid over the disk, as the test does to plant a violation.
 */
export function checkArchitecture(root: string, extra: Record<string, string> = {}): Violation[] {
  const configPath = resolve(root, "tsconfig.json");
  const config = ts.getParsedCommandLineOfConfigFile(
    configPath,
    {},
    {
      ...ts.sys,
      onUnRecoverableConfigFileDiagnostic: (d) => {
        throw new Error(ts.flattenDiagnosticMessageText(d.messageText, "\n"));
      },
    },
  );
  if (!config) throw new Error(`cannot read ${configPath}`);
  const overlay = new Map(Object.entries(extra).map(([path, text]) => [resolve(root, path), text]));
  const rootNames = [
    ...config.fileNames.filter((f) => rel(root, f).startsWith("src/")),
    ...overlay.keys(),
  ];
  const host = ts.createCompilerHost(config.options);
  const readFile = host.readFile.bind(host);
  const fileExists = host.fileExists.bind(host);
  host.readFile = (file) => overlay.get(resolve(file)) ?? readFile(file);
  host.fileExists = (file) => overlay.has(resolve(file)) || fileExists(file);
  const program = ts.createProgram({ rootNames, options: config.options, host });
  const checker = program.getTypeChecker();
  const violations: Violation[] = [];

  for (const source of program.getSourceFiles()) {
    const file = rel(root, source.fileName);
    if (!file.startsWith("src/")) continue;
    const report = (node: ts.Node, rule: Violation["rule"], message: string) => {
      const { line } = source.getLineAndCharacterOfPosition(node.getStart(source));
      violations.push({ file, line: line + 1, rule, message });
    };
    const visit = (node: ts.Node): void => {
      const specifier = moduleSpecifier(node);
      if (specifier?.startsWith(".")) {
        const target = rel(root, resolve(dirname(source.fileName), specifier)).replace(
          /\.js$/,
          ".ts",
        );
        if (file.startsWith("src/core/") && target.startsWith("src/stores/")) {
          report(
            node,
            "core-imports-stores",
            `imports ${target}: src/core never imports a store adapter. Move what it needs ` +
              "into src/core/store/ (the contract), or inject it.",
          );
        }
        if (target === "src/index.ts" && file !== "src/index.ts") {
          report(node, "imports-index", "imports src/index.ts: import the module itself.");
        }
      }
      if (
        file.startsWith("src/core/") &&
        !GUARDED.has(file) &&
        ts.isCallExpression(node) &&
        ts.isPropertyAccessExpression(node.expression) &&
        WRITES.has(node.expression.name.text)
      ) {
        const declaration = checker.getResolvedSignature(node)?.getDeclaration();
        const declaredIn = declaration ? rel(root, declaration.getSourceFile().fileName) : "";
        if (RAW_DECLARATIONS.test(declaredIn)) {
          report(
            node,
            "raw-store-write",
            `calls ${node.expression.getText(source)}() on a raw store: write through the ` +
              "run's GuardedStore (src/core/store/guarded-store.ts), which reads back a " +
              "write whose reply was lost.",
          );
        }
      }
      ts.forEachChild(node, visit);
    };
    visit(source);
  }
  return violations;
}

/** The module an import, export or `import()` names, if `node` is one. */
function moduleSpecifier(node: ts.Node): string | undefined {
  if (
    (ts.isImportDeclaration(node) || ts.isExportDeclaration(node)) &&
    node.moduleSpecifier &&
    ts.isStringLiteral(node.moduleSpecifier)
  ) {
    return node.moduleSpecifier.text;
  }
  if (
    ts.isCallExpression(node) &&
    node.expression.kind === ts.SyntaxKind.ImportKeyword &&
    node.arguments[0] &&
    ts.isStringLiteral(node.arguments[0])
  ) {
    return node.arguments[0].text;
  }
  return undefined;
}

function rel(root: string, file: string): string {
  return relative(root, file).split("\\").join("/");
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
  const violations = checkArchitecture(root);
  for (const v of violations) console.error(`${v.file}:${v.line}  ${v.rule}  ${v.message}`);
  if (violations.length > 0) {
    console.error(`${violations.length} architecture rule(s) broken.`);
    process.exit(1);
  }
  console.log("architecture: src/core imports no store adapter; store writes are guarded.");
}
