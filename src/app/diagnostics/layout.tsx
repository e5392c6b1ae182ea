// The page title of transport checks.
import type { Metadata } from "next";
import type { ReactNode } from "react";

export const metadata: Metadata = { title: "Diagnostics" };

export default function Layout({ children }: { children: ReactNode }) {
  return children;
}
