// A session as a file: `session.export` writes it (JSON, lossless and
// re-importable, or Markdown to read), `session.import` reads the JSON back
// into a new session. The JSON format is versioned; this schema is its reference.
import { z } from "zod";
import { idSchema, messageRoles, messageStatuses, visibilities } from "./schemas";

export const SESSION_EXPORT_FORMAT = "parley.session.v1";
/** The most messages one import may carry. */
export const IMPORT_MESSAGES_MAX = 10_000;

const isoDate = z.iso.datetime({ offset: true });
const jsonObject = z.record(z.string().max(200), z.json());

export const exportedMessageSchema = z.object({
  id: idSchema,
  seq: z.number().int().min(1),
  role: z.enum(messageRoles),
  author: z.string().max(200),
  authorLabel: z.string().max(100).nullable(),
  content: z.string(),
  visibility: z.enum(visibilities),
  status: z.enum(messageStatuses),
  metadata: jsonObject,
  /** The exported id of the question an answer replies to. */
  parentId: idSchema.nullable(),
  authorId: z.string().max(200).nullable(),
  createdAt: isoDate,
  updatedAt: isoDate,
});
export type ExportedMessage = z.infer<typeof exportedMessageSchema>;

export const sessionExportSchema = z.object({
  format: z.literal(SESSION_EXPORT_FORMAT, { error: `must be "${SESSION_EXPORT_FORMAT}" (a file written by session.export or parley export)` }),
  exportedAt: isoDate,
  session: z.object({
    id: idSchema,
    title: z.string().min(1).max(200),
    metadata: jsonObject,
    createdAt: isoDate,
    archivedAt: isoDate.nullable(),
  }),
  /** Oldest first, the messages the exporter could see. */
  messages: z.array(exportedMessageSchema).max(IMPORT_MESSAGES_MAX, `at most ${IMPORT_MESSAGES_MAX} messages per import`),
});
export type SessionExport = z.infer<typeof sessionExportSchema>;

export const sessionExportInput = z.object({ sessionId: idSchema, format: z.enum(["json", "markdown"]).default("json") });
export const sessionImportInput = z.object({
  data: sessionExportSchema,
  /** A title for the new session; the exported one otherwise. */
  title: z.string().trim().min(1).max(200).optional(),
});
