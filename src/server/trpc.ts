// tRPC setup, in three parts. Routers import only what part 3 exports.

// 1. Initialisation: superjson on the wire (dates, maps survive), and errors
//    shaped so a caller sees which field was wrong. Change this to add error
//    data that every client should receive.
import { initTRPC } from "@trpc/server";
import { ZodError } from "zod";
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

// 3. Procedure kinds and router factory: what routers build with.
export const router = t.router;
export const createCallerFactory = t.createCallerFactory;
/** Open to every caller. */
export const publicProcedure = t.procedure.use(logFailures).use(instrumentSubscriptions);
/**
 * Operator procedures (system.connections, system.disconnect). Until
 * authentication exists this ALLOWS EVERY CALLER. Issue 6 tightens it here,
 * and only here (e.g. FORBIDDEN unless ctx.principal.kind === "admin").
 */
export const adminProcedure = publicProcedure.use(({ next }) => next());
