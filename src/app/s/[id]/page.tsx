"use client";
// /s/[id]: one session (see session-view.tsx).
import { use } from "react";
import { SessionView } from "./session-view";

export default function SessionPage({ params }: { params: Promise<{ id: string }> }) {
  const { id } = use(params);
  return <SessionView key={id} id={id} />;
}
