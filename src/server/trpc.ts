// tRPC setup, in three parts. Routers import only what part 3 exports.

// 1. Initialisation: superjson on the wire (dates, maps survive), and errors
//    shaped so a caller sees which field was wrong. Change this to add error
//    data that every client should receive.
import { initTRPC, TRPCError } from "@trpc/server";
import { ZodError } from "zod";
import { RetryAfter } from "./auth/limits";
import { isAdmin } from "./auth/principal";
import type { Context } from "./context";
import { wireTransformer } from "./wire";

function describeZodError(error: ZodError): string {
  return error.issues
    .map((issue) => `${issue.path.length > 0 ? issue.path.join(".") : "input"}: ${issue.message}`)
    .join("; ");
}

const t = initTRPC.context<Context>().create({
  // superjson on the wire; tracked subscription events are encoded once per event (wire.ts).
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
        // TOO_MANY_REQUESTS: when to try again (issue 6).
        retryAfterMs: error.cause instanceof RetryAfter ? error.cause.retryAfterMs : null,
      },
    };
  },
});

// 2. Middlewares: logging of unexpected failures with their context. (Auth
//    and limits attach here as procedure kinds.)
const logFailures = t.middleware(async ({ ctx, path, type, next }) => {
  const result = await next();
  if (!result.ok && result.error.code === "INTERNAL_SERVER_ERROR") {
    ctx.log.error({ err: result.error.cause ?? result.error, path, type }, "procedure failed");
  }
  return result;
});

// Counts running subscriptions by procedure and connection, and times the
// fan-out of their values (see metrics/instrument.ts). Cheap: one `.then` per value.
const instrumentSubscriptions = t.middleware(async ({ ctx, path, type, next }) => {
  const result = await next();
  if (type !== "subscription" || !result.ok) return result;
  return { ...result, data: ctx.metrics.instrumentSubscription(path, ctx.connectionId, result.data) };
});

// Issue 6. Calls per second per connection and per principal (token bucket).
const rateLimit = t.middleware(async ({ ctx, next }) => {
  await ctx.auth.limits.consumeCall(ctx.rateKey, ctx.principal.kind === "anonymous" ? null : ctx.principal.id);
  return next();
});

// Refuses anonymous callers, revoked tokens, and connections over a limit.
const requireAuth = t.middleware(({ ctx, next }) => {
  if (ctx.connectionRefusal) throw new TRPCError({ code: "TOO_MANY_REQUESTS", message: ctx.connectionRefusal });
  if (ctx.principal.kind === "anonymous" || ctx.auth.watch.isRevoked(ctx.principal)) {
    const why = ctx.auth.watch.isRevoked(ctx.principal) ? "the token was revoked" : (ctx.authProblem ?? "no credentials were sent");
    throw new TRPCError({
      code: "UNAUTHORIZED",
      message: `authentication required (${why}): send an API token as "Authorization: Bearer <token>" or WS connectionParams.token, or sign in`,
    });
  }
  return next();
});

/**
 * Subscriptions only: takes a slot of MAX_SUBSCRIPTIONS_PER_CONNECTION, and
 * ends the stream with UNAUTHORIZED as soon as the caller's token is revoked
 * (or FORBIDDEN when it loses the session named by `input.sessionId`): the
 * stream's `ctx.streamSignal` aborts and the client gets the error.
 */
const guardSubscriptions = t.middleware(async ({ ctx, type, getRawInput, signal, next }) => {
  if (type !== "subscription") return next();
  const release = ctx.auth.limits.openSubscription(ctx.connectionId);
  const guard = new AbortController();
  const raw = await getRawInput().catch(() => undefined);
  const sessionId =
    raw !== null && typeof raw === "object" && "sessionId" in raw && typeof raw.sessionId === "string" ? raw.sessionId : null;
  const stopWatching = ctx.auth.watchStream(ctx.principal, sessionId, (error) => guard.abort(error));
  const streamSignal = signal ? AbortSignal.any([signal, guard.signal]) : guard.signal;
  let result;
  try {
    result = await next({ ctx: { streamSignal } });
  } catch (error) {
    stopWatching();
    release();
    throw error;
  }
  if (!result.ok || !isAsyncIterable(result.data)) {
    stopWatching();
    release();
    return result;
  }
  return { ...result, data: guarded(result.data, guard.signal, () => (stopWatching(), release())) };
});

function isAsyncIterable(value: unknown): value is AsyncIterable<unknown> {
  return value !== null && typeof value === "object" && Symbol.asyncIterator in value;
}

/** Iterate `inner` until it ends or `revoked` aborts (then throw its reason); `done` runs once at the end. */
async function* guarded(inner: AsyncIterable<unknown>, revoked: AbortSignal, done: () => void): AsyncGenerator<unknown> {
  const iterator = inner[Symbol.asyncIterator]();
  const aborted = new Promise<"revoked">((resolve) => {
    if (revoked.aborted) resolve("revoked");
    else revoked.addEventListener("abort", () => resolve("revoked"), { once: true });
  });
  try {
    for (;;) {
      const next = await Promise.race([iterator.next(), aborted]);
      if (next === "revoked") throw revoked.reason;
      if (next.done) return;
      yield next.value;
    }
  } finally {
    done();
    // The inner stream also sees streamSignal abort; return() lets it clean up.
    void Promise.resolve(iterator.return?.()).catch(() => undefined);
  }
}

// 3. Procedure kinds and router factory: what routers build with.
export const router = t.router;
export const createCallerFactory = t.createCallerFactory;
/** Open to every caller, signed in or not: only system.health and system.ping. */
export const publicProcedure = t.procedure.use(logFailures).use(rateLimit).use(instrumentSubscriptions);
/**
 * Every signed-in principal (UNAUTHORIZED for anonymous callers and revoked
 * tokens). Session-level rules (owner, members, visibility) are checked by
 * the procedure through auth/access.ts and auth/policy.ts.
 */
export const authedProcedure = publicProcedure.use(requireAuth).use(guardSubscriptions);
/** Admins only (FORBIDDEN otherwise): connection registry, disconnect, agents, token management. */
export const adminProcedure = authedProcedure.use(({ ctx, next }) => {
  if (!isAdmin(ctx.principal)) {
    throw new TRPCError({ code: "FORBIDDEN", message: "this procedure is for admins only (role admin)" });
  }
  return next();
});
