import type { Metadata } from "next";
import type { ReactNode } from "react";
import { AppShell } from "./_components/app-shell";
import { Providers } from "./_components/providers";
import "./globals.css";

export const metadata: Metadata = {
  // Each page names itself (its segment's layout.tsx, or the session's title): "Metrics · Parley".
  title: { default: "Sessions · Parley", template: "%s · Parley" },
  description: "A real-time hub for AI-agent work: sessions, messages and live streams.",
};

export default function RootLayout({ children }: { children: ReactNode }) {
  return (
    <html lang="en">
      <body>
        <Providers>
          <AppShell>{children}</AppShell>
        </Providers>
      </body>
    </html>
  );
}
