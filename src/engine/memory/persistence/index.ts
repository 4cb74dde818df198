// The memory engine's durability, below the engine interface: a framed, checksummed append-only
// file written with group commit, replayed at start-up, and compacted by rewriting a snapshot.

export { openDataFile, type DataFile, type PersistenceOptions } from './data-file.js';
export { Journal, type JournalFile } from './journal.js';
export { crc32c } from './crc32c.js';
export { type AofRecord, type AppendRecord, type FsyncPolicy, RecordWriter, recordEnd } from './records.js';
export { DataFileError, scanRecords, type Damage, type ScanResult } from './replay.js';
