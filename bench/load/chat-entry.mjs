// Worker threads start without the parent's loader hooks: register tsx, then
// load the TypeScript chat reader.
import { register } from "tsx/esm/api";

register();
await import("./chat-readers.ts");
