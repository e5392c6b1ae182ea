-- AlterTable
ALTER TABLE "Principal" ADD COLUMN "avatarColor" TEXT;
ALTER TABLE "Principal" ADD COLUMN "displayName" TEXT;

-- CreateTable
CREATE TABLE "SessionInvite" (
    "id" TEXT NOT NULL PRIMARY KEY,
    "sessionId" TEXT NOT NULL,
    "hash" TEXT NOT NULL,
    "role" TEXT NOT NULL,
    "createdById" TEXT,
    "createdAt" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "revokedAt" DATETIME,
    "uses" INTEGER NOT NULL DEFAULT 0,
    CONSTRAINT "SessionInvite_sessionId_fkey" FOREIGN KEY ("sessionId") REFERENCES "Session" ("id") ON DELETE CASCADE ON UPDATE CASCADE
);

-- CreateIndex
CREATE UNIQUE INDEX "SessionInvite_hash_key" ON "SessionInvite"("hash");

-- CreateIndex
CREATE INDEX "SessionInvite_sessionId_idx" ON "SessionInvite"("sessionId");

