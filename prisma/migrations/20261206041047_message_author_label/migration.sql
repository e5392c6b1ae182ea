-- AlterTable
ALTER TABLE "Message" ADD COLUMN "authorLabel" TEXT;

