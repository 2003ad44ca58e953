/**
 * The dashboard's rate and ETA (manager/dashboard/public/progress-rate.js, docs/dashboard.md
 * "Rate and ETA"), fed one snapshot a second as the page is: one second into a run the rate is
 * that second's and the ETA what is left at it, not a minute-long average of mostly nothing.
 */
import { describe, expect, it } from 'vitest';
import {
  etaSeconds,
  IDLE_RESTART_MS,
  RATE_WINDOW_MS,
  RateWindow,
} from '../../../manager/dashboard/public/progress-rate.js';

const T0 = 1_700_000_000_000;

/** The page's snapshots at these seconds, with the done count `doneAt` gives. */
function feed(window: RateWindow, seconds: number[], doneAt: (s: number) => number): void {
  for (const s of seconds) window.add(T0 + s * 1_000, doneAt(s));
}

const range = (from: number, to: number) =>
  Array.from({ length: to - from + 1 }, (_, i) => from + i);

describe('RateWindow', () => {
  it('one second into a 17 s run after a long idle page, tells the rate of that second and the true ETA', () => {
    const window = new RateWindow();
    const total = 17_000;
    // The page has watched an idle queue for two minutes; then 1,000 heights a second.
    const doneAt = (s: number) => Math.min(total, Math.max(0, (s - 120) * 1_000));
    feed(window, range(0, 120), doneAt);
    expect(window.perSecond()).toBe(0);
    feed(window, [121], doneAt);
    expect(window.perSecond()).toBe(1_000);
    expect(etaSeconds(total - doneAt(121), window.perSecond())).toBe(16);
    feed(window, range(122, 130), doneAt);
    expect(window.perSecond()).toBe(1_000);
    expect(etaSeconds(total - doneAt(130), window.perSecond())).toBe(7);
  });

  it('has no rate until the window spans a second', () => {
    const window = new RateWindow();
    expect(window.perSecond()).toBeNull();
    window.add(T0, 500);
    expect(window.perSecond()).toBeNull();
    // The same snapshot again (a reconnect) adds nothing.
    window.add(T0, 500);
    window.add(T0 + 400, 700);
    expect(window.perSecond()).toBeNull();
    window.add(T0 + 1_000, 1_500);
    expect(window.perSecond()).toBe(1_000);
    expect(etaSeconds(10, null)).toBeNull();
    expect(etaSeconds(10, 0)).toBeNull();
    expect(etaSeconds(0, null)).toBe(0);
  });

  it('follows a change of pace over the window, not over the whole run', () => {
    const window = new RateWindow();
    // 100/s for a minute, then 1,000/s.
    const doneAt = (s: number) => (s <= 60 ? s * 100 : 6_000 + (s - 60) * 1_000);
    feed(window, range(0, 60), doneAt);
    expect(window.perSecond()).toBe(100);
    feed(window, range(61, 60 + RATE_WINDOW_MS / 1_000), doneAt);
    expect(window.perSecond()).toBe(1_000);
    expect(window.samples.length).toBe(RATE_WINDOW_MS / 1_000 + 1);
  });

  it('keeps the pace of a slow queue whose heights finish a few seconds apart', () => {
    const window = new RateWindow();
    // One height every 3 s: shorter pauses than IDLE_RESTART_MS do not restart the run.
    expect(3_000).toBeLessThan(IDLE_RESTART_MS);
    feed(window, range(0, 30), (s) => Math.floor(s / 3));
    const rate = window.perSecond() as number;
    expect(rate).toBeGreaterThan(0.3);
    expect(rate).toBeLessThan(0.37);
  });

  it('falls to 0 when the run stalls, and restarts the window when it resumes', () => {
    const window = new RateWindow();
    const doneAt = (s: number) => (s <= 10 ? s * 50 : s <= 40 ? 500 : 500 + (s - 40) * 200);
    feed(window, range(0, 40), doneAt);
    expect(window.perSecond()).toBe(0);
    expect(etaSeconds(100, window.perSecond())).toBeNull();
    feed(window, [41], doneAt);
    expect(window.perSecond()).toBe(200);
  });

  it('starts again when fewer heights are done (forced again, or deleted and made anew)', () => {
    const window = new RateWindow();
    feed(window, range(0, 10), (s) => 1_000 + s * 100);
    window.add(T0 + 11_000, 0);
    expect(window.perSecond()).toBeNull();
    window.add(T0 + 12_000, 300);
    expect(window.perSecond()).toBe(300);
  });
});
