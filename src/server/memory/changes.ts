// The bus channel memory changes travel on, and what it carries.
import type { MemoryItem } from "../../shared/memory";
import { channel } from "../bus/bus";
import type { MemoryAudience } from "./audience";

/** A committed change as the bus carries it; `memory` is the memory after it (null once deleted). */
export interface MemoryChangeMessage {
  seq: number;
  type: "created" | "updated" | "deleted";
  memoryId: string;
  /** The memory's row key (the vector index's key). */
  memorySeq: number;
  /** Who may see the memory after the change. */
  audience: MemoryAudience;
  audienceChanged: boolean;
  memory: MemoryItem | null;
}

export const memoryChannel = channel<MemoryChangeMessage>("memory");
