// The page title of an invitation link.
import type { Metadata } from "next";
import type { ReactNode } from "react";

export const metadata: Metadata = { title: "Join a session" };

export default function Layout({ children }: { children: ReactNode }) {
  return children;
}
