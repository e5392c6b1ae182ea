// What a free-text query searches for, on both databases: its words (letters
// and digits, lower-case, no stopwords), as an FTS5 MATCH expression (SQLite)
// or a tsquery (PostgreSQL), a match on one word is enough, ranked so that more and rarer
// words rank higher. And the marked passages the databases return, as pieces.
import type { Highlight } from "../../shared/memory";

/** Words of a query searched for at most. */
export const QUERY_TERMS_MAX = 16;

/** Common words that would match nearly everything (FTS5 has no stopword list of its own). */
export const STOPWORDS: ReadonlySet<string> = new Set(
  (
    "a an the and or for are but not you your with this that what when where which who whom why how was were has have had " +
    "did does doing done can could should would will shall may might must about into from than then them they their " +
    "there here its it's our ours out over under again also just only very any all some such more most other each " +
    "say said says tell told know ask asked please anything something someone is be been being do to of in on at by it as " +
    "we us me my i he she him her his so if no yes"
  ).split(" "),
);

/** The words a query searches for: at least 2 characters, no stopwords, each once, the first QUERY_TERMS_MAX. */
export function queryTerms(query: string): string[] {
  const words = query.toLowerCase().match(/[\p{L}\p{N}]+/gu) ?? [];
  const terms: string[] = [];
  for (const word of words) {
    if (word.length < 2 || STOPWORDS.has(word) || terms.includes(word)) continue;
    terms.push(word);
    if (terms.length === QUERY_TERMS_MAX) break;
  }
  return terms;
}

/** FTS5: at least one (or every one) of the words, each a quoted string (words hold only letters and digits, so nothing needs escaping). */
export function ftsMatchExpression(terms: readonly string[], operator: "OR" | "AND" = "OR"): string {
  return terms.map((term) => `"${term}"`).join(` ${operator} `);
}

/** PostgreSQL `to_tsquery` text: at least one of the words. */
export function tsQueryText(terms: readonly string[]): string {
  return terms.join(" | ");
}

/** Marks around matched words in the passages both databases return (private-use characters, never in the index). */
export const MARK_OPEN = "\uE000";
export const MARK_CLOSE = "\uE001";

/** A marked passage as pieces, and the distinct matched words (lower-case) in order of appearance. */
export function parseMarked(marked: string): { highlight: Highlight; matched: string[] } {
  const highlight: Highlight = [];
  const matched: string[] = [];
  let rest = marked;
  while (rest.length > 0) {
    const open = rest.indexOf(MARK_OPEN);
    if (open < 0) {
      highlight.push({ text: rest, match: false });
      break;
    }
    if (open > 0) highlight.push({ text: rest.slice(0, open), match: false });
    const close = rest.indexOf(MARK_CLOSE, open + 1);
    const word = close < 0 ? rest.slice(open + 1) : rest.slice(open + 1, close);
    if (word) {
      highlight.push({ text: word, match: true });
      const lower = word.toLowerCase();
      if (!matched.includes(lower)) matched.push(lower);
    }
    rest = close < 0 ? "" : rest.slice(close + 1);
  }
  // Consecutive marked words (PostgreSQL marks each) read as one piece of text.
  return { highlight: highlight.filter((piece) => piece.text.length > 0), matched };
}

/** A passage with nothing marked (a hit found by meaning only): the start of the text. */
export function plainHighlight(text: string, maxChars = 200): Highlight {
  const flat = text.replace(/\s+/g, " ").trim();
  return [{ text: flat.length > maxChars ? `${flat.slice(0, maxChars)}…` : flat, match: false }];
}
