-- CreateTable
CREATE TABLE "Memory" (
    "seq" INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    "id" TEXT NOT NULL,
    "title" TEXT,
    "content" TEXT NOT NULL,
    "metadata" JSONB NOT NULL,
    "scope" TEXT NOT NULL,
    "sessionId" TEXT,
    "agentId" TEXT,
    "principalId" TEXT,
    "authorId" TEXT,
    "visibility" TEXT NOT NULL DEFAULT 'public',
    "embedding" BLOB,
    "embeddingModel" TEXT,
    "embeddedAt" DATETIME,
    "embedAttempts" INTEGER NOT NULL DEFAULT 0,
    "embedError" TEXT,
    "createdAt" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" DATETIME NOT NULL,
    CONSTRAINT "Memory_sessionId_fkey" FOREIGN KEY ("sessionId") REFERENCES "Session" ("id") ON DELETE CASCADE ON UPDATE CASCADE,
    CONSTRAINT "Memory_agentId_fkey" FOREIGN KEY ("agentId") REFERENCES "Agent" ("id") ON DELETE CASCADE ON UPDATE CASCADE,
    CONSTRAINT "Memory_principalId_fkey" FOREIGN KEY ("principalId") REFERENCES "Principal" ("id") ON DELETE CASCADE ON UPDATE CASCADE
);

-- CreateTable
CREATE TABLE "MemoryTag" (
    "memorySeq" INTEGER NOT NULL,
    "tag" TEXT NOT NULL,

    PRIMARY KEY ("memorySeq", "tag"),
    CONSTRAINT "MemoryTag_memorySeq_fkey" FOREIGN KEY ("memorySeq") REFERENCES "Memory" ("seq") ON DELETE CASCADE ON UPDATE CASCADE
);

-- CreateTable
CREATE TABLE "MemoryChange" (
    "seq" INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    "type" TEXT NOT NULL,
    "memoryId" TEXT NOT NULL,
    "scope" TEXT NOT NULL,
    "sessionId" TEXT,
    "agentId" TEXT,
    "principalId" TEXT,
    "authorId" TEXT,
    "visibility" TEXT NOT NULL,
    "audienceChanged" BOOLEAN NOT NULL DEFAULT false,
    "createdAt" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP
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


-- Full-text indexes (written by hand: Prisma's schema cannot describe them).
-- FTS5 tables over the rows themselves (external content), kept in sync by
-- triggers, so every write, in any transaction and through any path
-- (cascades included), updates the index in the same transaction. Words are
-- stemmed (porter) after Unicode folding, diacritics removed. Ranked by bm25.

-- Memories: title and content; the rowid is Memory.seq.
CREATE VIRTUAL TABLE "MemoryText" USING fts5(
    "title", "content",
    content = 'Memory', content_rowid = 'seq',
    tokenize = 'porter unicode61 remove_diacritics 2'
);
CREATE TRIGGER "Memory_text_insert" AFTER INSERT ON "Memory" BEGIN
    INSERT INTO "MemoryText" (rowid, "title", "content") VALUES (new."seq", new."title", new."content");
END;
CREATE TRIGGER "Memory_text_delete" AFTER DELETE ON "Memory" BEGIN
    INSERT INTO "MemoryText" ("MemoryText", rowid, "title", "content") VALUES ('delete', old."seq", old."title", old."content");
END;
CREATE TRIGGER "Memory_text_update" AFTER UPDATE OF "title", "content" ON "Memory" BEGIN
    INSERT INTO "MemoryText" ("MemoryText", rowid, "title", "content") VALUES ('delete', old."seq", old."title", old."content");
    INSERT INTO "MemoryText" (rowid, "title", "content") VALUES (new."seq", new."title", new."content");
END;

-- Messages (message.search): content; the rowid is the Message row's rowid,
-- which SQLite keeps across VACUUM for this table.
CREATE VIRTUAL TABLE "MessageText" USING fts5(
    "content",
    content = 'Message', content_rowid = 'rowid',
    tokenize = 'porter unicode61 remove_diacritics 2'
);
CREATE TRIGGER "Message_text_insert" AFTER INSERT ON "Message" BEGIN
    INSERT INTO "MessageText" (rowid, "content") VALUES (new.rowid, new."content");
END;
CREATE TRIGGER "Message_text_delete" AFTER DELETE ON "Message" BEGIN
    INSERT INTO "MessageText" ("MessageText", rowid, "content") VALUES ('delete', old.rowid, old."content");
END;
CREATE TRIGGER "Message_text_update" AFTER UPDATE OF "content" ON "Message" BEGIN
    INSERT INTO "MessageText" ("MessageText", rowid, "content") VALUES ('delete', old.rowid, old."content");
    INSERT INTO "MessageText" (rowid, "content") VALUES (new.rowid, new."content");
END;
-- Messages written before this migration.
INSERT INTO "MessageText" ("MessageText") VALUES ('rebuild');
