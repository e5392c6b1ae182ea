// The page title of the live metrics charts.
import type { Metadata } from "next";
import type { ReactNode } from "react";

export const metadata: Metadata = { title: "Metrics" };

export default function Layout({ children }: { children: ReactNode }) {
  return children;
}
