// The V8 inspector of a child server process (started with
// `--inspect=127.0.0.1:0`), for measurements the process cannot make on
// itself: the heap that survives a full garbage collection.
import WebSocket from "ws";
import { z } from "zod";

const reply = z.object({ id: z.number(), result: z.unknown().optional(), error: z.object({ message: z.string() }).optional() });
const heapUsage = z.object({ usedSize: z.number(), totalSize: z.number() });

export interface Inspector {
  /** Collect garbage fully, then the bytes still in use on the JS heap. */
  liveHeapBytes: () => Promise<number>;
  close: () => void;
}

/** Connect to the inspector whose URL the process printed to `output`. */
export async function connectInspector(output: () => string): Promise<Inspector> {
  const url = /Debugger listening on (ws:\/\/\S+)/.exec(output())?.[1];
  if (!url) throw new Error(`no inspector URL in the output:\n${output()}`);
  const socket = new WebSocket(url);
  await new Promise<void>((resolve, reject) => {
    socket.once("open", () => resolve());
    socket.once("error", reject);
  });
  let nextId = 1;
  const pending = new Map<number, { resolve: (result: unknown) => void; reject: (error: Error) => void }>();
  socket.on("message", (data: Buffer) => {
    const parsed = reply.safeParse(JSON.parse(data.toString()));
    if (!parsed.success) return; // an event, not a reply
    const waiter = pending.get(parsed.data.id);
    pending.delete(parsed.data.id);
    if (parsed.data.error) waiter?.reject(new Error(parsed.data.error.message));
    else waiter?.resolve(parsed.data.result);
  });
  const call = (method: string): Promise<unknown> =>
    new Promise((resolve, reject) => {
      const id = nextId++;
      pending.set(id, { resolve, reject });
      socket.send(JSON.stringify({ id, method }));
    });
  return {
    async liveHeapBytes() {
      await call("HeapProfiler.collectGarbage");
      return heapUsage.parse(await call("Runtime.getHeapUsage")).usedSize;
    },
    close: () => socket.close(),
  };
}
