// The checks /diagnostics runs: each resolves to a result a person can read,
// never throws.
import { createParleyClient } from "@parley/client";
import { forceReconnect, parley, parleyBrowser } from "../_components/parley";

export interface CheckResult {
  ok: boolean;
  summary: string;
  details?: string[];
}

const timeout = <T,>(promise: Promise<T>, ms: number, what: string) =>
  Promise.race([promise, new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`${what}: no answer in ${ms / 1000} s`)), ms))]);

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0;

async function rtt(call: () => Promise<unknown>, n = 5): Promise<number[]> {
  const times: number[] = [];
  for (let i = 0; i < n; i++) {
    const start = performance.now();
    await call();
    times.push(performance.now() - start);
  }
  return times;
}

export async function checkWebSocket(): Promise<CheckResult> {
  try {
    const { wsApi } = parleyBrowser();
    const times = await timeout(rtt(() => wsApi.system.ping.mutate()), 10_000, "ping over WebSocket");
    return { ok: true, summary: `reachable · ping ${median(times).toFixed(1)} ms median`, details: [`5 round trips: ${times.map((t) => t.toFixed(1)).join(", ")} ms`] };
  } catch (error) {
    return { ok: false, summary: error instanceof Error ? error.message : String(error) };
  }
}

export async function checkHttp(): Promise<CheckResult> {
  try {
    const times = await timeout(rtt(() => parley().api.system.ping.mutate()), 10_000, "ping over HTTP");
    return { ok: true, summary: `reachable · ping ${median(times).toFixed(1)} ms median`, details: [`5 round trips: ${times.map((t) => t.toFixed(1)).join(", ")} ms`] };
  } catch (error) {
    return { ok: false, summary: error instanceof Error ? error.message : String(error) };
  }
}

/** Open an SSE subscription (the fallback transport) and wait until the server has started it. */
export async function checkSse(): Promise<CheckResult> {
  const sse = createParleyClient({ url: window.location.origin, transport: "sse" });
  const start = performance.now();
  try {
    await timeout(
      new Promise<void>((resolve, reject) => {
        const sub = sse.api.events.subscribe.subscribe(
          { replay: 0 },
          {
            onStarted: () => {
              sub.unsubscribe();
              resolve();
            },
            onError: (e) => reject(e instanceof Error ? e : new Error(String(e))),
          },
        );
      }),
      10_000,
      "SSE subscription",
    );
    return { ok: true, summary: `reachable · stream opened in ${(performance.now() - start).toFixed(0)} ms` };
  } catch (error) {
    return { ok: false, summary: error instanceof Error ? error.message : String(error) };
  } finally {
    await sse.close();
  }
}

/**
 * Follow a scratch session, post, force the WebSocket to reconnect, post while
 * it is down, post after: the tracked ids must continue with no gap and no
 * duplicate. The scratch session is archived afterwards.
 */
export async function checkResume(): Promise<CheckResult> {
  const { api } = parley();
  const details: string[] = [];
  const session = await api.session.create.mutate({ title: `Diagnostics ${new Date().toLocaleTimeString()}` });
  const seen: { id: number; content: string }[] = [];
  let waiters: (() => void)[] = [];
  const sub = api.session.events.subscribe(
    { sessionId: session.id },
    {
      onData: ({ id, data }) => {
        if (data.type === "message.created") seen.push({ id: Number(id), content: data.message.content });
        waiters.forEach((w) => w());
      },
    },
  );
  const waitFor = (content: string) =>
    timeout(
      new Promise<void>((resolve) => {
        const check = () => seen.some((s) => s.content === content) && resolve();
        waiters.push(check);
        check();
      }),
      15_000,
      `event for “${content}”`,
    );
  try {
    await api.message.post.mutate({ sessionId: session.id, content: "before", author: "diagnostics" });
    await waitFor("before");
    details.push(`received “before” as event ${seen.at(-1)?.id}`);
    const reconnectStart = performance.now();
    forceReconnect();
    details.push("closed the WebSocket");
    await api.message.post.mutate({ sessionId: session.id, content: "during", author: "diagnostics" });
    await waitFor("during");
    details.push(`resumed: “during” arrived as event ${seen.at(-1)?.id} after ${(performance.now() - reconnectStart).toFixed(0)} ms`);
    await api.message.post.mutate({ sessionId: session.id, content: "after", author: "diagnostics" });
    await waitFor("after");
    const ids = seen.map((s) => s.id);
    const contents = seen.map((s) => s.content);
    const continuous = ids.every((id, i) => i === 0 || id === ids[i - 1]! + 1);
    const once = contents.length === 3 && contents.join() === "before,during,after";
    details.push(`event ids: ${ids.join(", ")}`);
    return {
      ok: continuous && once,
      summary: continuous && once ? "resumed with no gap and no duplicate" : `ids ${ids.join(", ")} for ${contents.join(", ")}`,
      details,
    };
  } catch (error) {
    return { ok: false, summary: error instanceof Error ? error.message : String(error), details };
  } finally {
    sub.unsubscribe();
    waiters = [];
    await api.session.update.mutate({ id: session.id, archived: true }).catch(() => undefined);
  }
}
