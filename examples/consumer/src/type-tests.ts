// Compile-time checks that Parley's router types reach this project: each
// expect-error directive below must find an error, or `tsc` fails ("Unused
// '@ts-expect-error' directive"), so an SDK whose types degraded to `any`
// fails this project's typecheck.
import type { ChatSendInput, ParleyClient, RouterInputs, RouterOutputs, SessionEvent } from "@parley/client";

export async function typeTests(parley: ParleyClient): Promise<void> {
  // @ts-expect-error: there is no procedure session.creat (a typo of session.create)
  await parley.api.session.creat.mutate({ title: "typo" });

  // @ts-expect-error: title must be a string
  await parley.api.session.create.mutate({ title: 42 });

  // @ts-expect-error: message.post needs a sessionId
  await parley.api.message.post.mutate({ content: "no session" });

  // @ts-expect-error: a query, not a mutation
  await parley.api.session.get.mutate({ id: "s" });

  const details = await parley.api.session.get.query({ id: "s" });
  const lastSeq: number = details.lastSeq;
  // @ts-expect-error: lastSeq is a number
  const wrong: string = details.lastSeq;

  const input: ChatSendInput = { sessionId: "s", content: "hi" };
  const list: RouterInputs["session"]["list"] = { limit: 10 };
  const page: RouterOutputs["session"]["list"] = await parley.api.session.list.query(list);
  void [lastSeq, wrong, input, page.items.map((s) => s.title)];

  for await (const { event } of parley.tail("s")) {
    const e: SessionEvent = event;
    if (e.type === "message.created") {
      const seq: number = e.message.seq;
      void seq;
    }
    // @ts-expect-error: not an event type of session.events
    if (e.type === "message.exploded") return;
  }
}
