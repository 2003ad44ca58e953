// Types of progress-rate.js, for test/manager/dashboard/progress-rate.test.ts.
export declare const RATE_WINDOW_MS: number;
export declare const MIN_RATE_SPAN_MS: number;
export declare const IDLE_RESTART_MS: number;

export declare class RateWindow {
  constructor(windowMs?: number);
  readonly samples: readonly { at: number; done: number }[];
  add(at: number, done: number): void;
  perSecond(): number | null;
}

export declare function etaSeconds(open: number, perSecond: number | null): number | null;
