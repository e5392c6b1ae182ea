"use client";
// One session: messages live from `session.events` (resumes by itself after a
// reconnect), and a composer that posts.
import { use, useEffect, useState, type FormEvent } from "react";
import type { RouterOutputs } from "../../../client";
import { errorMessage, parley } from "../../_components/parley";

type Session = RouterOutputs["session"]["get"];
type Message = RouterOutputs["message"]["list"]["items"][number];

export default function SessionPage({ params }: { params: Promise<{ id: string }> }) {
  const { id } = use(params);
  const [session, setSession] = useState<Session | null>(null);
  const [messages, setMessages] = useState<Message[]>([]);
  const [draft, setDraft] = useState("");
  const [error, setError] = useState<string | null>(null);
  const [live, setLive] = useState(false);

  useEffect(() => {
    const client = parley();
    client.api.session.get.query({ id }).then(setSession, (e: unknown) => setError(errorMessage(e)));
    // The stream back-fills every event from the start, then follows live.
    const subscription = client.api.session.events.subscribe(
      { sessionId: id },
      {
        onStarted: () => setLive(true),
        onData: ({ data: event }) => {
          if (event.type === "stream.reset") setMessages([]);
          else if (event.type === "session.updated") setSession((s) => (s ? { ...s, ...event.session } : s));
          else if (event.type === "chat.snapshot" || event.type === "chat.delta") {
            // A running answer: a snapshot replaces its text, a delta continues it at `offset`.
            const chat = event;
            setMessages((list) =>
              list.map((m) =>
                m.id === chat.messageId ? { ...m, content: m.content.slice(0, chat.offset) + chat.text } : m,
              ),
            );
          } else {
            const message = event.message;
            setMessages((list) => {
              const index = list.findIndex((m) => m.id === message.id);
              if (index >= 0) return list.map((m, i) => (i === index ? message : m));
              return [...list, message].sort((a, b) => a.seq - b.seq);
            });
          }
        },
        onError: (e) => setError(errorMessage(e)),
        onConnectionStateChange: (state) => setLive(state.state === "pending"),
      },
    );
    return () => subscription.unsubscribe();
  }, [id]);

  async function post(event: FormEvent) {
    event.preventDefault();
    const content = draft;
    setDraft("");
    try {
      await parley().api.message.post.mutate({ sessionId: id, content, author: "web" });
    } catch (e) {
      setDraft(content);
      setError(errorMessage(e));
    }
  }

  return (
    <>
      <p>
        <a href="/">← Sessions</a>
      </p>
      <h1>{session?.title ?? "…"}</h1>
      <p className="muted" data-testid="live-state">
        {live ? "live" : "connecting…"}
      </p>
      {error && <p className="error" role="alert">{error}</p>}
      {messages.length === 0 && <p className="muted">No messages yet.</p>}
      <ol className="timeline" aria-label="Messages">
        {messages.map((message) => (
          <li key={message.id} className="message" data-seq={message.seq}>
            <header>
              <strong>{message.author}</strong>
              <span className="muted">{message.role}</span>
              <span className="muted">#{message.seq}</span>
              {message.status !== "complete" && <span className="status">{message.status}</span>}
            </header>
            <p>{message.content}</p>
          </li>
        ))}
      </ol>
      <form className="row panel" onSubmit={(e) => void post(e)}>
        <textarea
          aria-label="Message"
          placeholder="Write a message"
          rows={2}
          value={draft}
          onChange={(e) => setDraft(e.target.value)}
          onKeyDown={(e) => {
            if (e.key === "Enter" && !e.shiftKey) {
              e.preventDefault();
              e.currentTarget.form?.requestSubmit();
            }
          }}
        />
        <button type="submit" disabled={draft.trim() === ""}>
          Send
        </button>
      </form>
    </>
  );
}
