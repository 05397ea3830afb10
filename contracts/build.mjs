// Compiles contracts/src/*.sol with the pinned solc-js (npm lockfile) through the standard-JSON API
// and writes one artifact per contract to --out (default contracts/artifacts).
// Usage: node contracts/build.mjs [--out DIR]   (run from anywhere; paths resolve from this file)
import { createHash } from "node:crypto";
import { mkdirSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, "..");
const require = createRequire(join(root, "package.json"));
const solc = require("solc");

const SETTINGS = {
  optimizer: { enabled: true, runs: 200 },
  // Cancun: supported by mainnet, anvil and the common L2s; pinned so bytecode is reproducible.
  evmVersion: "cancun",
  outputSelection: { "*": { "*": ["abi", "evm.bytecode.object", "evm.deployedBytecode.object", "metadata"] } },
};

function parseArgs(argv) {
  const args = { out: join(here, "artifacts") };
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === "--out") args.out = resolve(argv[++i]);
    else throw new Error(`unknown argument ${argv[i]}`);
  }
  return args;
}

// Source unit names are repo-relative ("src/X.sol", "@openzeppelin/..."), never absolute paths,
// so the metadata hash embedded in the bytecode is the same on every machine.
function readSource(unit) {
  if (unit.startsWith("@openzeppelin/")) return readFileSync(join(root, "node_modules", unit), "utf8");
  return readFileSync(join(here, unit), "utf8");
}

const sha256 = (text) => createHash("sha256").update(text).digest("hex");

function main() {
  const { out } = parseArgs(process.argv.slice(2));
  const files = readdirSync(join(here, "src")).filter((f) => f.endsWith(".sol")).sort();
  const sources = {};
  for (const f of files) sources[`src/${f}`] = { content: readSource(`src/${f}`) };
  const input = { language: "Solidity", sources, settings: SETTINGS };
  const used = {};
  const findImports = (unit) => {
    try {
      return { contents: (used[unit] = readSource(unit)) };
    } catch (err) {
      return { error: `cannot read ${unit}: ${err.message}` };
    }
  };
  const output = JSON.parse(solc.compile(JSON.stringify(input), { import: findImports }));
  const errors = (output.errors || []).filter((e) => e.severity === "error");
  for (const e of output.errors || []) process.stderr.write(`${e.formattedMessage}\n`);
  if (errors.length) process.exit(1);

  const contentOf = (unit) => (sources[unit] ? sources[unit].content : used[unit]);
  mkdirSync(out, { recursive: true });
  const version = solc.version();
  const written = [];
  for (const f of files) {
    const unit = `src/${f}`;
    for (const [name, c] of Object.entries(output.contracts[unit] || {})) {
      // Hash every source this contract was built from (its own file and each import), so a
      // change to either shows up as a stale artifact.
      const deps = Object.keys(JSON.parse(c.metadata).sources).sort();
      const sourceHash = sha256(deps.map((d) => `${d}\n${sha256(contentOf(d))}\n`).join(""));
      const artifact = {
        contractName: name,
        sourceName: unit,
        compiler: { name: "solc-js", version, settings: { optimizer: SETTINGS.optimizer, evmVersion: SETTINGS.evmVersion } },
        sourceHash,
        sources: deps,
        abi: c.abi,
        bytecode: `0x${c.evm.bytecode.object}`,
        deployedBytecode: `0x${c.evm.deployedBytecode.object}`,
      };
      writeFileSync(join(out, `${name}.json`), `${JSON.stringify(artifact, null, 2)}\n`);
      written.push(name);
    }
  }
  process.stdout.write(`${JSON.stringify({ compiler: version, out, contracts: written })}\n`);
}

main();
