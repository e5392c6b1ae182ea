// A page that uses @parley/client/react the way an app would: one client in a
// ParleyProvider, and a component on useConnectionState, useSessionTail,
// useAsk and usePresence that renders what they return. tests/browser-react-hooks.test.ts
// bundles it with esbuild and opens it in Chromium on the server's origin.
import { QueryClient } from "@tanstack/react-query";
import { createParleyClient } from "@parley/client";
import { ParleyProvider, useAsk, useConnectionState, usePresence, useSessionTail } from "@parley/client/react";
import { useState } from "react";
import { createRoot } from "react-dom/client";

function Probe({ sessionId }: { sessionId: string }) {
  const connection = useConnectionState();
  const tail = useSessionTail(sessionId);
  const answer = useAsk(sessionId);
  const presence = usePresence(sessionId);
  // Whether the page ever rendered part of the answer before it was done (it streamed).
  const [streamed, setStreamed] = useState(false);
  if (answer.status === "streaming" && answer.text.length > 0 && !streamed) setStreamed(true);
  return (
    <main>
      <span data-testid="connection">{connection.state}</span>
      <ol data-testid="events">
        {tail.items.map((item) => (
          <li key={`${item.id}:${item.event.type}`}>{item.event.type === "message.created" ? `${item.event.type} ${item.event.message.content}` : item.event.type}</li>
        ))}
      </ol>
      <button type="button" onClick={() => answer.ask("When is the demo?")}>
        ask
      </button>
      <span data-testid="ask-status">{answer.status}</span>
      <span data-testid="ask-message">{answer.message?.status ?? ""}</span>
      <pre data-testid="ask-text">{answer.text}</pre>
      <span data-testid="ask-streamed">{streamed ? "yes" : "no"}</span>
      <span data-testid="presence">{presence.members.map((m) => m.name).join(",")}</span>
    </main>
  );
}

const client = createParleyClient({ url: window.location.origin, name: "hooks-probe", lazy: false });
const root = document.getElementById("root");
if (root) {
  createRoot(root).render(
    <ParleyProvider client={client} queryClient={new QueryClient()}>
      <Probe sessionId={window.location.hash.slice(1)} />
    </ParleyProvider>,
  );
}
