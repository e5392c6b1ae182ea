"use client";
// The session list: search, open, create.
import { useEffect, useState, type FormEvent } from "react";
import type { RouterOutputs } from "../client";
import { errorMessage, parley } from "./_components/parley";

type SessionItem = RouterOutputs["session"]["list"]["items"][number];

export default function SessionsPage() {
  const [sessions, setSessions] = useState<SessionItem[] | null>(null);
  const [title, setTitle] = useState("");
  const [error, setError] = useState<string | null>(null);

  useEffect(() => {
    parley()
      .api.session.list.query({ limit: 50 })
      .then((page) => setSessions(page.items), (e: unknown) => setError(errorMessage(e)));
  }, []);

  async function create(event: FormEvent) {
    event.preventDefault();
    try {
      const session = await parley().api.session.create.mutate({ title });
      window.location.assign(`/s/${session.id}`);
    } catch (e) {
      setError(errorMessage(e));
    }
  }

  return (
    <>
      <h1>Sessions</h1>
      <form className="row panel" onSubmit={(e) => void create(e)}>
        <input aria-label="New session title" placeholder="New session title" value={title} onChange={(e) => setTitle(e.target.value)} />
        <button type="submit" disabled={title.trim() === ""}>
          Create
        </button>
      </form>
      {error && <p className="error" role="alert">{error}</p>}
      {sessions === null && !error && <p className="muted">Loading…</p>}
      {sessions?.length === 0 && <p className="muted">No sessions yet. Create the first one above.</p>}
      <ul className="sessions">
        {sessions?.map((session) => (
          <li key={session.id}>
            <a href={`/s/${session.id}`}>
              <span>{session.title}</span>
              <span className="muted">{session.lastSeq} messages · {new Date(session.updatedAt).toLocaleString()}</span>
            </a>
          </li>
        ))}
      </ul>
    </>
  );
}
