// Input schemas shared by the server (validation) and clients (forms, types).
// Limits that depend on configuration (message size) are checked in services;
// the fixed structural limits live here.
import { z } from "zod";
import type { MessageRole, MessageStatus, Role, Visibility } from "../generated/prisma/client";

/** Largest metadata object accepted anywhere, as JSON text. */
export const METADATA_MAX_BYTES = 16 * 1024;
/** Largest page `*.list` procedures return. */
export const PAGE_LIMIT_MAX = 500;

// The values of the data model's enums (prisma/schema.prisma), for zod and for
// clients; the checks below fail to compile when one misses a value of its enum.
export const messageRoles = ["user", "assistant", "system", "agent", "tool"] as const satisfies readonly MessageRole[];
export const visibilities = ["public", "private", "agent_only"] as const satisfies readonly Visibility[];
export const messageStatuses = ["complete", "streaming", "stopped", "error"] as const satisfies readonly MessageStatus[];
/** A principal's role, globally or in one session. */
export const roles = ["viewer", "member", "agent", "admin"] as const satisfies readonly Role[];

/** `true` when `Listed` names every value of `All`; otherwise the values it misses. */
type Lists<All, Listed> = [Exclude<All, Listed>] extends [never] ? true : Exclude<All, Listed>;
const enumsListed: [
  Lists<MessageRole, (typeof messageRoles)[number]>,
  Lists<Visibility, (typeof visibilities)[number]>,
  Lists<MessageStatus, (typeof messageStatuses)[number]>,
  Lists<Role, (typeof roles)[number]>,
] = [true, true, true, true];
void enumsListed;

export const idSchema = z.string().min(1, "must not be empty").max(64, "must be at most 64 characters");

/**
 * An idempotency key chosen by the poster (message.post, chat.send): a retry
 * with the same key in the same session returns the message already stored
 * instead of writing a second one. Generate one per message (e.g. a UUID) and
 * send it on every retry of that message.
 */
export const clientKeySchema = z
  .string()
  .min(1, "must not be empty")
  .max(64, "must be at most 64 characters")
  .regex(/^[A-Za-z0-9_-]+$/, "may contain only letters, digits, '_' and '-'");

const jsonByteLength = (value: unknown) => new TextEncoder().encode(JSON.stringify(value)).length;

export const metadataSchema = z
  .record(z.string().max(200), z.json())
  .refine((value) => jsonByteLength(value) <= METADATA_MAX_BYTES, {
    message: `must be at most ${METADATA_MAX_BYTES} bytes as JSON`,
  });

/** The `author` label of message.post and chat.send: free text the poster chooses, shown as theirs. */
export const authorLabelSchema = z.string().trim().min(1, "must not be empty").max(100, "must be at most 100 characters");

const SERVER_METADATA_MESSAGE = "is set by the server on chat answers (it names their run) and cannot be posted";
const EDITS_METADATA_MESSAGE = "is set by the server when a message is edited (its earlier texts) and cannot be posted";

export const sessionCreateInput = z.object({
  title: z.string().trim().min(1, "must not be empty").max(200, "must be at most 200 characters"),
  metadata: metadataSchema.optional(),
});

export const sessionUpdateInput = z.object({
  id: idSchema,
  title: sessionCreateInput.shape.title.optional(),
  metadata: metadataSchema.optional(),
  /** true archives the session, false restores it. */
  archived: z.boolean().optional(),
});

export const sessionGetInput = z.object({ id: idSchema });

/**
 * Where a `session.list` page ended: the last listed session's `updatedAt`
 * (ms) and id. It names a position, not a row, so a session updated between
 * pages (it moves to the top) cannot make the next page start over.
 */
export const sessionListCursor = z
  .string()
  .regex(/^\d{1,15}:[^:]{1,64}$/, "must be a nextCursor returned by session.list")
  .transform((cursor) => {
    const colon = cursor.indexOf(":");
    return { updatedAt: new Date(Number(cursor.slice(0, colon))), id: cursor.slice(colon + 1) };
  });

/** The `nextCursor` after `last`, the last session of a page (what sessionListCursor reads back). */
export function sessionListCursorAfter(last: { updatedAt: Date; id: string }): string {
  return `${last.updatedAt.getTime()}:${last.id}`;
}

export const sessionListInput = z.object({
  /** The `nextCursor` of the previous page (opaque). */
  cursor: sessionListCursor.nullish(),
  limit: z.number().int().min(1).max(100).default(20),
  /** Case-insensitive substring of the title. */
  search: z.string().trim().max(200).optional(),
  includeArchived: z.boolean().default(false),
});

export const messagePostInput = z.object({
  sessionId: idSchema,
  /** Size-limited by MESSAGE_MAX_BYTES (checked by the server, answered with PAYLOAD_TOO_LARGE). */
  content: z.string().min(1, "must not be empty"),
  /** Roles other than `user` speak for a machine: admins and principals with role agent only (FORBIDDEN otherwise). */
  role: z.enum(messageRoles).default("user"),
  /** A label shown beside the poster's own name (never instead of it); the name comes from the caller's credentials. */
  author: authorLabelSchema.optional(),
  visibility: z.enum(visibilities).default("public"),
  /** `runId` is the server's (it ties an answer to its chat run) and is refused here. */
  metadata: metadataSchema
    .refine((value) => !Object.hasOwn(value, "runId"), { message: SERVER_METADATA_MESSAGE, path: ["runId"] })
    .refine((value) => !Object.hasOwn(value, "edits"), { message: EDITS_METADATA_MESSAGE, path: ["edits"] })
    .optional(),
  /** Idempotency key: a retry with the same key returns the stored message (same id and seq). */
  clientKey: clientKeySchema.optional(),
});

/** message.update: the new text of a message (its author's, or any for the session's owner and admins). */
export const messageUpdateInput = z.object({
  id: idSchema,
  /** Size-limited by MESSAGE_MAX_BYTES, as in message.post. */
  content: z.string().min(1, "must not be empty"),
});
export const messageDeleteInput = z.object({ id: idSchema });

/** Earlier texts of an edited message, oldest first, in its `metadata.edits` (at most MESSAGE_EDITS_KEPT). */
export const messageEditSchema = z.object({
  /** The text before this edit. */
  content: z.string(),
  /** When the edit replaced it (ISO 8601). */
  editedAt: z.string(),
  /** Who edited: principal id and name. */
  editorId: z.string().nullable(),
  editorName: z.string(),
});
export type MessageEdit = z.infer<typeof messageEditSchema>;
export const MESSAGE_EDITS_KEPT = 20;

/** A message's edit history (empty when never edited or unreadable). */
export function editsOf(metadata: unknown): MessageEdit[] {
  const parsed = z.object({ edits: z.array(messageEditSchema) }).safeParse(metadata);
  return parsed.success ? parsed.data.edits : [];
}

export const messageListInput = z
  .object({
    sessionId: idSchema,
    /** Only messages with seq greater than this (oldest first). */
    afterSeq: z.number().int().min(0).optional(),
    /** Only messages with seq less than this (the newest page before it, returned oldest first). */
    beforeSeq: z.number().int().min(1).optional(),
    limit: z.number().int().min(1).max(PAGE_LIMIT_MAX).default(100),
  })
  .refine((input) => input.afterSeq === undefined || input.beforeSeq === undefined, {
    message: "give afterSeq or beforeSeq, not both",
    path: ["beforeSeq"],
  });

export const sessionEventsInput = z.object({
  sessionId: idSchema,
  /** The id of the last event received; the stream resumes right after it. Set by the client on reconnect. */
  lastEventId: z.string().max(32).nullish(),
});

export const sessionMembersInput = z.object({ sessionId: idSchema });
export const sessionAddMemberInput = z.object({
  sessionId: idSchema,
  principalId: idSchema,
  /** viewer reads; member and agent also write; admin also writes (session-level). */
  role: z.enum(roles).default("member"),
});
export const sessionRemoveMemberInput = z.object({ sessionId: idSchema, principalId: idSchema });

/** Roles an invitation may give (a session's owner shares reading or writing, not more). */
export const inviteRoles = ["viewer", "member"] as const satisfies readonly Role[];
export const sessionInviteByNameInput = z.object({
  sessionId: idSchema,
  /** A person's name (or display name), exactly, case-insensitive. */
  name: z.string().trim().min(1, "must not be empty").max(100, "must be at most 100 characters"),
  role: z.enum(inviteRoles).default("member"),
});
export const sessionCreateInviteInput = z.object({ sessionId: idSchema, role: z.enum(inviteRoles).default("member") });
export const sessionInvitesInput = z.object({ sessionId: idSchema });
export const sessionRevokeInviteInput = z.object({ id: idSchema });
/** The token of an invitation link (`/invite/<token>`). */
export const sessionJoinInput = z.object({ token: z.string().min(10).max(200) });
export const sessionLeaveInput = z.object({ sessionId: idSchema });

export const sessionPresenceInput = z.object({ sessionId: idSchema });
export const presenceTypingInput = z.object({
  sessionId: idSchema,
  /** true (default) marks the caller as typing for PRESENCE_TYPING_TTL_MS; false clears the mark. */
  typing: z.boolean().default(true),
});

export const authCreateTokenInput = z.object({
  /** A name for the new principal and its token ("build bot"). */
  name: z.string().trim().min(1).max(100),
  role: z.enum(roles),
  /** Lifetime; omit for a token that never expires (until revoked). */
  expiresInMs: z.number().int().min(1_000).max(10 * 365 * 86_400_000).optional(),
});
/** auth.updateProfile: what people see of the caller. `null` clears a field (back to the principal's name, a derived colour). */
export const authUpdateProfileInput = z.object({
  displayName: z.string().trim().min(1, "must not be empty").max(64, "must be at most 64 characters").nullable().optional(),
  avatarColor: z
    .string()
    .regex(/^#[0-9a-fA-F]{6}$/, "must be a colour like #3b82f6")
    .transform((c) => c.toLowerCase())
    .nullable()
    .optional(),
});
export const authListTokensInput = z.object({ includeRevoked: z.boolean().default(false) }).default({ includeRevoked: false });
export const authRevokeTokenInput = z.object({ id: idSchema });

export const systemDisconnectInput = z.object({
  connectionId: z.string().min(1).max(64),
  /** The instance holding it (as `system.connections` labels it); default: the instance serving this call. */
  instance: z.string().min(1).max(200).optional(),
  reason: z.string().max(120).default("disconnected by an operator"),
});

export const systemDemoFlowInput = z
  .object({
    /** Attach the events to this session. */
    sessionId: idSchema.optional(),
    /** Pause between events. */
    delayMs: z.number().int().min(0).max(5_000).default(120),
  })
  .default({ delayMs: 120 });

export type SessionCreateInput = z.input<typeof sessionCreateInput>;
export type MessagePostInput = z.input<typeof messagePostInput>;
