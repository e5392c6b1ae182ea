"use client";
// The browser's one Parley client (one WebSocket per tab), created lazily.
import { createParleyClient, type ParleyClient } from "../../client";

let client: ParleyClient | null = null;

export function parley(): ParleyClient {
  client ??= createParleyClient({ url: window.location.origin });
  return client;
}

export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
