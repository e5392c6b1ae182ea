"use client";
// Who is in the session and who is typing: the client package's usePresence
// (session.presence over the tab's WebSocket; it restarts with a fresh `sync`
// after a reconnect).
export { usePresence, type PresenceMember, type TypingMark } from "@parley/client/react";
