import { createHash, randomBytes } from "node:crypto";
import { mkdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import { dirname } from "node:path";

/** The vocabulary is ~1.3 MB; anything far larger is not it. */
const MAX_BYTES = 16 * 1024 * 1024;
const TIMEOUT_MS = 60_000;

async function fileSha256(path: string): Promise<string | undefined> {
  try {
    return createHash("sha256")
      .update(await readFile(path))
      .digest("hex");
  } catch {
    return undefined;
  }
}

/** True when `path` exists and its content has the expected sha256. */
export async function hasVerifiedFile(path: string, expectedSha256: string): Promise<boolean> {
  return (await fileSha256(path)) === expectedSha256;
}

async function fetchBytes(url: string): Promise<Buffer> {
  const response = await fetch(url, { signal: AbortSignal.timeout(TIMEOUT_MS) });
  if (!response.ok || !response.body) throw new Error(`GET ${url} answered HTTP ${response.status}`);
  const chunks: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of response.body) {
    size += chunk.byteLength;
    if (size > MAX_BYTES) throw new Error(`GET ${url}: response larger than ${MAX_BYTES} bytes`);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

/**
 * Downloads `url` to `dest`: the bytes go to a temporary file beside `dest`, which is checked against
 * `expectedSha256` and only then renamed into place (atomic on one file system), so `dest` never holds
 * a partial or wrong file. Rejects with a plain Error describing the failure.
 */
export async function downloadVerified(url: string, dest: string, expectedSha256: string): Promise<void> {
  const bytes = await fetchBytes(url);
  await mkdir(dirname(dest), { recursive: true });
  const tmp = `${dest}.${process.pid}.${randomBytes(6).toString("hex")}.tmp`;
  try {
    await writeFile(tmp, bytes);
    const actual = await fileSha256(tmp);
    if (actual !== expectedSha256) {
      throw new Error(`GET ${url}: sha256 ${actual} does not match the expected ${expectedSha256}`);
    }
    await rename(tmp, dest);
  } finally {
    await rm(tmp, { force: true });
  }
}
