// The page title of the memory store.
import type { Metadata } from "next";
import type { ReactNode } from "react";

export const metadata: Metadata = { title: "Memory" };

export default function Layout({ children }: { children: ReactNode }) {
  return children;
}
