// archive/: streams and aged hot-table rows to the object store, in hash-chained chunks; replay and audit.
export { startArchiver, type Archiver, type ArchiverOptions, type StartReport } from './archiver.ts';
export { startArchiveRole, openArchive, type ArchiveRole, type OpenedArchive } from './role.ts';
export { archiveDatabase, archivedEntry, DB_CHAIN, type DbRecord, type DbArchiveResult } from './db-archive.ts';
export { createArchiveReader, readIntentWithArchive, readSetupIntentWithArchive, archivedFrom, type ArchiveReader, type ArchivedFrom } from './lookup.ts';
export { replay, diffDatabases, streamRecords, type ReplayResult, type DatabaseDiff, type TableDiff } from './replay.ts';
export { verifyArchive, intentHistory, type VerifyReport, type IntentHistory, type HistoryEntry } from './audit.ts';
export { createPrivacy, emailHasher, type Privacy, type EmailPolicy } from './privacy.ts';
export { openArchiveStore, jetstreamArchiveStore, directoryArchiveStore, type ArchiveStore } from './store.ts';
export { readChain, chainHead, readChunk } from './chain.ts';
export { checkChain, checkChunk, encodeChunk, decodeChunk, manifestHash, canonicalJson, GENESIS, type Manifest, type Problem, type StreamRecord } from './manifest.ts';
export { progress, type Progress } from './progress.ts';
