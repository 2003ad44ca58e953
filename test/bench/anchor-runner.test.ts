/**
 * The anchors' current majors need a newer Node than the oldest Blockrunner supports: on an
 * older one the bench reports them as not run, naming the Node they need, instead of letting
 * them fail somewhere inside.
 */
import { describe, expect, it } from 'vitest';
import { nodeTooOld } from '../../bench/anchor-runner.js';

describe('nodeTooOld', () => {
  it('refuses pg-boss and graphile-worker below their engines, naming both versions', () => {
    expect(nodeTooOld('pg-boss', '20.20.2')).toBe(
      'not run: pg-boss needs Node 22.12 or newer, this is 20.20.2 (npm run bench runs on .ci/node24/node)',
    );
    expect(nodeTooOld('pg-boss', '22.11.0')).toMatch(/needs Node 22\.12/);
    expect(nodeTooOld('graphile-worker', '22.17.1')).toMatch(/needs Node 22\.18/);
  });

  it('lets each anchor run from the Node its engines name, and on later majors', () => {
    expect(nodeTooOld('pg-boss', '22.12.0')).toBeUndefined();
    expect(nodeTooOld('graphile-worker', '22.18.0')).toBeUndefined();
    expect(nodeTooOld('graphile-worker', '24.0.0')).toBeUndefined();
    expect(nodeTooOld('bullmq', '20.19.0')).toBeUndefined();
  });
});
