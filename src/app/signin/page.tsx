// Sign-in: paste the one-time token the server printed (or open the printed
// link, which lands here with ?token= and is handled by the server before
// Next.js sees it: src/server/app.ts → auth.handleSignIn sets the cookie).
export const metadata = { title: "Sign in" };

export default function SignInPage() {
  return (
    <main style={{ maxWidth: 420, margin: "12vh auto", padding: "0 20px", fontFamily: "system-ui, sans-serif", lineHeight: 1.5 }}>
      <h1 style={{ fontSize: 22, marginBottom: 8 }}>Sign in to Parley</h1>
      <p style={{ color: "#555", marginTop: 0 }}>
        On its first start the server prints a one-time sign-in link. Open it, or paste its token here. An admin can make a
        new one with <code>npm run token -- signin</code>.
      </p>
      <form method="get" action="/signin" style={{ display: "flex", flexDirection: "column", gap: 10, marginTop: 20 }}>
        <label htmlFor="token" style={{ fontWeight: 600 }}>
          Sign-in token
        </label>
        <input
          id="token"
          name="token"
          required
          autoComplete="off"
          spellCheck={false}
          placeholder="pt_…"
          style={{ padding: "8px 10px", border: "1px solid #bbb", borderRadius: 6, fontFamily: "ui-monospace, monospace" }}
        />
        <button type="submit" style={{ padding: "8px 12px", borderRadius: 6, border: 0, background: "#1f6feb", color: "white", fontWeight: 600 }}>
          Sign in
        </button>
      </form>
    </main>
  );
}
