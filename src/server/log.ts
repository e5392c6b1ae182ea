// The server's logger (pino). Child loggers carry context such as the
// connection id or the session id; secrets are redacted by path.
import pino, { type Logger } from "pino";

export function createLogger(level: string): Logger {
  return pino({
    level,
    base: { service: "parley" },
    redact: { paths: ["token", "*.token", "headers.authorization", "headers.cookie"], censor: "[redacted]" },
  });
}
