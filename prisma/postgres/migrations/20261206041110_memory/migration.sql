-- CreateEnum
CREATE TYPE "MemoryScope" AS ENUM ('global', 'session', 'agent', 'principal');

-- CreateTable
CREATE TABLE "Memory" (
    "seq" SERIAL NOT NULL,
    "id" TEXT NOT NULL,
    "title" TEXT,
    "content" TEXT NOT NULL,
    "metadata" JSONB NOT NULL,
    "scope" "MemoryScope" NOT NULL,
    "sessionId" TEXT,
    "agentId" TEXT,
    "principalId" TEXT,
    "authorId" TEXT,
    "visibility" "Visibility" NOT NULL DEFAULT 'public',
    "embedding" BYTEA,
    "embeddingModel" TEXT,
    "embeddedAt" TIMESTAMP(3),
    "embedAttempts" INTEGER NOT NULL DEFAULT 0,
    "embedError" TEXT,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "Memory_pkey" PRIMARY KEY ("seq")
);

-- CreateTable
CREATE TABLE "MemoryTag" (
    "memorySeq" INTEGER NOT NULL,
    "tag" TEXT NOT NULL,

    CONSTRAINT "MemoryTag_pkey" PRIMARY KEY ("memorySeq","tag")
);

-- CreateTable
CREATE TABLE "MemoryChange" (
    "seq" SERIAL NOT NULL,
    "type" TEXT NOT NULL,
    "memoryId" TEXT NOT NULL,
    "scope" "MemoryScope" NOT NULL,
    "sessionId" TEXT,
    "agentId" TEXT,
    "principalId" TEXT,
    "authorId" TEXT,
    "visibility" "Visibility" NOT NULL,
    "audienceChanged" BOOLEAN NOT NULL DEFAULT false,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "MemoryChange_pkey" PRIMARY KEY ("seq")
);

-- CreateIndex
CREATE UNIQUE INDEX "Memory_id_key" ON "Memory"("id");

-- CreateIndex
CREATE INDEX "Memory_scope_seq_idx" ON "Memory"("scope", "seq");

-- CreateIndex
CREATE INDEX "Memory_sessionId_seq_idx" ON "Memory"("sessionId", "seq");

-- CreateIndex
CREATE INDEX "Memory_agentId_seq_idx" ON "Memory"("agentId", "seq");

-- CreateIndex
CREATE INDEX "Memory_principalId_seq_idx" ON "Memory"("principalId", "seq");

-- CreateIndex
CREATE INDEX "Memory_authorId_seq_idx" ON "Memory"("authorId", "seq");

-- CreateIndex
CREATE INDEX "MemoryTag_tag_memorySeq_idx" ON "MemoryTag"("tag", "memorySeq");

-- CreateIndex
CREATE INDEX "MemoryChange_memoryId_idx" ON "MemoryChange"("memoryId");

-- AddForeignKey
ALTER TABLE "Memory" ADD CONSTRAINT "Memory_sessionId_fkey" FOREIGN KEY ("sessionId") REFERENCES "Session"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "Memory" ADD CONSTRAINT "Memory_agentId_fkey" FOREIGN KEY ("agentId") REFERENCES "Agent"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "Memory" ADD CONSTRAINT "Memory_principalId_fkey" FOREIGN KEY ("principalId") REFERENCES "Principal"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "MemoryTag" ADD CONSTRAINT "MemoryTag_memorySeq_fkey" FOREIGN KEY ("memorySeq") REFERENCES "Memory"("seq") ON DELETE CASCADE ON UPDATE CASCADE;


-- Full-text indexes (written by hand: Prisma's schema cannot describe them).
-- Generated tsvector columns, computed by PostgreSQL in the writing statement
-- (so always in sync, in the same transaction), with GIN indexes; English
-- stemming; ranked by ts_rank_cd. The title weighs more (A) than the content (B).
-- Only the first 100,000 characters are indexed: a tsvector holds at most 1 MB.
ALTER TABLE "Memory" ADD COLUMN "searchVector" tsvector GENERATED ALWAYS AS (
    setweight(to_tsvector('english', coalesce("title", '')), 'A') || setweight(to_tsvector('english', left("content", 100000)), 'B')
) STORED;
CREATE INDEX "Memory_searchVector_idx" ON "Memory" USING GIN ("searchVector");

ALTER TABLE "Message" ADD COLUMN "searchVector" tsvector GENERATED ALWAYS AS (to_tsvector('english', left("content", 100000))) STORED;
CREATE INDEX "Message_searchVector_idx" ON "Message" USING GIN ("searchVector");
