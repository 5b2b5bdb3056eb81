#!/usr/bin/env node
// Fails when an object built with ISA flags (*_avx2.cpp.o, *_avx512.cpp.o, *_avxvnni.cpp.o,
// arm64 *_dotprod.cpp.o) defines a weak symbol that another engine object
// defines too: inline or template code (std::string, std::to_string, a
// helper on __m256) emitted there is AVX2/AVX-512/dotprod machine code, and
// the linker keeps one copy of each weak symbol for the whole library,
// possibly that one, which would then die with an illegal instruction on an
// older CPU.
//
// Usage: node scripts/check-isa-objects.mjs BUILD_DIR   (needs nm; skipped without it)
import { execFileSync } from "node:child_process";
import { readdirSync } from "node:fs";
import { join } from "node:path";

const buildDir = process.argv[2];
if (!buildDir) {
  console.error("usage: check-isa-objects.mjs BUILD_DIR");
  process.exit(2);
}
try {
  execFileSync("nm", ["--version"], { stdio: "ignore" });
} catch {
  console.log("check-isa-objects: nm not found, skipped");
  process.exit(0);
}

const isIsa = (f) => /_(avx2|avx512|avxvnni|dotprod)\.cpp\.o(bj)?$/.test(f);
const objects = readdirSync(buildDir, { recursive: true })
  .map(String)
  .filter((f) => f.includes("sd_engine.dir") && /\.o(bj)?$/.test(f));
const definedIn = new Map(); // weak symbol -> objects defining it
for (const rel of objects) {
  const out = execFileSync("nm", ["-C", join(buildDir, rel)], { encoding: "utf8", maxBuffer: 64 << 20 });
  for (const line of out.split("\n")) {
    const m = /^[0-9a-f]*\s+[VWvw]\s+(.*)$/.exec(line);
    if (!m || m[1].startsWith("DW.ref.__gxx_personality")) continue;
    const set = definedIn.get(m[1]) ?? new Set();
    set.add(rel);
    definedIn.set(m[1], set);
  }
}
const bad = [];
for (const [name, files] of definedIn) {
  if (files.size > 1 && [...files].some(isIsa)) bad.push(`${name}\n    in ${[...files].join(", ")}`);
}
if (bad.length > 0) {
  console.error(
    "check-isa-objects: weak symbols shared by ISA-flagged and other objects (move that code to a baseline file or give it internal linkage):",
  );
  for (const b of bad) console.error(`  ${b}`);
  process.exit(1);
}
console.log(
  `check-isa-objects: ${objects.filter(isIsa).length} ISA objects share no weak symbol with the other ${objects.length - objects.filter(isIsa).length}`,
);
