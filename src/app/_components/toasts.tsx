"use client";
// Readable toasts (Radix Toast) for API errors and notices. `notifyError`
// shows the server's message; UNAUTHORIZED gets a link to /signin.
import * as Toast from "@radix-ui/react-toast";
import { X } from "lucide-react";
import { useSyncExternalStore } from "react";
import { errorCode, errorMessage } from "./parley";

interface ToastItem {
  id: number;
  title: string;
  description: string;
  tone: "error" | "info";
  signin: boolean;
}

let items: ToastItem[] = [];
let nextId = 0;
const listeners = new Set<() => void>();
const emit = () => listeners.forEach((l) => l());

export function notify(title: string, description = "", tone: ToastItem["tone"] = "info") {
  items = [...items.slice(-4), { id: ++nextId, title, description, tone, signin: false }];
  emit();
}

/** Show an API error: the server's message, and for UNAUTHORIZED a sign-in link. */
export function notifyError(title: string, error: unknown) {
  const code = errorCode(error);
  const unauthorized = code === "UNAUTHORIZED";
  const description = unauthorized ? "You need to sign in to do this." : errorMessage(error);
  items = [...items.slice(-4), { id: ++nextId, title, description, tone: "error", signin: unauthorized }];
  emit();
}

function dismiss(id: number) {
  items = items.filter((t) => t.id !== id);
  emit();
}

const store = {
  subscribe: (l: () => void) => {
    listeners.add(l);
    return () => listeners.delete(l);
  },
  get: () => items,
};

export function Toasts() {
  const list = useSyncExternalStore(store.subscribe, store.get, store.get);
  return (
    <Toast.Provider swipeDirection="right" duration={6000}>
      {list.map((t) => (
        <Toast.Root
          key={t.id}
          onOpenChange={(open) => !open && dismiss(t.id)}
          className={`grid grid-cols-[1fr_auto] gap-x-3 rounded-xl border p-3.5 shadow-lg data-[state=open]:animate-[toast-in_150ms_ease-out] ${
            t.tone === "error"
              ? "border-red-300 bg-red-50 text-red-950 dark:border-red-900 dark:bg-red-950 dark:text-red-50"
              : "border-border bg-panel text-fg"
          }`}
        >
          <Toast.Title className="text-sm font-semibold">{t.title}</Toast.Title>
          <Toast.Close aria-label="Dismiss" className="row-span-2 self-start rounded p-1 opacity-70 hover:opacity-100">
            <X size={14} />
          </Toast.Close>
          {t.description && (
            <Toast.Description className="mt-0.5 text-sm break-words opacity-90">
              {t.description}
              {t.signin && (
                <>
                  {" "}
                  <a href="/signin" className="font-medium underline">
                    Sign in
                  </a>
                </>
              )}
            </Toast.Description>
          )}
        </Toast.Root>
      ))}
      <Toast.Viewport className="fixed right-4 bottom-4 z-50 flex w-96 max-w-[calc(100vw-2rem)] flex-col gap-2 outline-none" />
    </Toast.Provider>
  );
}
