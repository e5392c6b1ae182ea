"use client";
// A person's avatar: their initials on their chosen colour, or on one derived
// from their id, so everyone sees the same colour for the same person.
const PALETTE = ["#6366f1", "#0ea5e9", "#10b981", "#f59e0b", "#ef4444", "#ec4899", "#8b5cf6", "#14b8a6"];

export function avatarColor(id: string | null, chosen: string | null | undefined): string {
  if (chosen) return chosen;
  let hash = 0;
  for (const c of id ?? "") hash = (hash * 31 + c.charCodeAt(0)) | 0;
  return PALETTE[Math.abs(hash) % PALETTE.length]!;
}

export function initials(name: string): string {
  const words = name.replace(/^Guest /, "").trim().split(/\s+/);
  return (words.length > 1 ? `${words[0]![0] ?? ""}${words[1]![0] ?? ""}` : (words[0] ?? "").slice(0, 2)).toUpperCase();
}

export function Avatar({ id, name, color, size = 32, className = "" }: { id: string | null; name: string; color?: string | null; size?: number; className?: string }) {
  const background = avatarColor(id, color);
  return (
    <span
      title={name}
      data-testid="avatar"
      data-color={background}
      className={`grid shrink-0 place-items-center rounded-full font-semibold text-white ${className}`}
      style={{ width: size, height: size, background, fontSize: Math.round(size * 0.38) }}
    >
      {initials(name)}
    </span>
  );
}
