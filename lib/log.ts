// Optional logging: nothing is printed unless the caller passes a logger.
import { invalidOption } from "./errors.js";

export const LOG_LEVELS = ["error", "warn", "info", "debug"] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];
export type Logger = (level: LogLevel, message: string) => void;

/** A level-filtered log function; a no-op without a logger. A throwing logger never breaks a call. */
export function makeLog(logger: Logger | undefined, level: LogLevel = "info"): Logger {
  if (!logger) return () => {};
  const max = LOG_LEVELS.indexOf(level);
  return (l, message) => {
    if (LOG_LEVELS.indexOf(l) > max) return;
    try {
      logger(l, message);
    } catch {
      // Logging is advisory: the caller's logger failing must not fail generation.
    }
  };
}

export function checkLogOptions(logger: unknown, logLevel: unknown): void {
  if (logger !== undefined && typeof logger !== "function")
    throw invalidOption("logger", "must be a function (level, message) => void");
  if (logLevel !== undefined && !(LOG_LEVELS as readonly unknown[]).includes(logLevel)) {
    throw invalidOption(
      "logLevel",
      `must be one of ${LOG_LEVELS.map((l) => `"${l}"`).join(", ")}, got ${String(logLevel)}`,
    );
  }
}
