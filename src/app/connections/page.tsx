"use client";
// /connections (admin): every open WebSocket of every instance with its subscriptions,
// traffic and buffered bytes, polled every second; disconnect one (it reconnects and resumes).
import { useMutation, useQuery } from "@tanstack/react-query";
import { Cable, Unplug } from "lucide-react";
import { errorMessage } from "../_components/parley";
import { notify } from "../_components/toasts";
import { useTRPC } from "../_components/trpc";
import { Button, Card, EmptyState, ErrorState, Loading, PageHeader, relativeTime } from "../_components/ui";

function bytes(n: number) {
  if (n < 1024) return `${n} B`;
  if (n < 1_048_576) return `${(n / 1024).toFixed(1)} KB`;
  return `${(n / 1_048_576).toFixed(1)} MB`;
}

export default function ConnectionsPage() {
  const trpc = useTRPC();
  const list = useQuery({ ...trpc.system.connections.queryOptions(), refetchInterval: 1_000, meta: { silent: true }, retry: false });
  const disconnect = useMutation(
    trpc.system.disconnect.mutationOptions({
      onSuccess: (r) => {
        notify("Disconnected", `${r.disconnected} was closed; its client will reconnect and resume.`);
        void list.refetch();
      },
    }),
  );
  const connections = list.data?.connections ?? [];
  return (
    <>
      <PageHeader
        title="Connections"
        description="Open WebSocket connections, refreshed every second. Disconnecting one closes it with code 4000; the client reconnects and resumes its streams."
        actions={
          <span className="text-sm text-muted tabular-nums">
            {list.data ? `${connections.length} open` : ""}
            {list.data && list.data.unanswered.length > 0 ? ` · no answer from ${list.data.unanswered.join(", ")}` : ""}
          </span>
        }
      />
      <Card className="overflow-x-auto">
        {list.isPending ? (
          <Loading label="Loading connections…" />
        ) : list.isError && !list.data ? (
          <ErrorState title="Could not list connections" message={errorMessage(list.error)} retry={() => void list.refetch()} />
        ) : connections.length === 0 ? (
          <EmptyState icon={<Cable size={20} />} title="No open connections" />
        ) : (
          <table className="w-full text-left text-sm">
            <thead className="border-b border-border text-xs text-muted">
              <tr>
                <th className="px-4 py-2.5 font-medium">Connection</th>
                <th className="px-4 py-2.5 font-medium">Subscriptions</th>
                <th className="px-4 py-2.5 text-right font-medium">In / out</th>
                <th className="px-4 py-2.5 text-right font-medium">Sent</th>
                <th className="px-4 py-2.5 text-right font-medium">Buffered</th>
                <th className="px-4 py-2.5" />
              </tr>
            </thead>
            <tbody className="divide-y divide-border">
              {connections.map((c) => (
                <tr key={`${c.instance}/${c.connectionId}`} data-testid="connection-row" className="align-top">
                  <td className="px-4 py-3">
                    <div className="font-medium">{c.principal.name}</div>
                    <div className="font-mono text-xs text-muted">
                      {c.connectionId} · <span data-testid="connection-instance">{c.instance}</span> · {c.clientAddress ?? "?"} · {relativeTime(c.connectedAt)}
                    </div>
                  </td>
                  <td className="px-4 py-3">
                    <div className="flex flex-wrap gap-1">
                      {c.subscriptions.length === 0 ? (
                        <span className="text-xs text-muted">none</span>
                      ) : (
                        c.subscriptions.map((s) => (
                          <span key={s.procedure} className="rounded-md bg-subtle px-1.5 py-0.5 font-mono text-xs">
                            {s.procedure}
                            {s.count > 1 ? ` ×${s.count}` : ""}
                          </span>
                        ))
                      )}
                    </div>
                  </td>
                  <td className="px-4 py-3 text-right tabular-nums">
                    {c.messagesIn} / {c.messagesOut}
                  </td>
                  <td className="px-4 py-3 text-right tabular-nums">{bytes(c.bytesOut)}</td>
                  <td className={`px-4 py-3 text-right tabular-nums ${c.bufferedAmount > 65_536 ? "font-semibold text-amber-600" : ""}`}>{bytes(c.bufferedAmount)}</td>
                  <td className="px-4 py-3 text-right">
                    <Button
                      size="sm"
                      variant="danger"
                      disabled={disconnect.isPending}
                      onClick={() => disconnect.mutate({ connectionId: c.connectionId, instance: c.instance })}
                      aria-label={`Disconnect ${c.connectionId}`}
                    >
                      <Unplug size={13} /> Disconnect
                    </Button>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </Card>
    </>
  );
}
