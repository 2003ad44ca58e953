/**
 * The `results` frames of one lease (docs/protocol.md, "results"), as both the height loop and
 * the range loop send them: successes as range deltas (shared/range-codec.ts; the worker says
 * `deltas` in hello), at most MAX_ITEMS_PER_FRAME ranges per frame; failures
 * in lists of at most MAX_FAILURE_BYTES_PER_FRAME bytes of JSON (long error messages add up);
 * `runMs`, the hashes and a refused range size on the first frame only.
 */
import { type BlockReport, MAX_ITEMS_PER_FRAME, type ResultsFrame } from '../shared/protocol.js';
import { deltasOfSet } from '../shared/range-codec.js';
import type { RangeSet } from '../shared/range-set.js';
import type { Failure } from './failure.js';

/** Failures per results frame stay under this many bytes of JSON, far below the 16 MiB limit. */
export const MAX_FAILURE_BYTES_PER_FRAME = 4 * 1024 * 1024;

export interface LeaseResults {
  /** Successes. */
  done: RangeSet;
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
  deltasOfSet(done, MAX_ITEMS_PER_FRAME).forEach((doneDeltas, i) => {
    frames.push({
      type: 'results',
      lease,
      doneDeltas,
      failed: i === 0 ? first : [],
      runMs: i === 0 ? runMs : 0,
      ...(i === 0 && hashes.length > 0 ? { hashes } : {}),
      ...(i === 0 && rangeSize !== undefined ? { rangeSize } : {}),
    });
  });
  for (const chunk of more)
    frames.push({ type: 'results', lease, doneDeltas: [], failed: chunk, runMs: 0 });
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
