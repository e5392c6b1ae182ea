// Next.js serves only the web UI; the API runs in server.ts (one module graph,
// see ARCHITECTURE.md). Keep the server-only packages out of the bundle.
/** @type {import('next').NextConfig} */
const nextConfig = {
  reactStrictMode: true,
  poweredByHeader: false,
  serverExternalPackages: ["@prisma/client", "better-sqlite3", "@prisma/adapter-better-sqlite3", "ws", "pino"],
  typescript: { ignoreBuildErrors: false },
};

export default nextConfig;
