// The archive's metrics (GET /metrics on the gateway).
import { counter, gauge } from '../metrics/registry.ts';

export const archivedRecords = counter('paynats_archive_records_total', 'Stream messages written to archive chunks', ['chain']);
export const archivedChunks = counter('paynats_archive_chunks_total', 'Archive chunks written (each with its manifest)', ['chain']);
export const archiveWriteFailures = counter('paynats_archive_write_failures_total', 'Chunk or manifest writes that failed (retried)', ['chain']);
export const archiveGapRecords = gauge('paynats_archive_gap_records', 'Stream sequences found missing from the archive (aged out before archiving); 0 is the only good value', ['chain']);
export const archiveHeadSeq = gauge('paynats_archive_head_seq', 'Last stream sequence in the archive', ['chain']);
export const archiveLagRecords = gauge('paynats_archive_buffered_records', 'Records read but not yet in a stored chunk', ['chain']);
export const dbArchivedRows = counter('paynats_archive_db_rows_total', 'Hot-table rows moved to the archive', ['table']);
export const archiveLookups = counter('paynats_archive_lookups_total', 'Lookups answered from the archive', ['kind']);
export const archivedSnapshots = counter('paynats_archive_snapshots_total', 'Aggregate snapshots written to pay_snapshots (one per aggregate per PAY_EVENTS chunk)');
