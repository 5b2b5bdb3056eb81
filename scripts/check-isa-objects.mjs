#!/usr/bin/env node
// Fails when an object built with ISA flags (*_avx2.cpp.o, *_avx512.cpp.o)
// defines a weak symbol that baseline code could share: inline or template
// code (std::string, std::to_string, a template on float) emitted there is
// AVX2/AVX-512 machine code, and the linker keeps one copy of each weak
// symbol for the whole library, possibly this one, which would then die
// with an illegal instruction on an older CPU. Instantiations on vector types
// (`__vector(`) exist only in ISA files and are allowed.
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

const objects = readdirSync(buildDir, { recursive: true })
  .map(String)
  .filter((f) => /_(avx2|avx512)\.cpp\.o(bj)?$/.test(f));
const bad = [];
for (const rel of objects) {
  const out = execFileSync("nm", ["-C", join(buildDir, rel)], { encoding: "utf8", maxBuffer: 64 << 20 });
  for (const line of out.split("\n")) {
    const m = /^[0-9a-f]*\s+([VWvw])\s+(.*)$/.exec(line);
    if (!m) continue;
    const name = m[2];
    if (name.includes("__vector(") || name.startsWith("DW.ref.__gxx_personality")) continue;
    bad.push(`${rel}: ${name}`);
  }
}
if (bad.length > 0) {
  console.error(
    "check-isa-objects: ISA-flagged objects define shared weak symbols (move that code to a baseline file):",
  );
  for (const b of bad) console.error(`  ${b}`);
  process.exit(1);
}
console.log(`check-isa-objects: ${objects.length} ISA objects define no shared weak symbols`);
