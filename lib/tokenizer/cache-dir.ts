import { homedir } from "node:os";
import { join } from "node:path";

/** Where sd-native caches downloads: SD_NATIVE_CACHE_DIR, else the platform's per-user cache folder. */
export function cacheDir(
  env: NodeJS.ProcessEnv = process.env,
  platform: NodeJS.Platform = process.platform,
  home: string = homedir(),
): string {
  if (env.SD_NATIVE_CACHE_DIR) return env.SD_NATIVE_CACHE_DIR;
  if (platform === "win32") return join(env.LOCALAPPDATA || join(home, "AppData", "Local"), "sd-native", "Cache");
  if (platform === "darwin") return join(home, "Library", "Caches", "sd-native");
  return join(env.XDG_CACHE_HOME || join(home, ".cache"), "sd-native");
}
