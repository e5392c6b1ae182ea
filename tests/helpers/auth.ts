// Principals for the auth tests: tokens made through the same service code
// the token script uses, on the test server's own database.
import type { Role } from "../../src/generated/prisma/client";
import { createPrincipalWithToken } from "../../src/server/auth/tokens";
import type { TestServer } from "./server";

export interface TestPrincipal {
  id: string;
  role: Role;
  token: string;
  tokenId: string;
}

export async function makePrincipal(t: TestServer, role: Role, name: string = role): Promise<TestPrincipal> {
  const { token, info } = await createPrincipalWithToken(t.server.deps.db, { name, role, expiresAt: null });
  return { id: info.principalId, role, token, tokenId: info.id };
}
