// The page title of the live typed-event log.
import type { Metadata } from "next";
import type { ReactNode } from "react";

export const metadata: Metadata = { title: "Events" };

export default function Layout({ children }: { children: ReactNode }) {
  return children;
}
