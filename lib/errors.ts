/** Stable error codes. Every rejection from sd-native carries one in `error.code`. */
export type ErrorCode =
  | "ERR_MODEL_FORMAT"
  | "ERR_MODEL_UNSUPPORTED"
  | "ERR_MODEL_NOT_FOUND"
  | "ERR_INVALID_OPTION"
  | "ERR_OUT_OF_MEMORY"
  | "ERR_NUMERICAL"
  | "ERR_TOKENIZER_NOT_FOUND"
  | "ERR_IO"
  | "ERR_DISPOSED"
  | "ERR_INTERNAL"
  | "ERR_LORA_FORMAT"
  | "ABORT_ERR";

/** An error raised by sd-native. `code` is stable across versions; `message` says what to do. */
export class SdError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "SdError";
    this.code = code;
  }
}

/** Rejection of an aborted operation (same shape as the DOM's AbortError). */
export class AbortError extends SdError {
  constructor(message = "The operation was aborted", options?: { cause?: unknown }) {
    super("ABORT_ERR", message, options);
    this.name = "AbortError";
  }
}

const KNOWN_CODES = new Set<string>([
  "ERR_MODEL_FORMAT",
  "ERR_MODEL_UNSUPPORTED",
  "ERR_MODEL_NOT_FOUND",
  "ERR_INVALID_OPTION",
  "ERR_OUT_OF_MEMORY",
  "ERR_NUMERICAL",
  "ERR_TOKENIZER_NOT_FOUND",
  "ERR_IO",
  "ERR_DISPOSED",
  "ERR_INTERNAL",
  "ERR_LORA_FORMAT",
  "ABORT_ERR",
]);

/** Converts an error thrown by the native addon into an SdError (or AbortError). */
export function fromNativeError(err: unknown): SdError {
  if (err instanceof SdError) return err;
  const e = err as { code?: unknown; message?: unknown };
  const message = typeof e?.message === "string" ? e.message : String(err);
  const code = typeof e?.code === "string" && KNOWN_CODES.has(e.code) ? (e.code as ErrorCode) : "ERR_INTERNAL";
  if (code === "ABORT_ERR") return new AbortError(message, { cause: err });
  return new SdError(code, message, { cause: err });
}

export function invalidOption(name: string, message: string): SdError {
  return new SdError("ERR_INVALID_OPTION", `${name}: ${message}`);
}

/** Rejects keys outside `known` (typos such as `onprogress` or `thread` would otherwise be ignored). */
export function checkKnownKeys(of: string, options: object, known: readonly string[]): void {
  for (const key of Object.keys(options)) {
    if (!known.includes(key)) throw invalidOption(key, `is not an option of ${of}; known: ${known.join(", ")}`);
  }
}
