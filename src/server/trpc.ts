// tRPC setup, in three parts. Routers import only what part 3 exports.

// 1. Initialisation: superjson on the wire (dates, maps survive), and errors
//    shaped so a caller sees which field was wrong. Change this to add error
//    data that every client should receive.
import { initTRPC, TRPCError } from "@trpc/server";
import { ZodError } from "zod";
import { inputRefusal } from "./auth/input-bounds";
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

// 2. Middlewares. Every procedure passes one gate (a single tRPC middleware:
//    each middleware level costs tRPC two copies of the call's options, which
//    showed as the largest item in a message.post profile). In order, the
//    gate: limits calls per second; for signed-in kinds, refuses anonymous
//    callers, revoked tokens and connections over a limit, and guards
//    subscriptions; counts subscriptions and failed calls for the metrics; and
//    logs unexpected failures with their context.
type GateOptions = Parameters<Parameters<typeof t.middleware>[0]>[0];
type GateResult = Awaited<ReturnType<GateOptions["next"]>>;

async function gate(opts: GateOptions, signedIn: boolean): Promise<GateResult> {
  const { ctx, path, type } = opts;
  let result: GateResult;
  try {
    // Issue 6. Calls per second per connection and per principal (token bucket).
    await ctx.auth.limits.consumeCall(ctx.rateKey, ctx.principal.kind === "anonymous" ? null : ctx.principal.id);
    // An input the bounded decoder refused (auth/input-bounds.ts) is refused here, before anything reads it.
    const refusal = inputRefusal(await opts.getRawInput());
    if (refusal) throw refusal;
    if (signedIn) requireAuth(ctx);
    result = signedIn && type === "subscription" ? await guardSubscription(opts) : await opts.next();
  } catch (error) {
    ctx.metrics.recordProcedureError(error instanceof TRPCError ? error.code : "INTERNAL_SERVER_ERROR");
    if (!(error instanceof TRPCError) || error.code === "INTERNAL_SERVER_ERROR") logFailure(ctx, path, type, error);
    throw error;
  }
  if (!result.ok) {
    ctx.metrics.recordProcedureError(result.error.code);
    if (result.error.code === "INTERNAL_SERVER_ERROR") logFailure(ctx, path, type, result.error.cause ?? result.error);
    return result;
  }
  // Counts running subscriptions by procedure and connection, and times the
  // fan-out of their values (see metrics/instrument.ts). Cheap: one `.then` per value.
  if (type === "subscription") return { ...result, data: ctx.metrics.instrumentSubscription(path, ctx.connectionId, result.data) };
  return result;
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

/**
 * Subscriptions only: takes a slot of MAX_SUBSCRIPTIONS_PER_CONNECTION, and
 * ends the stream with UNAUTHORIZED as soon as the caller's token is revoked
 * (or FORBIDDEN when it loses the session named by `input.sessionId`): the
 * stream's `ctx.streamSignal` aborts and the client gets the error.
 */
async function guardSubscription({ ctx, getRawInput, signal, next }: GateOptions): Promise<GateResult> {
  const release = ctx.auth.limits.openSubscription(ctx.connectionId);
  const raw = await getRawInput().catch(() => undefined);
  const sessionId =
    raw !== null && typeof raw === "object" && "sessionId" in raw && typeof raw.sessionId === "string" ? raw.sessionId : null;
  const guard = new StreamGuard(signal, release);
  guard.watch(ctx.auth.watchStream(ctx.principal, sessionId, (error) => guard.revoke(error)));
  let result;
  try {
    // Nothing watched (authentication off, anonymous): the stream's signal is tRPC's own, and ctx is not copied.
    result = await (guard.controller ? next({ ctx: { streamSignal: guard.controller.signal } }) : next());
  } catch (error) {
    guard.end();
    throw error;
  }
  if (!result.ok || !isAsyncIterable(result.data)) {
    guard.end();
    return result;
  }
  return { ...result, data: new GuardedIterator(result.data, guard) };
}

function isAsyncIterable(value: unknown): value is AsyncIterable<unknown> {
  return value !== null && typeof value === "object" && Symbol.asyncIterator in value;
}

/**
 * One subscription's slot and revocation watch. When something is watched,
 * `controller.signal` is the stream's signal: it aborts on revocation and
 * when tRPC's own signal aborts (a plain listener, the guard itself).
 */
class StreamGuard {
  controller: AbortController | null = null;
  /** Why the caller lost access; set once. */
  revokedBy: Error | null = null;
  /** Rejects the pending `next` of the guarded stream on revocation. */
  interrupt: ((reason: Error) => void) | null = null;
  private stopWatching: (() => void) | null = null;
  private ended = false;

  constructor(
    private readonly signal: AbortSignal | undefined,
    private readonly release: () => void,
  ) {}

  watch(stop: (() => void) | null): void {
    if (!stop) return;
    this.stopWatching = stop;
    this.controller = new AbortController();
    if (this.signal?.aborted) this.controller.abort(this.signal.reason);
    else this.signal?.addEventListener("abort", this, { once: true });
  }

  /** tRPC's signal aborted (the client stopped the subscription or left). */
  handleEvent(): void {
    this.controller?.abort(this.signal?.reason);
  }

  revoke(error: Error): void {
    if (this.revokedBy !== null || this.ended) return;
    this.revokedBy = error;
    this.controller?.abort(error);
    const interrupt = this.interrupt;
    this.interrupt = null;
    interrupt?.(error);
  }

  /** Once: stop watching and give the slot back. */
  end(): void {
    if (this.ended) return;
    this.ended = true;
    this.signal?.removeEventListener("abort", this);
    this.stopWatching?.();
    this.release();
  }
}

/**
 * Iterate `inner` until it ends or the guard is revoked (then reject with the
 * reason at once, even while `inner` is still waiting). The guard ends once,
 * and `inner` is returned so it can clean up (it also sees the stream's signal abort).
 */
class GuardedIterator implements AsyncIterableIterator<unknown> {
  private readonly iterator: AsyncIterator<unknown>;
  private finished = false;

  constructor(
    inner: AsyncIterable<unknown>,
    private readonly guard: StreamGuard,
  ) {
    this.iterator = inner[Symbol.asyncIterator]();
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  next(): Promise<IteratorResult<unknown>> {
    const { guard } = this;
    if (guard.revokedBy !== null) {
      this.finish();
      return Promise.reject(guard.revokedBy);
    }
    const step = this.iterator.next().then(
      (result) => {
        guard.interrupt = null;
        if (result.done) this.finish();
        return result;
      },
      (error: unknown) => {
        guard.interrupt = null;
        this.finish();
        throw error;
      },
    );
    if (!guard.controller) return step;
    return new Promise((resolve, reject) => {
      guard.interrupt = (reason) => {
        this.finish();
        reject(reason);
      };
      step.then(resolve, reject);
    });
  }

  /** Resolves once `inner` has ended (tRPC reports the subscription stopped after that). */
  return(value?: unknown): Promise<IteratorResult<unknown>> {
    this.finished = true;
    this.guard.end();
    const returned = Promise.resolve(this.iterator.return?.()).catch(() => undefined);
    return returned.then(() => ({ done: true, value }));
  }

  throw(error?: unknown): Promise<IteratorResult<unknown>> {
    this.finish();
    return Promise.reject(error instanceof Error ? error : new Error(String(error)));
  }

  private finish(): void {
    if (this.finished) return;
    this.finished = true;
    this.guard.end();
    void Promise.resolve(this.iterator.return?.()).catch(() => undefined);
  }
}

// 3. Procedure kinds and router factory: what routers build with.
export const router = t.router;
export const createCallerFactory = t.createCallerFactory;
/** Open to every caller, signed in or not: only system.health and system.ping. */
export const publicProcedure = t.procedure.use((opts) => gate(opts, false));
/**
 * Every signed-in principal (UNAUTHORIZED for anonymous callers and revoked
 * tokens). Session-level rules (owner, members, visibility) are checked by
 * the procedure through auth/access.ts and auth/policy.ts.
 */
export const authedProcedure = t.procedure.use((opts) => gate(opts, true));
/** Admins only (FORBIDDEN otherwise): connection registry, disconnect, agents, token management. */
export const adminProcedure = authedProcedure.use(({ ctx, next }) => {
  if (!isAdmin(ctx.principal)) {
    throw new TRPCError({ code: "FORBIDDEN", message: "this procedure is for admins only (role admin)" });
  }
  return next();
});
