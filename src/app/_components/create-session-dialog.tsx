"use client";
// "New session" (Radix Dialog): a title, then straight into the session.
import * as Dialog from "@radix-ui/react-dialog";
import { useMutation, useQueryClient } from "@tanstack/react-query";
import { Plus, X } from "lucide-react";
import { useRouter } from "next/navigation";
import { useEffect, useState, type FormEvent } from "react";
import { useTRPC } from "./trpc";
import { Button } from "./ui";

export function CreateSessionDialog() {
  const trpc = useTRPC();
  const router = useRouter();
  const queryClient = useQueryClient();
  const [open, setOpen] = useState(false);
  const [title, setTitle] = useState("");
  const create = useMutation(
    trpc.session.create.mutationOptions({
      onSuccess: async (session) => {
        await queryClient.invalidateQueries({ queryKey: trpc.session.list.queryKey() });
        setOpen(false);
        setTitle("");
        router.push(`/s/${session.id}`);
      },
    }),
  );

  // "c" anywhere on the page (outside a text field) opens the dialog.
  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      const target = e.target as HTMLElement | null;
      if (e.key !== "c" || e.metaKey || e.ctrlKey || e.altKey) return;
      if (target && (target.isContentEditable || ["INPUT", "TEXTAREA", "SELECT"].includes(target.tagName))) return;
      e.preventDefault();
      setOpen(true);
    };
    window.addEventListener("keydown", onKey);
    return () => window.removeEventListener("keydown", onKey);
  }, []);

  const submit = (e: FormEvent) => {
    e.preventDefault();
    if (title.trim()) create.mutate({ title });
  };

  return (
    <Dialog.Root open={open} onOpenChange={setOpen}>
      <Dialog.Trigger asChild>
        <Button variant="primary" aria-keyshortcuts="c">
          <Plus size={16} aria-hidden /> New session
        </Button>
      </Dialog.Trigger>
      <Dialog.Portal>
        <Dialog.Overlay className="fixed inset-0 z-40 bg-black/40 backdrop-blur-[2px]" />
        <Dialog.Content className="fixed top-[20%] left-1/2 z-50 w-[min(28rem,calc(100vw-2rem))] -translate-x-1/2 rounded-2xl border border-border bg-panel p-5 shadow-2xl">
          <div className="flex items-start justify-between gap-4">
            <div>
              <Dialog.Title className="text-base font-semibold">New session</Dialog.Title>
              <Dialog.Description className="mt-1 text-sm text-muted">
                A shared space for people and agents. You can rename it later.
              </Dialog.Description>
            </div>
            <Dialog.Close aria-label="Close" className="rounded-md p-1 text-muted hover:bg-subtle hover:text-fg">
              <X size={16} />
            </Dialog.Close>
          </div>
          <form onSubmit={submit} className="mt-4 space-y-4">
            <label className="block text-sm font-medium">
              Title
              <input
                autoFocus
                aria-label="New session title"
                value={title}
                maxLength={200}
                onChange={(e) => setTitle(e.target.value)}
                placeholder="e.g. Planning the launch"
                className="mt-1.5 block h-10 w-full rounded-lg border border-border bg-bg px-3 text-sm font-normal outline-none focus:border-accent"
              />
            </label>
            <div className="flex justify-end gap-2">
              <Dialog.Close asChild>
                <Button variant="ghost">Cancel</Button>
              </Dialog.Close>
              <Button type="submit" variant="primary" disabled={!title.trim() || create.isPending}>
                {create.isPending ? "Creating…" : "Create"}
              </Button>
            </div>
          </form>
        </Dialog.Content>
      </Dialog.Portal>
    </Dialog.Root>
  );
}
