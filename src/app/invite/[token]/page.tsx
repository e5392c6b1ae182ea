"use client";
// /invite/<token>: join the session of an invitation link, then open it.
import { useRouter } from "next/navigation";
import { use, useEffect, useState } from "react";
import { errorMessage, parley } from "../../_components/parley";
import { ErrorState, Loading } from "../../_components/ui";

export default function InvitePage({ params }: { params: Promise<{ token: string }> }) {
  const { token } = use(params);
  const router = useRouter();
  const [error, setError] = useState<unknown>(null);
  useEffect(() => {
    let current = true;
    parley()
      .api.session.join.mutate({ token })
      .then((joined) => {
        if (current) router.replace(`/s/${joined.sessionId}`);
      })
      .catch((e: unknown) => {
        if (current) setError(e);
      });
    return () => {
      current = false;
    };
  }, [token, router]);
  if (error) return <ErrorState title="Could not join the session" message={errorMessage(error)} />;
  return <Loading label="Joining the session…" />;
}
