// parley memory add <text> | ls | recall <query> | rm <id>, and parley search <query>.
import type { Command } from "commander";
import type { Highlight, MemoryItem, RouterInputs } from "../index";
import { positiveInt, type CliContext } from "./context";
import { CliError, ExitCode } from "./exit-codes";

type Run = (action: (ctx: CliContext) => Promise<void>) => Promise<void>;
type Scope = NonNullable<RouterInputs["memory"]["store"]["scope"]>;
type Visibility = NonNullable<RouterInputs["memory"]["store"]["visibility"]>;

/** `--session <id>`, `--agent <id>`, `--mine` or none (global), as a scope. */
function scopeOf(opts: { session?: string; agent?: string; mine?: boolean }): Scope | undefined {
  const named = [opts.session && "--session", opts.agent && "--agent", opts.mine && "--mine"].filter(Boolean);
  if (named.length > 1) throw new CliError(`name one scope at most (got ${named.join(", ")})`, ExitCode.usage);
  if (opts.session) return { kind: "session", sessionId: opts.session };
  if (opts.agent) return { kind: "agent", agentId: opts.agent };
  if (opts.mine) return { kind: "principal" };
  return undefined;
}

function visibility(value: string): Visibility {
  if (value === "public" || value === "private" || value === "agent_only") return value;
  throw new CliError(`--visibility must be public, private or agent_only (got "${value}")`, ExitCode.usage);
}

/** Matched words in [brackets] for a terminal. */
const marked = (highlight: Highlight) => highlight.map((p) => (p.match ? `[${p.text}]` : p.text)).join("").replace(/\s+/g, " ").trim();

const formatMemory = (m: MemoryItem) =>
  `${m.id}  ${m.scope.kind}${m.scope.sessionId ?? m.scope.agentId ?? m.scope.principalId ? `:${m.scope.sessionId ?? m.scope.agentId ?? m.scope.principalId}` : ""}  ${m.visibility}${m.tags.length ? `  #${m.tags.join(" #")}` : ""}  ${m.title ? `${m.title}: ` : ""}${m.content.replace(/\s+/g, " ").slice(0, 100)}`;

const scopeOptions = (command: Command) =>
  command
    .option("--session <id>", "a session's memories")
    .option("--agent <id>", "an agent's memories")
    .option("--mine", "your own memories (scope principal)");

export function registerMemory(program: Command, run: Run): void {
  const memory = program.command("memory").description("store, list, recall and delete memories");

  scopeOptions(memory.command("add").description("store a memory (global and public unless told otherwise)").argument("<text>", "the memory"))
    .option("--title <title>", "a short title")
    .option("--tag <tag...>", "tags")
    .option("--visibility <visibility>", "public, private or agent_only", visibility, "public")
    .action((text: string, opts: { title?: string; tag?: string[]; visibility: Visibility; session?: string; agent?: string; mine?: boolean }) =>
      run(async ({ client, out }) => {
        const stored = await client.remember(text, { title: opts.title, tags: opts.tag ?? [], visibility: opts.visibility, scope: scopeOf(opts) });
        out.record(stored, () => formatMemory(stored));
      }),
    );

  scopeOptions(memory.command("ls").description("list memories, newest first"))
    .option("--tag <tag>", "only memories with this tag")
    .option("--limit <n>", "at most this many", positiveInt("--limit"), 100)
    .action((opts: { tag?: string; limit: number; session?: string; agent?: string; mine?: boolean }) =>
      run(async ({ client, out }) => {
        const items: MemoryItem[] = [];
        let cursor: string | null | undefined;
        do {
          const page = await client.api.memory.list.query({ scope: scopeOf(opts), tag: opts.tag, cursor, limit: Math.min(100, opts.limit - items.length) });
          items.push(...page.items);
          cursor = page.nextCursor;
        } while (cursor && items.length < opts.limit);
        out.list(items, "no memories", formatMemory);
      }),
    );

  scopeOptions(memory.command("recall").description("the memories that best match a query").argument("<query>", "what to recall"))
    .option("--limit <n>", "at most this many", positiveInt("--limit"), 10)
    .option("--text", "rank by words only (no embeddings)")
    .action((query: string, opts: { limit: number; text?: boolean; session?: string; agent?: string; mine?: boolean }) =>
      run(async ({ client, out }) => {
        const result = await client.recall(query, { limit: Math.min(50, opts.limit), scope: scopeOf(opts), mode: opts.text ? "text" : "auto" });
        if (result.vectorUnavailable) out.note(`by words only: ${result.vectorUnavailable}`);
        out.list(result.items, "nothing recalled", (hit) => `${hit.score.toFixed(4)}  ${hit.memory.id}  ${marked(hit.highlight)}`);
      }),
    );

  memory
    .command("rm")
    .description("delete a memory")
    .argument("<id>", "the memory's id")
    .action((id: string) =>
      run(async ({ client, out }) => {
        const deleted = await client.api.memory.delete.mutate({ id });
        out.record(deleted, () => `deleted ${deleted.id}`);
      }),
    );

  program
    .command("search")
    .description("search every message you may read, best first")
    .argument("<query>", "words to find")
    .option("--session <id>", "only this session")
    .option("--limit <n>", "at most this many", positiveInt("--limit"), 20)
    .action((query: string, opts: { session?: string; limit: number }) =>
      run(async ({ client, out }) => {
        const result = await client.api.message.search.query({ query, sessionId: opts.session, limit: Math.min(50, opts.limit) });
        out.list(result.items, "no messages matched", (hit) => `${hit.link}  ${hit.sessionTitle}  ${hit.author}${hit.authorLabel ? ` ${JSON.stringify(hit.authorLabel)}` : ""}: ${marked(hit.highlight)}`);
      }),
    );
}
