// tRPC setup, in three parts. Routers import only what part 3 exports.

// 1. Initialisation: superjson on the wire (dates, maps survive; realtime/frames.ts
//    keeps the bytes stock tRPC's), and errors shaped so a caller sees which
//    field was wrong. Change this to add error data that every client should receive.
import { initTRPC, TRPCError } from "@trpc/server";
import { ZodError } from "zod";
import { inputRefusal } from "./auth/input-bounds";
import { RetryAfter } from "./auth/limits";
import { isAdmin } from "./auth/principal";
import { StreamGuard, type StreamScope } from "./auth/stream-guard";
import type { Context } from "./context";
import { wireTransformer } from "./realtime/frames";

function describeZodError(error: ZodError): string {
  return error.issues
    .map((issue) => `${issue.path.length > 0 ? issue.path.join(".") : "input"}: ${issue.message}`)
    .join("; ");
}

const t = initTRPC.context<Context>().create({
  transformer: wireTransformer,
  errorFormatter({ shape, error }) {
    const zodError = error.cause instanceof ZodError ? error.cause : null;
    // Stack traces stay on the server.
    const { stack: _stack, ...data } = shape.data;
    return {
      ...shape,
      message: zodError ? `Invalid input: ${describeZodError(zodError)}` : shape.message,
      data: {
        ...data,
        zodIssues: zodError ? zodError.issues.map((i) => ({ path: i.path.map(String), message: i.message })) : null,
        // TOO_MANY_REQUESTS: when to try again.
        retryAfterMs: error.cause instanceof RetryAfter ? error.cause.retryAfterMs : null,
      },
    };
  },
});

// 2. The gate every procedure passes, as one tRPC middleware (each middleware
//    level costs tRPC two copies of the call's options, which showed as the
//    largest item in a message.post profile). In order: calls per second;
//    the bounded input decoder's refusal; for signed-in kinds, anonymous
//    callers, revoked tokens and connections over a limit; for streams, the
//    StreamGuard (auth/stream-guard.ts: slot, count, access watch); failed
//    calls counted for the metrics, and a log line for unexpected failures,
//    with their context. Change this to add a rule every call obeys.
type GateOptions = Parameters<Parameters<typeof t.middleware>[0]>[0];
type GateResult = Awaited<ReturnType<GateOptions["next"]>>;

async function gate<R extends GateResult>(opts: GateOptions, signedIn: boolean, run: () => Promise<R>): Promise<R> {
  const { ctx, path, type } = opts;
  let result: R;
  try {
    await ctx.auth.limits.consumeCall(ctx.rateKey, ctx.principal.kind === "anonymous" ? null : ctx.principal.id);
    // An input the bounded decoder refused (auth/input-bounds.ts) is refused here, before anything reads it.
    const refusal = inputRefusal(await opts.getRawInput());
    if (refusal) throw refusal;
    if (signedIn) requireAuth(ctx);
    result = await run();
  } catch (error) {
    ctx.metrics.recordProcedureError(error instanceof TRPCError ? error.code : "INTERNAL_SERVER_ERROR");
    if (!(error instanceof TRPCError) || error.code === "INTERNAL_SERVER_ERROR") logFailure(ctx, path, type, error);
    throw error;
  }
  if (!result.ok) {
    ctx.metrics.recordProcedureError(result.error.code);
    if (result.error.code === "INTERNAL_SERVER_ERROR") logFailure(ctx, path, type, result.error.cause ?? result.error);
  }
  return result;
}

/** A stream: runs the procedure with its guard as `ctx.stream`, and hands tRPC the guard to read the stream through. */
async function guardStream(opts: GateOptions) {
  const { ctx, path, signal } = opts;
  // Over HTTP a stream is SSE: a connection of its own, counted against the connection limits.
  const guard = new StreamGuard(ctx.auth, ctx.principal, ctx.connectionId, path, ctx.connections, signal, ctx.transport === "http" ? ctx.clientAddress : null);
  const scope: StreamScope = guard;
  let result;
  try {
    result = await opts.next({ ctx: { stream: scope } });
  } catch (error) {
    guard.end();
    throw error;
  }
  if (!result.ok || !isAsyncIterable(result.data)) {
    guard.end();
    return result;
  }
  return { ...result, data: guard.guard(result.data) };
}

function isAsyncIterable(value: unknown): value is AsyncIterable<unknown> {
  return value !== null && typeof value === "object" && Symbol.asyncIterator in value;
}

function logFailure(ctx: Context, path: string, type: string, err: unknown): void {
  ctx.log.error({ connectionId: ctx.connectionId, principalId: ctx.principal.id, err, path, type }, "procedure failed");
}

/** Refuses anonymous callers, revoked tokens, and connections over a limit. */
function requireAuth(ctx: Context): void {
  if (ctx.connectionRefusal) throw ctx.connectionRefusal;
  if (ctx.principal.kind === "anonymous" || ctx.auth.watch.isRevoked(ctx.principal)) {
    const why = ctx.auth.watch.isRevoked(ctx.principal) ? "the token was revoked" : (ctx.authProblem ?? "no credentials were sent");
    throw new TRPCError({
      code: "UNAUTHORIZED",
      message: `authentication required (${why}): send an API token as "Authorization: Bearer <token>" or WS connectionParams.token, or sign in`,
    });
  }
}

// 3. Procedure kinds and router factory: what routers build with. Change this
//    to add a kind of caller.
export const router = t.router;
export const createCallerFactory = t.createCallerFactory;
/** Open to every caller, signed in or not: only system.health and system.ping. */
export const publicProcedure = t.procedure.use((opts) => gate(opts, false, () => opts.next()));
/**
 * Every signed-in principal (UNAUTHORIZED for anonymous callers and revoked
 * tokens). Session-level rules (owner, members, visibility) are checked by
 * the procedure through auth/access.ts and auth/policy.ts.
 */
export const authedProcedure = t.procedure.use((opts) => gate(opts, true, () => opts.next()));
/**
 * Subscriptions of signed-in principals: `ctx.stream` (auth/stream-guard.ts)
 * gives the stream its signal; a stream that reads a session calls
 * `ctx.stream.readsSession(id)` before checking access, and ends with
 * FORBIDDEN when the caller loses it (UNAUTHORIZED when its token ends).
 */
export const streamProcedure = t.procedure.use((opts) => gate(opts, true, () => guardStream(opts)));
/** Admins only (FORBIDDEN otherwise): connection registry, disconnect, agents, token management. */
export const adminProcedure = authedProcedure.use(({ ctx, next }) => {
  if (!isAdmin(ctx.principal)) {
    throw new TRPCError({ code: "FORBIDDEN", message: "this procedure is for admins only (role admin)" });
  }
  return next();
});
