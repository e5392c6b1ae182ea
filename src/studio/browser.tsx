// The Prisma Studio page (bundled for the browser by scripts/studio-build.ts):
// studio-core's <Studio /> with the adapter for the page's database, whose SQL
// runs on the Studio server's /bff endpoint (src/studio/server.ts).
import "@prisma/studio-core/ui/index.css";
import { createStudioBFFClient } from "@prisma/studio-core/data/bff";
import { createPostgresAdapter } from "@prisma/studio-core/data/postgres-core";
import { createSQLiteAdapter } from "@prisma/studio-core/data/sqlite-core";
import { Studio } from "@prisma/studio-core/ui";
import { createRoot } from "react-dom/client";

/** Which database the page edits, written into the page by the server. */
const dialect = document.documentElement.dataset.dialect === "postgresql" ? "postgresql" : "sqlite";
const executor = createStudioBFFClient({ url: "/bff" });
const adapter = dialect === "postgresql" ? createPostgresAdapter({ executor }) : createSQLiteAdapter({ executor });

const root = document.getElementById("studio");
if (!root) throw new Error("the page has no #studio element");
createRoot(root).render(<Studio adapter={adapter} />);
