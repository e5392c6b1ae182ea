// Worker threads start without the parent's loader hooks: register tsx, then
// load the TypeScript worker.
import { register } from "tsx/esm/api";

register();
await import("./reconnect-clients.ts");
