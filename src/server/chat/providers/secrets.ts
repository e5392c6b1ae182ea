// Provider secrets (an API key, credentials in a base URL) kept out of the
// texts of provider errors, which become answer metadata that clients read and
// log lines. Providers quote what they were sent ("Incorrect API key provided:
// sk-..."), so every excerpt of a provider's words is redacted *before* it is
// cut to length: cut first, and a key straddling the cut leaves its head behind.

export const REDACTED = "[redacted]";

/** Secrets shorter than this are not looked for (they would match ordinary words); no real key is this short. */
const MIN_SECRET_CHARS = 3;

/** The username and password of a URL (`http://user:pass@host`), decoded; none when it has none. */
export function urlCredentials(url: string | undefined): string[] {
  if (!url) return [];
  try {
    const { username, password } = new URL(url);
    return [username, password].filter(Boolean).map((part) => decodeURIComponent(part));
  } catch {
    return [];
  }
}

export class SecretRedactor {
  /** Every spelling a secret may take in a provider's text, longest first. */
  private readonly spellings: string[];

  constructor(secrets: readonly (string | undefined)[]) {
    const spellings = new Set<string>();
    for (const secret of secrets) {
      if (!secret || secret.length < MIN_SECRET_CHARS) continue;
      // As is, as it appears inside a JSON string, and URL-encoded.
      for (const spelling of [secret, JSON.stringify(secret).slice(1, -1), encodeURIComponent(secret)]) spellings.add(spelling);
    }
    this.spellings = [...spellings].sort((a, b) => b.length - a.length);
  }

  /** `text` with every secret replaced by [redacted]. */
  redact(text: string): string {
    let out = text;
    for (const spelling of this.spellings) if (out.includes(spelling)) out = out.replaceAll(spelling, REDACTED);
    return out;
  }

  /** A short excerpt of a provider's text for an error: redacted, on one line, then cut to `maxChars`. */
  excerpt(text: string, maxChars: number): string {
    return this.redact(text).replace(/\s+/g, " ").trim().slice(0, maxChars);
  }
}

/** For providers without secrets. */
export const NO_SECRETS = new SecretRedactor([]);
