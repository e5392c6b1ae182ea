// auth.*: who am I, and token management (admins). Tokens are shown once, at
// creation; lists never include a token or its hash. Revoking one ends its
// live connections and streams within a second.
import { TRPCError } from "@trpc/server";
import { z } from "zod";
import { roles } from "../auth/principal";
import { createPrincipalWithToken, listTokens, revokeToken } from "../auth/tokens";
import { idSchema } from "../../shared/schemas";
import { adminProcedure, authedProcedure, router } from "../trpc";

export const authCreateTokenInput = z.object({
  /** A name for the new principal and its token ("build bot"). */
  name: z.string().trim().min(1).max(100),
  role: z.enum(roles),
  /** Lifetime; omit for a token that never expires (until revoked). */
  expiresInMs: z.number().int().min(1_000).max(10 * 365 * 86_400_000).optional(),
});

export const authRouter = router({
  /** The caller's principal. */
  me: authedProcedure.query(({ ctx }) => {
    const { id, kind, name, role } = ctx.principal;
    return { id, kind, name, role };
  }),
  /** A new principal (agent, app or admin by role) with an API token, returned once. */
  createToken: adminProcedure.input(authCreateTokenInput).mutation(async ({ ctx, input }) => {
    const expiresAt = input.expiresInMs ? new Date(Date.now() + input.expiresInMs) : null;
    const { token, info } = await createPrincipalWithToken(ctx.db, { name: input.name, role: input.role, expiresAt });
    return { token, ...info };
  }),
  /** API tokens (not their secrets), oldest first. */
  listTokens: adminProcedure
    .input(z.object({ includeRevoked: z.boolean().default(false) }).default({ includeRevoked: false }))
    .query(({ ctx, input }) => listTokens(ctx.db, input)),
  /** Revoke a token: its connections close and its streams end within a second. */
  revokeToken: adminProcedure.input(z.object({ id: idSchema })).mutation(async ({ ctx, input }) => {
    const info = await revokeToken(ctx.db, input.id);
    if (!info) throw new TRPCError({ code: "NOT_FOUND", message: `token ${input.id} does not exist` });
    ctx.auth.watch.publish({ type: "token.revoked", tokenId: info.id, principalId: info.principalId });
    return info;
  }),
});
