// The per-subscriber rules of a session stream (realtime/subscription.ts), on
// their own: what a subscriber is sent for each event it is told about.
import { describe, expect, it } from "vitest";
import { SEE_EVERYTHING, SessionSubscription, type ActiveRunSnapshot, type MessageFilter } from "../src/server/realtime/subscription";

const noRuns = { activeRuns: (): ActiveRunSnapshot[] => [] };
const created = (id: string, visibility: "public" | "private" = "public", status = "complete", runId?: string) => ({
  type: "message.created",
  message: { id, visibility, authorId: null, status, metadata: runId ? { runId } : {} },
});
const delta = (runId: string, offset: number, text: string) => ({ type: "chat.delta" as const, runId, messageId: `m-${runId}`, offset, text });

describe("a session subscription", () => {
  it("sends the next seq, skips what it has, and catches up on a gap", () => {
    const sub = new SessionSubscription(SEE_EVERYTHING, noRuns, "s");
    expect(sub.start("2", 5)).toBeNull();
    expect(sub.persisted(2, created("a"))).toBe("skip");
    expect(sub.persisted(3, created("b"))).toBe("send");
    expect(sub.cursorId).toBe("3");
    expect(sub.persisted(5, created("c"))).toBe("catch-up");
    expect(sub.position).toBe(3);
    expect(sub.backfilled(4, created("d"))).toBe(true);
    expect(sub.persisted(5, created("c"))).toBe("send");
  });

  it("resets a lastEventId that cannot be this stream's, and starts from the beginning", () => {
    for (const id of ["9", "x"]) {
      const sub = new SessionSubscription(SEE_EVERYTHING, noRuns, "s");
      expect(sub.start(id, 4)).toMatchObject({ type: "stream.reset", lastEventSeq: 4 });
      expect(sub.position).toBe(0);
    }
  });

  it("hides events about messages the subscriber may not see, keeping ids consecutive", () => {
    const publicOnly: MessageFilter = (m) => m.visibility === "public";
    const sub = new SessionSubscription(publicOnly, noRuns, "s");
    expect(sub.persisted(1, created("a", "private"))).toBe("hide");
    expect(sub.persisted(2, created("b"))).toBe("send");
    expect(sub.backfilled(3, created("c", "private"))).toBe(false);
    expect(sub.cursorId).toBe("3");
  });

  it("sends deltas that continue the text, trims overlaps, asks for a snapshot on a gap, drops finished runs", () => {
    const sub = new SessionSubscription(SEE_EVERYTHING, noRuns, "s");
    expect(sub.chat(delta("r", 0, "ab"))).toBe("send");
    expect(sub.chat(delta("r", 1, "bcd"))).toBe("send-trimmed");
    expect(sub.trimmed).toMatchObject({ offset: 2, text: "cd" });
    expect(sub.chat(delta("r", 0, "abcd"))).toBe("skip");
    expect(sub.chat(delta("r", 9, "z"))).toBe("snapshot");
    expect(sub.persisted(1, { type: "message.updated", message: { id: "m-r", visibility: "public", authorId: null, status: "complete", metadata: { runId: "r" } } })).toBe("send");
    expect(sub.chat(delta("r", 4, "e"))).toBe("skip");
  });

  it("snapshots the running answers it has read the start of and may see, and follows on from them", () => {
    const runs = {
      activeRuns: (): ActiveRunSnapshot[] => [
        { runId: "r1", messageId: "m-r1", createdEventSeq: 1, text: "hello", visibility: "public", authorId: null },
        { runId: "r2", messageId: "m-r2", createdEventSeq: 2, text: "secret", visibility: "private", authorId: "other" },
        { runId: "r3", messageId: "m-r3", createdEventSeq: 9, text: "later", visibility: "public", authorId: null },
      ],
    };
    const sub = new SessionSubscription((m) => m.visibility === "public", runs, "s");
    sub.start("2", 9);
    expect(sub.snapshots().map((s) => [s.runId, s.text])).toEqual([["r1", "hello"]]);
    expect(sub.chat(delta("r1", 5, "!"))).toBe("send");
    // A run the subscriber may not see: its text never reaches it.
    expect(sub.chat(delta("r2", 6, "!"))).toBe("skip");
  });
});
