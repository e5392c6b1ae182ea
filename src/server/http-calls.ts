// tRPC queries and mutations over HTTP, answered without tRPC's Fetch
// adaptation. tRPC's Node adapter turns every request into a Fetch `Request`
// (a URL, a Headers copy, an AbortSignal, a ReadableStream over the body),
// and its answer into a `Response` piped back through a WritableStream: in a
// profile of message.post over HTTP that machinery cost more CPU than the
// write itself. Here a plain JSON call (POST to mutations, GET to queries,
// batched or not) is read from the IncomingMessage, run through the same
// procedures, and answered with tRPC's status and JSON body, byte for byte
// (tests/http-calls.test.ts compares the two with HTTP_DIRECT_CALLS=off).
// The one difference on the wire: the body goes out with a Content-Length in
// one write, where tRPC's adapter sends it chunked. Everything else (SSE
// subscriptions, streamed batches, form data, a method that does not fit the
// procedure, unknown paths, connectionParams in the URL) goes to tRPC's own
// handler untouched.
import type http from "node:http";
import {
  getErrorShape,
  getHTTPStatusCode,
  getProcedureAtPath,
  getTRPCErrorFromUnknown,
  isAsyncIterable,
  isObject,
  isPromise,
  transformTRPCResponse,
  TRPCError,
  type AnyProcedure,
  type TRPCResponse,
} from "@trpc/server/unstable-core-do-not-import";
import type { Context } from "./context";
import type { AppRouter } from "./routers/_app";

export interface HttpCallOptions {
  router: AppRouter;
  /** Where procedure paths start, as tRPC's handler has it ("/api/trpc/"). */
  basePath: string;
  /** The request body bound (tRPC's `maxBodySize`): past it, every call fails with PAYLOAD_TOO_LARGE. */
  maxBodySize: number;
  createContext: (req: http.IncomingMessage) => Promise<Context>;
  /** tRPC's own handler, for every request this one does not answer. */
  fallback: (req: http.IncomingMessage, res: http.ServerResponse) => void;
}

type ProcedureType = "query" | "mutation";

/** The calls' inputs by batch index: `read` reads them once; `result` has them once read (error shapes carry the input). */
interface Inputs {
  read: () => Promise<Record<number, unknown>>;
  result: () => Record<number, unknown> | undefined;
}

/** What a request asks for, when it is a plain JSON call. */
interface PlainCall {
  method: "GET" | "POST";
  type: ProcedureType;
  isBatch: boolean;
  paths: string[];
  procedures: AnyProcedure[];
  /** GET: the `input` search parameter. */
  queryInput: string | null;
}

/** A handler with tRPC's HTTP handler's signature, that answers plain calls itself. */
export function createHttpCallHandler(options: HttpCallOptions) {
  const config = options.router._def._config;

  /** The call, or null for anything tRPC's handler must answer (see the top of this file). */
  async function plainCall(req: http.IncomingMessage): Promise<PlainCall | null> {
    const method = req.method;
    if (method !== "GET" && method !== "POST") return null;
    // tRPC picks its JSON handler for this content type, or for a GET without one.
    const contentType = req.headers["content-type"]?.toLowerCase().split(";", 1)[0]?.trim();
    if (contentType !== "application/json" && !(method === "GET" && contentType === undefined)) return null;
    // Streamed answers (httpBatchStreamLink).
    if (req.headers["trpc-accept"] !== undefined || req.headers.accept?.includes("application/jsonl")) return null;
    let url: URL;
    let path: string;
    try {
      url = new URL(req.url ?? "/", "http://localhost");
      path = decodeURIComponent(url.pathname.slice(options.basePath.length));
    } catch {
      return null;
    }
    const search = url.searchParams;
    if (search.has("connectionParams")) return null;
    const isBatch = search.get("batch") === "1";
    const paths = isBatch ? path.split(",") : [path];
    const procedures: AnyProcedure[] = [];
    for (const name of paths) {
      const procedure = await getProcedureAtPath(options.router, name);
      if (!procedure) return null;
      procedures.push(procedure);
    }
    const type = procedures[0]?._def.type;
    const fits = (type === "query" && method === "GET") || (type === "mutation" && method === "POST");
    if (!fits || procedures.some((p) => p._def.type !== type)) return null;
    return { method, type, isBatch, paths, procedures, queryInput: search.get("input") };
  }

  /**
   * The calls' inputs, read once when the first call asks (as tRPC does: a
   * call refused before it reads its input never waits for the body).
   * Failures are tRPC's: its own errors as they are, anything else
   * BAD_REQUEST with the cause's message.
   */
  function inputsOf(req: http.IncomingMessage, call: PlainCall): Inputs {
    let reading: Promise<Record<number, unknown>> | null = null;
    let value: Record<number, unknown> | undefined;
    const decode = async (): Promise<Record<number, unknown>> => {
      const raw: unknown = call.method === "GET" ? (call.queryInput ? JSON.parse(call.queryInput) : undefined) : JSON.parse(await readBody(req, options.maxBodySize));
      const out = Object.create(null) as Record<number, unknown>;
      if (raw === undefined) return out;
      if (!call.isBatch) {
        out[0] = config.transformer.input.deserialize(raw);
        return out;
      }
      if (!isObject(raw)) throw new TRPCError({ code: "BAD_REQUEST", message: '"input" needs to be an object when doing a batch call' });
      for (const index of call.paths.keys()) {
        const input = raw[index];
        if (input !== undefined) out[index] = config.transformer.input.deserialize(input);
      }
      return out;
    };
    return {
      read: () =>
        (reading ??= decode().then(
          (decoded) => (value = decoded),
          (cause: unknown) => {
            if (cause instanceof TRPCError) throw cause;
            throw new TRPCError({ code: "BAD_REQUEST", message: cause instanceof Error ? cause.message : "Invalid input", cause });
          },
        )),
      result: () => value,
    };
  }

  async function answer(req: http.IncomingMessage, res: http.ServerResponse, call: PlainCall): Promise<void> {
    // Aborted when the client goes away before the answer is sent, as tRPC's request signal is.
    const abort = new AbortController();
    const onClose = () => {
      if (!res.writableEnded) abort.abort();
    };
    res.once("close", onClose);
    const inputs = inputsOf(req, call);
    let ctx: Context | undefined;
    let ctxError: TRPCError | undefined;
    try {
      ctx = await options.createContext(req);
    } catch (cause) {
      ctxError = getTRPCErrorFromUnknown(cause);
    }
    const outcomes = await Promise.all(
      call.procedures.map(async (procedure, index): Promise<TRPCResponse> => {
        const path = call.paths[index] ?? "";
        try {
          if (ctxError) throw ctxError;
          const data: unknown = await procedure({
            path,
            getRawInput: async () => (await inputs.read())[index],
            ctx,
            type: call.type,
            signal: abort.signal,
            batchIndex: index,
          });
          if (isDataStream(data)) {
            throw new TRPCError({ code: "UNSUPPORTED_MEDIA_TYPE", message: "Cannot use stream-like response in non-streaming request - use httpBatchStreamLink" });
          }
          return { result: { data } };
        } catch (cause) {
          const error = getTRPCErrorFromUnknown(cause);
          return { error: getErrorShape({ config, ctx, error, input: inputs.result()?.[index], path, type: call.type }) };
        }
      }),
    );
    const body = JSON.stringify(transformTRPCResponse(config, call.isBatch ? outcomes : (outcomes[0] as TRPCResponse)));
    res.statusCode = getHTTPStatusCode(outcomes);
    res.setHeader("content-type", "application/json");
    res.setHeader("vary", "trpc-accept, accept");
    res.end(body);
    res.off("close", onClose);
  }

  /** tRPC's answer to a failure outside every call (its adapter's exception handler). */
  function fail(res: http.ServerResponse, cause: unknown): void {
    const error = getTRPCErrorFromUnknown(cause);
    const shape = getErrorShape({ config, error, type: "unknown", path: undefined, input: undefined, ctx: undefined });
    if (res.headersSent) {
      res.destroy();
      return;
    }
    res.statusCode = shape.data.httpStatus;
    res.end(JSON.stringify(transformTRPCResponse(config, { error: shape })));
  }

  return (req: http.IncomingMessage, res: http.ServerResponse): void => {
    plainCall(req).then(
      (call) => (call ? answer(req, res, call).catch((cause: unknown) => fail(res, cause)) : options.fallback(req, res)),
      (cause: unknown) => fail(res, cause),
    );
  };
}

/** tRPC's test for an answer that only a streaming response can carry. */
function isDataStream(value: unknown): boolean {
  if (!isObject(value)) return false;
  if (isAsyncIterable(value)) return true;
  const values = Object.values(value);
  return values.some(isPromise) || values.some(isAsyncIterable);
}

/**
 * The whole body as text, as a Fetch body's `json()` reads it (UTF-8, a
 * leading byte-order mark dropped). Past `maxBytes` it stops listening and
 * fails with PAYLOAD_TOO_LARGE, as tRPC's body stream does.
 */
function readBody(req: http.IncomingMessage, maxBytes: number): Promise<string> {
  if (req.readableEnded) {
    return Promise.reject(
      new TRPCError({
        code: "INTERNAL_SERVER_ERROR",
        message: "The request body has already been read by another middleware. Assign the parsed body to `req.body` so tRPC can use it",
      }),
    );
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size <= maxBytes) {
        chunks.push(chunk);
        return;
      }
      done();
      reject(new TRPCError({ code: "PAYLOAD_TOO_LARGE" }));
    };
    const onEnd = () => {
      done();
      resolve(utf8.decode(chunks.length === 1 ? chunks[0] : Buffer.concat(chunks)));
    };
    const onError = (error: Error) => {
      done();
      reject(error);
    };
    const done = () => {
      req.off("data", onData);
      req.off("end", onEnd);
      req.off("error", onError);
    };
    req.on("data", onData);
    req.on("end", onEnd);
    req.on("error", onError);
  });
}

const utf8 = new TextDecoder();
