"use client";
// The frame of every page: brand, navigation and the connection badge.
import { Activity, Brain, Cable, MessagesSquare, Radio, Stethoscope } from "lucide-react";
import Link from "next/link";
import { usePathname } from "next/navigation";
import type { ReactNode } from "react";
import { ConnectionBadge } from "./connection-badge";
import { GlobalSearch } from "./global-search";
import { ProfileDialog } from "./profile-dialog";

const nav = [
  { href: "/", label: "Sessions", icon: MessagesSquare, match: (p: string) => p === "/" || p.startsWith("/s/") },
  { href: "/memory", label: "Memory", icon: Brain, match: (p: string) => p.startsWith("/memory") },
  { href: "/metrics", label: "Metrics", icon: Activity, match: (p: string) => p.startsWith("/metrics") },
  { href: "/events", label: "Events", icon: Radio, match: (p: string) => p.startsWith("/events") },
  { href: "/connections", label: "Connections", icon: Cable, match: (p: string) => p.startsWith("/connections") },
  { href: "/diagnostics", label: "Diagnostics", icon: Stethoscope, match: (p: string) => p.startsWith("/diagnostics") },
];

export function AppShell({ children }: { children: ReactNode }) {
  const pathname = usePathname() ?? "/";
  return (
    <div className="flex min-h-full flex-col">
      <header className="sticky top-0 z-30 border-b border-border bg-panel/90 backdrop-blur">
        <div className="mx-auto flex h-14 max-w-6xl items-center gap-4 px-4">
          <Link href="/" className="flex items-center gap-2 font-semibold tracking-tight text-fg">
            <span className="grid h-7 w-7 place-items-center rounded-lg bg-accent text-sm font-bold text-accent-fg">P</span>
            Parley
          </Link>
          <nav aria-label="Main" className="flex min-w-0 flex-1 items-center gap-1 overflow-x-auto">
            {nav.map(({ href, label, icon: Icon, match }) => {
              const active = match(pathname);
              return (
                <Link
                  key={href}
                  href={href}
                  aria-current={active ? "page" : undefined}
                  className={`flex items-center gap-1.5 rounded-md px-2.5 py-1.5 text-sm whitespace-nowrap transition-colors ${
                    active ? "bg-subtle font-medium text-fg" : "text-muted hover:bg-subtle hover:text-fg"
                  }`}
                >
                  <Icon size={15} aria-hidden />
                  <span className="hidden sm:inline">{label}</span>
                </Link>
              );
            })}
          </nav>
          <GlobalSearch />
          <ConnectionBadge />
          <ProfileDialog />
        </div>
      </header>
      <main className="mx-auto flex w-full max-w-6xl min-h-0 flex-1 flex-col px-4 py-6">{children}</main>
    </div>
  );
}
