-- AlterTable
ALTER TABLE "Message" ADD COLUMN "clientKey" TEXT;

-- CreateIndex
CREATE UNIQUE INDEX "Message_sessionId_clientKey_key" ON "Message"("sessionId", "clientKey");

