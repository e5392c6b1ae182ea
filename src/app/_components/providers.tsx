"use client";
// The client package's provider (TanStack Query + typed tRPC + the SDK hooks), tooltips and toasts for every page. Failed
// queries and mutations become toasts with the server's message.
import { MutationCache, QueryCache, QueryClient } from "@tanstack/react-query";
import * as Tooltip from "@radix-ui/react-tooltip";
import { ParleyProvider } from "@parley/client/react";
import { useState, type ReactNode } from "react";
import { parley } from "./parley";
import { notifyError, Toasts } from "./toasts";

function makeQueryClient() {
  return new QueryClient({
    queryCache: new QueryCache({
      onError: (error, query) => {
        // Background refetches that fail keep the old data; say so once per query.
        if (query.meta?.silent) return;
        notifyError("Could not load data", error);
      },
    }),
    mutationCache: new MutationCache({
      onError: (error, _vars, _ctx, mutation) => {
        if (mutation.meta?.silent) return;
        notifyError("The request failed", error);
      },
    }),
    defaultOptions: {
      queries: { staleTime: 2_000, retry: 1, refetchOnWindowFocus: false },
    },
  });
}

export function Providers({ children }: { children: ReactNode }) {
  const [queryClient] = useState(makeQueryClient);
  // The server render never calls the API: it gets no client (the hooks stay idle).
  const [client] = useState(() => (typeof window === "undefined" ? null : parley()));
  return (
    <ParleyProvider client={client} queryClient={queryClient}>
      <Tooltip.Provider delayDuration={250}>
        {children}
        <Toasts />
      </Tooltip.Provider>
    </ParleyProvider>
  );
}
