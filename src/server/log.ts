// The server's logger (pino). Child loggers carry context such as the
// connection id or the session id; secrets are redacted by path.
import pino, { type Logger } from "pino";

export function createLogger(level: string): Logger {
  return pino({
    level,
    base: { service: "parley" },
    // Credentials never reach the logs: tokens, their hashes, auth headers, cookies, connectionParams.
    redact: {
      paths: [
        "token",
        "*.token",
        "hash",
        "*.hash",
        "headers.authorization",
        "headers.cookie",
        "*.headers.authorization",
        "*.headers.cookie",
        'headers["set-cookie"]',
        '*.headers["set-cookie"]',
        "connectionParams",
        "*.connectionParams",
        "OPENAI_API_KEY",
        "*.OPENAI_API_KEY",
      ],
      censor: "[redacted]",
    },
  });
}
