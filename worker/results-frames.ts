/**
 * The `results` frames of one lease (docs/protocol.md, "results"), as both the height loop and
 * the range loop send them: successes as ranges, at most MAX_ITEMS_PER_FRAME per frame; failures
 * in lists of at most MAX_FAILURE_BYTES_PER_FRAME bytes of JSON (long error messages add up);
 * `runMs`, the hashes and a refused range size on the first frame only.
 */
import { type BlockReport, MAX_ITEMS_PER_FRAME, type ResultsFrame } from '../shared/protocol.js';
import type { Failure } from './failure.js';

/** Failures per results frame stay under this many bytes of JSON, far below the 16 MiB limit. */
export const MAX_FAILURE_BYTES_PER_FRAME = 4 * 1024 * 1024;

export interface LeaseResults {
  /** Successes, as ranges in ascending order. */
  done: [number, number][];
  failed: Failure[];
  /** Handler milliseconds summed over these heights. */
  runMs: number;
  hashes: BlockReport[];
  /** A range size the node refused above (range handlers only). */
  rangeSize?: number | undefined;
}

export function resultsFrames(lease: number, results: LeaseResults): ResultsFrame[] {
  const { done, failed, hashes, rangeSize } = results;
  const runMs = Math.round(results.runMs * 1000) / 1000;
  const [first = [], ...more] = failureChunks(failed);
  const frames: ResultsFrame[] = [];
  for (let i = 0; i === 0 || i < done.length; i += MAX_ITEMS_PER_FRAME) {
    frames.push({
      type: 'results',
      lease,
      done: done.slice(i, i + MAX_ITEMS_PER_FRAME),
      failed: i === 0 ? first : [],
      runMs: i === 0 ? runMs : 0,
      ...(i === 0 && hashes.length > 0 ? { hashes } : {}),
      ...(i === 0 && rangeSize !== undefined ? { rangeSize } : {}),
    });
  }
  for (const chunk of more)
    frames.push({ type: 'results', lease, done: [], failed: chunk, runMs: 0 });
  return frames;
}

/** Splits failures into lists of at most MAX_FAILURE_BYTES_PER_FRAME bytes of JSON each. */
function failureChunks(failed: Failure[]): Failure[][] {
  const chunks: Failure[][] = [];
  let chunk: Failure[] = [];
  let bytes = 0;
  for (const failure of failed) {
    const size = Buffer.byteLength(JSON.stringify(failure)) + 1;
    if (chunk.length > 0 && bytes + size > MAX_FAILURE_BYTES_PER_FRAME) {
      chunks.push(chunk);
      chunk = [];
      bytes = 0;
    }
    chunk.push(failure);
    bytes += size;
  }
  if (chunk.length > 0) chunks.push(chunk);
  return chunks;
}
