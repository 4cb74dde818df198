// Reading the append-only file back at start-up: every intact record is applied in order. A bad
// record with nothing intact after it is a torn tail (a crash mid-write): cut off with a warning.
// A bad record with intact records after it is damage in the middle: start-up stops and names the
// byte offset, unless the operator asked for repair (then the file is truncated there).

import { BadPayload, decodeRecord, MAGIC, recordEnd, type AofRecord, type FsyncPolicy } from './records.js';

/** The data file cannot be used as it is; the message says what to do. */
export class DataFileError extends Error {
  override readonly name = 'DataFileError';
  readonly code = 'HUBBUB_DATA';
}

export interface Damage {
  /** Byte offset of the first bad record: everything from here on is dropped. */
  offset: number;
  /** True for a torn last record; false for damage with intact records after it. */
  torn: boolean;
  reason: string;
  droppedBytes: number;
  /** Intact records found after the damage (lost if the file is truncated there). */
  droppedRecords: number;
}

export interface ScanResult {
  records: number;
  /** Where the intact prefix ends. */
  validEnd: number;
  damage: Damage | undefined;
  /** The last run's fsync policy, and whether it ended with a clean shutdown. */
  lastPolicy: FsyncPolicy | undefined;
  clean: boolean;
}

/** Applies every intact record of `buf` (a whole file) in order, and reports any damage. */
export function scanRecords(buf: Buffer, apply: (record: AofRecord) => void): ScanResult {
  const result: ScanResult = { records: 0, validEnd: 0, damage: undefined, lastPolicy: undefined, clean: true };
  if (buf.length < MAGIC.length) {
    if (!MAGIC.subarray(0, buf.length).equals(buf)) throw notOurs(buf);
    // A crash while the file was being created: nothing in it yet.
    if (buf.length > 0) result.damage = damageAt(buf, 0, true, 'the file header is cut short');
    return result;
  }
  if (!buf.subarray(0, MAGIC.length).equals(MAGIC)) throw notOurs(buf);
  let at = MAGIC.length;
  result.validEnd = at;
  while (at < buf.length) {
    const end = recordEnd(buf, at);
    if (end < 0) {
      result.damage = damageAt(buf, at, false, 'a record fails its length or checksum check');
      break;
    }
    let record: AofRecord;
    try {
      record = decodeRecord(buf, at + 8, end);
    } catch (err) {
      if (!(err instanceof BadPayload) && !(err instanceof SyntaxError)) throw err;
      result.damage = damageAt(buf, at, false, `a record does not parse (${err.message})`);
      break;
    }
    apply(record);
    result.records++;
    if (record.type === 'open') {
      result.lastPolicy = record.fsync;
      result.clean = false;
    } else {
      result.clean = record.type === 'close';
    }
    at = end;
    result.validEnd = at;
  }
  if (result.damage !== undefined) result.clean = false;
  return result;
}

function notOurs(buf: Buffer): DataFileError {
  const head = JSON.stringify(buf.subarray(0, 8).toString('latin1'));
  return new DataFileError(
    `the data file does not start with hubbub's header (found ${head}): it is not a hubbub append-only file; point persistence.path elsewhere`,
  );
}

/** Decides between torn tail and middle damage by looking for any intact record after `at`. */
function damageAt(buf: Buffer, at: number, torn: boolean, reason: string): Damage {
  let droppedRecords = 0;
  if (!torn) {
    let next = -1;
    for (let i = at + 1; i < buf.length && next < 0; i++) if (recordEnd(buf, i) >= 0) next = i;
    for (let i = next; i >= 0 && i < buf.length; ) {
      const end = recordEnd(buf, i);
      if (end < 0) break;
      droppedRecords++;
      i = end;
    }
    torn = next < 0;
  }
  return { offset: at, torn, reason, droppedBytes: buf.length - at, droppedRecords };
}
