//! The one error type the UI sees. Every rejection from the backend (or from the IPC layer
//! itself) is normalised into an `AppError`, so components can branch on `code` alone and show
//! `message` to the user.
import type { ErrorCode } from "./generated/ErrorCode";

const CODES: readonly ErrorCode[] = [
  "NotFound",
  "AlreadyExists",
  "InvalidArgument",
  "Conflict",
  "Unavailable",
  "Unsupported",
  "Cancelled",
  "Internal",
];

export class AppError extends Error {
  readonly code: ErrorCode;

  constructor(code: ErrorCode, message: string) {
    super(message);
    this.name = "AppError";
    this.code = code;
  }
}

function isCode(value: unknown): value is ErrorCode {
  return typeof value === "string" && (CODES as readonly string[]).includes(value);
}

/** Turns whatever a rejected invoke produced into an `AppError`.
 *  Tauri rejects with the serialised Rust error (`{code, message}`), but a command that does not
 *  exist, a panicking command or a denied permission rejects with a plain string, so those become
 *  `Internal` with the string as message rather than an unhelpful "[object Object]". */
export function toAppError(raw: unknown): AppError {
  if (raw instanceof AppError) return raw;
  if (raw && typeof raw === "object") {
    const r = raw as { code?: unknown; message?: unknown };
    const message = typeof r.message === "string" && r.message ? r.message : undefined;
    if (isCode(r.code)) return new AppError(r.code, message ?? r.code);
    if (message) return new AppError("Internal", message);
  }
  if (typeof raw === "string" && raw) return new AppError("Internal", raw);
  return new AppError("Internal", "Unknown error");
}
