// The page title of the admin view of open connections.
import type { Metadata } from "next";
import type { ReactNode } from "react";

export const metadata: Metadata = { title: "Connections" };

export default function Layout({ children }: { children: ReactNode }) {
  return children;
}
