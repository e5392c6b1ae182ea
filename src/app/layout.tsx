import type { Metadata } from "next";
import type { ReactNode } from "react";
import "./globals.css";

export const metadata: Metadata = {
  title: "Parley",
  description: "A real-time hub for AI-agent work: sessions, messages and live streams.",
};

export default function RootLayout({ children }: { children: ReactNode }) {
  return (
    <html lang="en">
      <body>
        <header className="topbar">
          <a href="/" className="brand">
            Parley
          </a>
        </header>
        <main className="page">{children}</main>
      </body>
    </html>
  );
}
