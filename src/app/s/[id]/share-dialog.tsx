"use client";
// Sharing a session (Radix Dialog): its owner and members with their roles
// (changed and removed by the owner and admins), inviting a person by name,
// invitation links (created, copied once, revoked), and leaving the session.
import * as Dialog from "@radix-ui/react-dialog";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { Copy, Link2, LogOut, Trash2, UserPlus, Users, X } from "lucide-react";
import { useRouter } from "next/navigation";
import { useState, type FormEvent } from "react";
import { inviteRoles } from "../../../shared/schemas";
import { Avatar } from "../../_components/avatar";
import { errorMessage } from "../../_components/parley";
import { notifyError } from "../../_components/toasts";
import { useTRPC } from "../../_components/trpc";
import { Button } from "../../_components/ui";
import type { Session } from "./session-stream";

type InviteRole = (typeof inviteRoles)[number];
const field = "h-9 rounded-lg border border-border bg-bg px-2.5 text-sm outline-none focus:border-accent";

function RoleSelect({ value, onChange, label }: { value: string; onChange: (role: InviteRole) => void; label: string }) {
  return (
    <select aria-label={label} value={value} onChange={(e) => onChange(e.target.value as InviteRole)} className={field}>
      {inviteRoles.map((r) => (
        <option key={r} value={r}>
          {r}
        </option>
      ))}
      {!(inviteRoles as readonly string[]).includes(value) && <option value={value}>{value}</option>}
    </select>
  );
}

export function ShareDialog({ session, meId, manage }: { session: Session; meId: string | null; manage: boolean }) {
  const trpc = useTRPC();
  const router = useRouter();
  const queryClient = useQueryClient();
  const [open, setOpen] = useState(false);
  const [name, setName] = useState("");
  const [role, setRole] = useState<InviteRole>("member");
  const [linkRole, setLinkRole] = useState<InviteRole>("member");
  const [newLink, setNewLink] = useState<string | null>(null);
  const [problem, setProblem] = useState<string | null>(null);
  const members = useQuery({ ...trpc.session.members.queryOptions({ sessionId: session.id }), enabled: open });
  const invites = useQuery({ ...trpc.session.invites.queryOptions({ sessionId: session.id }), enabled: open && manage });
  const refresh = async () => {
    await queryClient.invalidateQueries({ queryKey: trpc.session.members.queryKey({ sessionId: session.id }) });
    await queryClient.invalidateQueries({ queryKey: trpc.session.invites.queryKey({ sessionId: session.id }) });
  };
  const onError = (error: unknown) => setProblem(errorMessage(error));
  const invite = useMutation(
    trpc.session.inviteByName.mutationOptions({
      onSuccess: async () => {
        setName("");
        setProblem(null);
        await refresh();
      },
      onError,
    }),
  );
  const setMemberRole = useMutation(trpc.session.addMember.mutationOptions({ onSuccess: refresh, onError }));
  const remove = useMutation(trpc.session.removeMember.mutationOptions({ onSuccess: refresh, onError }));
  const createLink = useMutation(
    trpc.session.createInvite.mutationOptions({
      onSuccess: async (created) => {
        setNewLink(`${window.location.origin}${created.path}`);
        await refresh();
      },
      onError,
    }),
  );
  const revoke = useMutation(trpc.session.revokeInvite.mutationOptions({ onSuccess: refresh, onError }));
  const leave = useMutation(
    trpc.session.leave.mutationOptions({
      onSuccess: () => router.push("/"),
      onError: (error) => notifyError("Could not leave the session", error),
    }),
  );
  const isOwner = meId !== null && session.ownerId === meId;
  const isMember = members.data?.some((m) => m.principalId === meId) ?? false;

  const submit = (e: FormEvent) => {
    e.preventDefault();
    if (name.trim()) invite.mutate({ sessionId: session.id, name, role });
  };

  return (
    <Dialog.Root
      open={open}
      onOpenChange={(next) => {
        setOpen(next);
        setNewLink(null);
        setProblem(null);
      }}
    >
      <Dialog.Trigger asChild>
        <Button variant="secondary" size="sm">
          <Users size={14} aria-hidden /> Share
        </Button>
      </Dialog.Trigger>
      <Dialog.Portal>
        <Dialog.Overlay className="fixed inset-0 z-40 bg-black/40 backdrop-blur-[2px]" />
        <Dialog.Content className="fixed top-[10%] left-1/2 z-50 max-h-[80vh] w-[min(34rem,calc(100vw-2rem))] -translate-x-1/2 overflow-y-auto rounded-2xl border border-border bg-panel p-5 shadow-2xl">
          <div className="flex items-start justify-between gap-4">
            <div>
              <Dialog.Title className="text-base font-semibold">Share “{session.title}”</Dialog.Title>
              <Dialog.Description className="mt-1 text-sm text-muted">
                {manage ? "Invite people by name or with a link, and choose what they may do." : "Who is in this session."}
              </Dialog.Description>
            </div>
            <Dialog.Close aria-label="Close" className="rounded-md p-1 text-muted hover:bg-subtle hover:text-fg">
              <X size={16} />
            </Dialog.Close>
          </div>

          {problem && (
            <p role="alert" className="mt-3 rounded-lg border border-red-300 bg-red-50 px-3 py-2 text-sm text-red-900 dark:border-red-900 dark:bg-red-950 dark:text-red-100">
              {problem}
            </p>
          )}

          {manage && (
            <form onSubmit={submit} className="mt-4 flex gap-2">
              <input aria-label="Invite by name" value={name} onChange={(e) => setName(e.target.value)} placeholder="A person's name" className={`${field} min-w-0 flex-1`} />
              <RoleSelect label="Role for the invited person" value={role} onChange={setRole} />
              <Button type="submit" variant="primary" size="sm" disabled={!name.trim() || invite.isPending}>
                <UserPlus size={14} aria-hidden /> Invite
              </Button>
            </form>
          )}

          <h3 className="mt-5 mb-2 text-xs font-semibold tracking-wide text-muted uppercase">People</h3>
          <ul className="space-y-1.5" data-testid="members">
            {session.owner && (
              <li className="flex items-center gap-2.5 text-sm" data-testid="member">
                <Avatar id={session.owner.id} name={session.owner.displayName ?? session.owner.name} color={session.owner.avatarColor} size={28} />
                <span className="flex-1 font-medium">{session.owner.displayName ?? session.owner.name}</span>
                <span className="text-xs text-muted">owner</span>
              </li>
            )}
            {members.data?.map((m) => {
              const shown = m.principal.displayName ?? m.principal.name;
              return (
                <li key={m.principalId} className="flex items-center gap-2.5 text-sm" data-testid="member" data-principal-id={m.principalId}>
                  <Avatar id={m.principalId} name={shown} color={m.principal.avatarColor} size={28} />
                  <span className="flex-1 font-medium">
                    {shown}
                    {m.principalId === meId && <span className="ml-1 text-xs font-normal text-muted">(you)</span>}
                  </span>
                  {manage ? (
                    <>
                      <RoleSelect
                        label={`Role of ${shown}`}
                        value={m.role}
                        onChange={(next) => setMemberRole.mutate({ sessionId: session.id, principalId: m.principalId, role: next })}
                      />
                      <button
                        type="button"
                        aria-label={`Remove ${shown}`}
                        onClick={() => remove.mutate({ sessionId: session.id, principalId: m.principalId })}
                        className="rounded p-1.5 text-muted hover:bg-subtle hover:text-red-500"
                      >
                        <Trash2 size={14} />
                      </button>
                    </>
                  ) : (
                    <span className="text-xs text-muted" data-testid="member-role">
                      {m.role}
                    </span>
                  )}
                </li>
              );
            })}
          </ul>

          {manage && (
            <>
              <h3 className="mt-5 mb-2 text-xs font-semibold tracking-wide text-muted uppercase">Invitation links</h3>
              <div className="flex gap-2">
                <RoleSelect label="Role for the link" value={linkRole} onChange={setLinkRole} />
                <Button variant="secondary" size="sm" onClick={() => createLink.mutate({ sessionId: session.id, role: linkRole })}>
                  <Link2 size={14} aria-hidden /> Create link
                </Button>
              </div>
              {newLink && (
                <div className="mt-2 flex items-center gap-2 rounded-lg border border-accent/60 bg-subtle/60 p-2 text-xs">
                  <code data-testid="new-invite-link" className="min-w-0 flex-1 truncate">
                    {newLink}
                  </code>
                  <button type="button" aria-label="Copy link" onClick={() => void navigator.clipboard?.writeText(newLink)} className="rounded p-1 hover:bg-subtle">
                    <Copy size={13} />
                  </button>
                </div>
              )}
              <p className="mt-1 text-xs text-muted">A link is shown once. Anyone signed in who opens it joins with its role until you revoke it.</p>
              <ul className="mt-2 space-y-1" data-testid="invites">
                {invites.data?.map((inv) => (
                  <li key={inv.id} data-testid="invite" className="flex items-center gap-2 text-xs">
                    <span className="flex-1">
                      {inv.role} link · {new Date(inv.createdAt).toLocaleString()} · used {inv.uses}×
                    </span>
                    {inv.revokedAt ? (
                      <span className="text-muted">revoked</span>
                    ) : (
                      <button type="button" onClick={() => revoke.mutate({ id: inv.id })} className="rounded px-2 py-1 font-medium text-red-600 hover:bg-subtle dark:text-red-400">
                        Revoke
                      </button>
                    )}
                  </li>
                ))}
              </ul>
            </>
          )}

          {!isOwner && isMember && (
            <div className="mt-5 border-t border-border pt-4">
              <Button variant="secondary" size="sm" onClick={() => leave.mutate({ sessionId: session.id })}>
                <LogOut size={14} aria-hidden /> Leave session
              </Button>
            </div>
          )}
        </Dialog.Content>
      </Dialog.Portal>
    </Dialog.Root>
  );
}
