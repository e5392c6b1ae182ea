// auth.*: who am I, and token management (admins). Tokens are shown once, at
// creation; lists never include a token or its hash. Revoking one ends its
// live connections and streams within a second.
import { TRPCError } from "@trpc/server";
import { createPrincipalWithToken, listTokens, revokeToken } from "../auth/tokens";
import { authCreateTokenInput, authListTokensInput, authRevokeTokenInput, authUpdateProfileInput } from "../../shared/schemas";
import { adminProcedure, authedProcedure, router } from "../trpc";

export const authRouter = router({
  /** The caller's principal: `name` is what people see (the display name when set); `profile` what the caller chose. */
  me: authedProcedure.query(async ({ ctx }) => {
    const { id, kind, name, role, stored } = ctx.principal;
    const profile = stored ? await ctx.db.principal.findUnique({ where: { id }, select: { name: true, displayName: true, avatarColor: true } }) : null;
    return { id, kind, name, role, profile };
  }),
  /**
   * The caller's display name and avatar colour. Calls authenticated from now
   * on (new posts, presence, typing) show them; a connection opened before
   * keeps the old name until it reconnects (the web UI reconnects its tab).
   */
  updateProfile: authedProcedure.input(authUpdateProfileInput).mutation(async ({ ctx, input }) => {
    if (!ctx.principal.stored) throw new TRPCError({ code: "FORBIDDEN", message: "only signed-in principals have a profile (PARLEY_AUTH=off has none)" });
    const profile = await ctx.db.principal.update({
      where: { id: ctx.principal.id },
      data: { displayName: input.displayName, avatarColor: input.avatarColor },
      select: { name: true, displayName: true, avatarColor: true },
    });
    return profile;
  }),
  /** A new principal (agent, app or admin by role) with an API token, returned once. */
  createToken: adminProcedure.input(authCreateTokenInput).mutation(async ({ ctx, input }) => {
    const expiresAt = input.expiresInMs ? new Date(Date.now() + input.expiresInMs) : null;
    const { token, info } = await createPrincipalWithToken(ctx.db, { name: input.name, role: input.role, expiresAt });
    return { token, ...info };
  }),
  /** API tokens (not their secrets), oldest first. */
  listTokens: adminProcedure.input(authListTokensInput).query(({ ctx, input }) => listTokens(ctx.db, input)),
  /** Revoke a token: its connections close and its streams end within a second. */
  revokeToken: adminProcedure.input(authRevokeTokenInput).mutation(async ({ ctx, input }) => {
    const info = await revokeToken(ctx.db, input.id);
    if (!info) throw new TRPCError({ code: "NOT_FOUND", message: `token ${input.id} does not exist` });
    ctx.auth.watch.publish({ type: "token.revoked", tokenId: info.id, principalId: info.principalId });
    return info;
  }),
});
