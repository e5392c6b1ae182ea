// Sign-in: a printed link (`/signin?token=…`) opens this page with the token
// filled in; signing in is the form's same-origin POST to /api/auth/signin
// (src/server/auth/index.ts handleSignIn sets the cookie). Opening a link
// never signs anyone in, so another site cannot sign a visitor into an
// account of its choosing by sending them to one.
export const metadata = { title: "Sign in" };

const field = { padding: "8px 10px", border: "1px solid #bbb", borderRadius: 6, fontFamily: "ui-monospace, monospace" } as const;
const button = { padding: "8px 12px", borderRadius: 6, border: 0, background: "#1f6feb", color: "white", fontWeight: 600 } as const;

export default async function SignInPage({ searchParams }: { searchParams: Promise<Record<string, string | string[] | undefined>> }) {
  const given = (await searchParams).token;
  const token = typeof given === "string" && given.length <= 200 ? given : null;
  return (
    <main style={{ maxWidth: 420, margin: "12vh auto", padding: "0 20px", fontFamily: "system-ui, sans-serif", lineHeight: 1.5 }}>
      <h1 style={{ fontSize: 22, marginBottom: 8 }}>Sign in to Parley</h1>
      {token ? (
        <p style={{ color: "#555", marginTop: 0 }} data-testid="signin-link-notice">
          You opened a one-time sign-in link. Continue only if you were given it yourself: signing in replaces the
          account this browser uses here.
        </p>
      ) : (
        <p style={{ color: "#555", marginTop: 0 }}>
          On its first start the server prints a one-time sign-in link. Open it, or paste its token here. An admin can make a
          new one with <code>npm run token -- signin</code>.
        </p>
      )}
      <form method="post" action="/api/auth/signin" style={{ display: "flex", flexDirection: "column", gap: 10, marginTop: 20 }}>
        {token ? (
          <input type="hidden" name="token" value={token} />
        ) : (
          <>
            <label htmlFor="token" style={{ fontWeight: 600 }}>
              Sign-in token
            </label>
            <input id="token" name="token" required autoComplete="off" spellCheck={false} placeholder="pt_…" style={field} />
          </>
        )}
        <button type="submit" style={button}>
          Sign in
        </button>
      </form>
    </main>
  );
}
