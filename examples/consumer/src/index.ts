// A program outside Parley's repository using the built SDK: it creates a
// session, posts, reads the event back with tail, asks the session's agent
// and prints one JSON line with what it saw. PARLEY_URL, PARLEY_TOKEN.
import { createParleyClient, type Message, type SessionEvent } from "@parley/client";

const parley = createParleyClient({ url: process.env.PARLEY_URL ?? "http://127.0.0.1:3000", token: process.env.PARLEY_TOKEN || undefined });

try {
  const session = await parley.api.session.create.mutate({ title: "from the consumer example" });
  const posted: Message = await parley.api.message.post.mutate({ sessionId: session.id, content: "The demo is at 15:00.", author: "consumer" });

  let firstEvent: SessionEvent | undefined;
  const stop = new AbortController();
  for await (const { event } of parley.tail(session.id, { signal: stop.signal })) {
    firstEvent = event;
    stop.abort();
  }

  let streamed = "";
  let answer: Message | undefined;
  for await (const item of parley.ask(session.id, "When is the demo?")) {
    if (item.type === "delta") streamed += item.text;
    else answer = item.message;
  }

  console.log(
    JSON.stringify({
      sessionId: session.id,
      postedSeq: posted.seq,
      firstEventType: firstEvent?.type,
      answerStatus: answer?.status,
      streamedMatchesAnswer: answer !== undefined && streamed === answer.content,
    }),
  );
} finally {
  await parley.close();
}
