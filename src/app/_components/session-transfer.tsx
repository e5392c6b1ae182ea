"use client";
// A session as a file from the web UI: Export (JSON that imports back, or
// Markdown) in a session's header, Import (a JSON export, as a new session)
// on the session list.
import * as DropdownMenu from "@radix-ui/react-dropdown-menu";
import { Download, Upload } from "lucide-react";
import { useRouter } from "next/navigation";
import { useRef, useState } from "react";
import type { RouterInputs } from "@parley/client";
import { errorMessage, parley } from "./parley";
import { notify, notifyError } from "./toasts";
import { Button } from "./ui";

function download(filename: string, mimeType: string, text: string) {
  const url = URL.createObjectURL(new Blob([text], { type: mimeType }));
  const a = document.createElement("a");
  a.href = url;
  a.download = filename;
  a.click();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

const menuItem = "flex cursor-default items-center gap-2 rounded px-2 py-1.5 text-sm outline-none data-[highlighted]:bg-subtle";

export function ExportMenu({ sessionId }: { sessionId: string }) {
  const save = async (format: "json" | "markdown") => {
    try {
      const file = await parley().api.session.export.query({ sessionId, format });
      download(file.filename, file.mimeType, file.text);
    } catch (error) {
      notifyError("Could not export the session", error);
    }
  };
  return (
    <DropdownMenu.Root>
      <DropdownMenu.Trigger asChild>
        <Button variant="secondary" size="sm">
          <Download size={14} aria-hidden /> Export
        </Button>
      </DropdownMenu.Trigger>
      <DropdownMenu.Portal>
        <DropdownMenu.Content align="end" sideOffset={4} className="z-50 min-w-48 rounded-lg border border-border bg-panel p-1 shadow-xl">
          <DropdownMenu.Item className={menuItem} onSelect={() => void save("json")}>
            JSON (re-importable)
          </DropdownMenu.Item>
          <DropdownMenu.Item className={menuItem} onSelect={() => void save("markdown")}>
            Markdown
          </DropdownMenu.Item>
        </DropdownMenu.Content>
      </DropdownMenu.Portal>
    </DropdownMenu.Root>
  );
}

export function ImportButton() {
  const router = useRouter();
  const input = useRef<HTMLInputElement>(null);
  const [busy, setBusy] = useState(false);
  const load = async (file: File) => {
    setBusy(true);
    try {
      let data: unknown;
      try {
        data = JSON.parse(await file.text());
      } catch {
        throw new Error(`${file.name} is not JSON: choose a file exported from Parley as JSON`);
      }
      // The server checks the format (zod) and answers with the field that is wrong.
      const imported = await parley().api.session.import.mutate({ data: data as RouterInputs["session"]["import"]["data"] });
      notify(`Imported “${imported.title}” (${imported.messageCount} messages)`);
      router.push(`/s/${imported.sessionId}`);
    } catch (error) {
      notifyError("Could not import", new Error(errorMessage(error)));
    } finally {
      setBusy(false);
      if (input.current) input.current.value = "";
    }
  };
  return (
    <>
      <input
        ref={input}
        type="file"
        accept="application/json,.json"
        aria-label="Session file to import"
        className="hidden"
        onChange={(e) => {
          const file = e.target.files?.[0];
          if (file) void load(file);
        }}
      />
      <Button variant="secondary" disabled={busy} onClick={() => input.current?.click()}>
        <Upload size={16} aria-hidden /> Import
      </Button>
    </>
  );
}
