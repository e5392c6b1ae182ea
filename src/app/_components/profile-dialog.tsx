"use client";
// The signed-in person's profile (Radix Dialog from their avatar in the
// header): the display name and avatar colour that posts, presence and typing
// show. Hidden for callers without a stored principal (PARLEY_AUTH=off).
import * as Dialog from "@radix-ui/react-dialog";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { X } from "lucide-react";
import { useState, type FormEvent } from "react";
import { Avatar } from "./avatar";
import { errorMessage, forceReconnect } from "./parley";
import { useTRPC } from "./trpc";
import { Button } from "./ui";

const PRESETS = ["#6366f1", "#0ea5e9", "#10b981", "#f59e0b", "#ef4444", "#ec4899", "#8b5cf6", "#64748b"];

export function ProfileDialog() {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const me = useQuery({ ...trpc.auth.me.queryOptions(), staleTime: 60_000, retry: false });
  const [open, setOpen] = useState(false);
  const [displayName, setDisplayName] = useState("");
  const [color, setColor] = useState<string | null>(null);
  const save = useMutation(
    trpc.auth.updateProfile.mutationOptions({
      onSuccess: async () => {
        // This tab's WebSocket authenticated under the old profile: reconnect (streams resume) so presence and typing show the new one.
        forceReconnect();
        await queryClient.invalidateQueries();
        setOpen(false);
      },
    }),
  );
  const profile = me.data?.profile;
  if (!me.data || !profile) return null;
  const submit = (e: FormEvent) => {
    e.preventDefault();
    save.mutate({ displayName: displayName.trim() ? displayName.trim() : null, avatarColor: color });
  };
  return (
    <Dialog.Root
      open={open}
      onOpenChange={(next) => {
        setOpen(next);
        if (next) {
          setDisplayName(profile.displayName ?? "");
          setColor(profile.avatarColor);
          save.reset();
        }
      }}
    >
      <Dialog.Trigger asChild>
        <button type="button" aria-label="Your profile" className="rounded-full ring-offset-2 ring-offset-panel hover:ring-2 hover:ring-accent">
          <Avatar id={me.data.id} name={me.data.name} color={profile.avatarColor} size={30} />
        </button>
      </Dialog.Trigger>
      <Dialog.Portal>
        <Dialog.Overlay className="fixed inset-0 z-40 bg-black/40 backdrop-blur-[2px]" />
        <Dialog.Content className="fixed top-[20%] left-1/2 z-50 w-[min(26rem,calc(100vw-2rem))] -translate-x-1/2 rounded-2xl border border-border bg-panel p-5 shadow-2xl">
          <div className="flex items-start justify-between gap-4">
            <div>
              <Dialog.Title className="text-base font-semibold">Your profile</Dialog.Title>
              <Dialog.Description className="mt-1 text-sm text-muted">How people see you in posts, presence and typing. Signed in as {profile.name}.</Dialog.Description>
            </div>
            <Dialog.Close aria-label="Close" className="rounded-md p-1 text-muted hover:bg-subtle hover:text-fg">
              <X size={16} />
            </Dialog.Close>
          </div>
          <form onSubmit={submit} className="mt-4 space-y-4">
            <div className="flex items-center gap-3">
              <Avatar id={me.data.id} name={displayName.trim() || profile.name} color={color} size={44} />
              <label className="block flex-1 text-sm font-medium">
                Display name
                <input
                  aria-label="Display name"
                  value={displayName}
                  maxLength={64}
                  onChange={(e) => setDisplayName(e.target.value)}
                  placeholder={profile.name}
                  className="mt-1.5 block h-10 w-full rounded-lg border border-border bg-bg px-3 text-sm font-normal outline-none focus:border-accent"
                />
              </label>
            </div>
            <fieldset>
              <legend className="text-sm font-medium">Avatar colour</legend>
              <div className="mt-2 flex flex-wrap items-center gap-2">
                {PRESETS.map((c) => (
                  <button
                    key={c}
                    type="button"
                    aria-label={`Colour ${c}`}
                    aria-pressed={color === c}
                    onClick={() => setColor(c)}
                    className={`h-7 w-7 rounded-full border-2 ${color === c ? "border-fg" : "border-transparent"}`}
                    style={{ background: c }}
                  />
                ))}
                <input aria-label="Custom colour" type="color" value={color ?? "#6366f1"} onChange={(e) => setColor(e.target.value)} className="h-7 w-10 rounded border border-border bg-bg" />
              </div>
            </fieldset>
            {save.error && (
              <p role="alert" className="text-sm text-red-600 dark:text-red-400">
                {errorMessage(save.error)}
              </p>
            )}
            <div className="flex justify-end gap-2">
              <Dialog.Close asChild>
                <Button variant="ghost">Cancel</Button>
              </Dialog.Close>
              <Button type="submit" variant="primary" disabled={save.isPending}>
                Save profile
              </Button>
            </div>
          </form>
        </Dialog.Content>
      </Dialog.Portal>
    </Dialog.Root>
  );
}
