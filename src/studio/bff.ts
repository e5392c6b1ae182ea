// Prisma Studio's "backend for frontend" contract (studio-core's README, "BFF
// Contract"): the browser POSTs one JSON request, the server runs it on an
// executor and answers `[error, result]` pairs, errors serialized, never thrown.
import type { Executor } from "@prisma/studio-core/data";
import { serializeError, type SerializedError } from "@prisma/studio-core/data/bff";
import { z } from "zod";

const query = z.object({
  sql: z.string().min(1),
  parameters: z.array(z.unknown()),
  transformations: z.record(z.string(), z.literal("json-parse")).optional(),
});

/** The procedures Studio's SQLite and PostgreSQL adapters send, checked at the edge. */
export const studioRequestSchema = z.discriminatedUnion("procedure", [
  z.object({ procedure: z.literal("query"), query, schema: z.string().optional() }),
  z.object({ procedure: z.literal("sequence"), sequence: z.tuple([query, query]) }),
  z.object({ procedure: z.literal("transaction"), queries: z.array(query) }),
  z.object({ procedure: z.literal("sql-lint"), sql: z.string() }),
  z.object({ procedure: z.literal("query-insights") }),
]);

export type StudioRequest = z.infer<typeof studioRequestSchema>;

type Answer<R> = [SerializedError] | [null, R];

/** Either the answer to send as JSON, or a request Studio's contract has no answer for. */
export type StudioReply = { status: 200; body: unknown } | { status: 400 | 501; message: string };

const answer = <R>([error, result]: [Error] | [null, R]): Answer<R> => (error ? [serializeError(error)] : [null, result]);

/** Run one Studio request (already parsed) on `executor`. */
export async function answerStudioRequest(executor: Executor, request: StudioRequest): Promise<StudioReply> {
  switch (request.procedure) {
    case "query":
      return { status: 200, body: answer(await executor.execute(request.query, { schema: request.schema })) };
    case "sequence": {
      // The second query runs only when the first succeeded.
      const [first, second] = request.sequence;
      const firstAnswer = answer(await executor.execute(first));
      if (firstAnswer[0]) return { status: 200, body: [firstAnswer] };
      return { status: 200, body: [firstAnswer, answer(await executor.execute(second))] };
    }
    case "transaction": {
      if (!executor.executeTransaction) return { status: 501, message: "transactions are not supported by this executor" };
      return { status: 200, body: answer(await executor.executeTransaction(request.queries)) };
    }
    case "sql-lint":
      // Studio then checks SQL with its adapter's own EXPLAIN fallback.
      return { status: 200, body: [serializeError(new Error("SQL lint is not provided by Parley's Studio server"))] };
    case "query-insights":
      return { status: 501, message: "Query Insights is not provided by Parley's Studio server" };
  }
}

/** Parse a request body; a refusal names the field and what was expected. */
export function parseStudioRequest(body: unknown): { ok: true; request: StudioRequest } | { ok: false; message: string } {
  const parsed = studioRequestSchema.safeParse(body);
  if (parsed.success) return { ok: true, request: parsed.data };
  return { ok: false, message: parsed.error.issues.map((issue) => `${issue.path.join(".") || "body"}: ${issue.message}`).join("; ") };
}
