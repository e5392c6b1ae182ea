"use client";
// The typed tRPC hooks for React: `useTRPC()` gives query/mutation/subscription
// options for TanStack Query, backed by the tab's one Parley client (the
// client package's React bindings; Providers sets them up).
export { useTRPC, useTRPCClient } from "@parley/client/react";
