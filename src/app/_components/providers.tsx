"use client";
// TanStack Query + typed tRPC + tooltips + toasts for every page. Failed
// queries and mutations become toasts with the server's message.
import { MutationCache, QueryCache, QueryClient, QueryClientProvider } from "@tanstack/react-query";
import * as Tooltip from "@radix-ui/react-tooltip";
import { useState, type ReactNode } from "react";
import type { AppRouter } from "@parley/client";
import { createTRPCClient, type TRPCClient } from "@trpc/client";
import { parley } from "./parley";
import { notifyError, Toasts } from "./toasts";
import { TRPCProvider } from "./trpc";

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
  // The server render never calls the API: give it a client that is never used.
  const [trpcClient] = useState<TRPCClient<AppRouter>>(() =>
    typeof window === "undefined" ? createTRPCClient<AppRouter>({ links: [] }) : parley().api,
  );
  return (
    <QueryClientProvider client={queryClient}>
      <TRPCProvider trpcClient={trpcClient} queryClient={queryClient}>
        <Tooltip.Provider delayDuration={250}>
          {children}
          <Toasts />
        </Tooltip.Provider>
      </TRPCProvider>
    </QueryClientProvider>
  );
}
