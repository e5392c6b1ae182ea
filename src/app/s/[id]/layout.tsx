// The page title of one session (the session's own title replaces it once loaded).
import type { Metadata } from "next";
import type { ReactNode } from "react";

export const metadata: Metadata = { title: "Session" };

export default function Layout({ children }: { children: ReactNode }) {
  return children;
}
