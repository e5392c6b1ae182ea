"use client";
// The typed tRPC hooks for React: `useTRPC()` gives query/mutation/subscription
// options for TanStack Query, backed by the tab's one Parley client.
import { createTRPCContext } from "@trpc/tanstack-react-query";
import type { AppRouter } from "@parley/client";

export const { TRPCProvider, useTRPC, useTRPCClient } = createTRPCContext<AppRouter>();
