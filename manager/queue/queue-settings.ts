/**
 * Each queue's settings and the throttle they configure (docs/api.md, "Queue settings"): read by
 * the dispatcher on every fill, changed through PUT /v1/queues/:queue/settings, persisted by
 * manager/store/settings-sql.ts (the effective range size through manager/store/range-size-writer.ts).
 */
import { DEFAULT_SETTINGS, type QueueSettings } from '../../shared/api-schemas.js';
import { Throttle } from '../dispatch/throttle.js';

interface Entry {
  settings: QueueSettings;
  throttle: Throttle;
}

/** Successful range calls after which a lowered effective range size grows again. */
export const RANGE_GROW_AFTER_CALLS = 10;
/** How much it grows each time: 10% (at least one height), never above `rangeSize`. */
export const RANGE_GROWTH = 1.1;

/**
 * A queue's effective range size (docs/api.md, "Queue settings"): `rangeSize` until a worker
 * reports that its node refused a range as too large; then the size the worker fell back to,
 * growing back slowly while calls succeed, so that the fleet keeps near the largest size the
 * node serves without asking it a too-large range on every call.
 */
class EffectiveRangeSize {
  private successes = 0;

  constructor(public size: number) {}

  /** A call of more than `size` heights was refused; true when the size changed. */
  refused(size: number): boolean {
    const before = this.size;
    this.size = Math.max(1, Math.min(this.size, size));
    this.successes = 0;
    return this.size !== before;
  }

  /** `calls` calls succeeded; true when the size grew. */
  succeeded(calls: number, ceiling: number): boolean {
    const before = this.size;
    this.successes += calls;
    while (this.successes >= RANGE_GROW_AFTER_CALLS && this.size < ceiling) {
      this.successes -= RANGE_GROW_AFTER_CALLS;
      this.size = Math.min(ceiling, Math.max(this.size + 1, Math.floor(this.size * RANGE_GROWTH)));
    }
    return this.size !== before;
  }
}

export interface SettingsTableOptions {
  now?: () => number;
  /** Effective range sizes kept by an earlier manager, per queue (below its rangeSize). */
  rangeSizes?: ReadonlyMap<string, number>;
  /** A queue's effective range size changed (null: back to its rangeSize), to be persisted. */
  onRangeSizeChanged?: (queue: string, size: number | null) => void;
}

export class SettingsTable {
  private readonly entries = new Map<string, Entry>();
  /** Queues with a priority other than 0: while none has one, a worker's order is kept as is. */
  private prioritized = 0;
  /** Queues whose effective range size is below their rangeSize (or was, since the last set). */
  private readonly rangeSizes = new Map<string, EffectiveRangeSize>();

  private readonly now: () => number;
  private readonly onRangeSizeChanged: SettingsTableOptions['onRangeSizeChanged'];

  constructor(loaded: Map<string, QueueSettings> = new Map(), options: SettingsTableOptions = {}) {
    this.now = options.now ?? Date.now;
    this.onRangeSizeChanged = options.onRangeSizeChanged;
    for (const [queue, settings] of loaded) this.set(queue, settings);
    for (const [queue, size] of options.rangeSizes ?? []) {
      if (size < this.get(queue).rangeSize)
        this.rangeSizes.set(queue, new EffectiveRangeSize(Math.max(1, size)));
    }
  }

  get(queue: string): QueueSettings {
    return this.entries.get(queue)?.settings ?? DEFAULT_SETTINGS;
  }

  /** The queue's throttle; undefined while it has the default settings and was never limited. */
  throttle(queue: string): Throttle | undefined {
    return this.entries.get(queue)?.throttle;
  }

  /** The throttle, made on first need (a queue without a rate learns one when rate limited). */
  throttleFor(queue: string): Throttle {
    let entry = this.entries.get(queue);
    if (!entry) {
      entry = { settings: DEFAULT_SETTINGS, throttle: new Throttle(DEFAULT_SETTINGS, this.now) };
      this.entries.set(queue, entry);
    }
    return entry.throttle;
  }

  /** Heights per range handler call now: `rangeSize`, or less after a refusal. */
  effectiveRangeSize(queue: string): number {
    return this.rangeSizes.get(queue)?.size ?? this.get(queue).rangeSize;
  }

  /** A worker's node refused ranges above `size` heights: the queue's calls shrink to it. */
  rangeRefused(queue: string, size: number): void {
    let effective = this.rangeSizes.get(queue);
    if (!effective) {
      effective = new EffectiveRangeSize(this.get(queue).rangeSize);
      this.rangeSizes.set(queue, effective);
    }
    if (effective.refused(size)) this.rangeSizeChanged(queue, effective.size);
  }

  /** `calls` range calls succeeded: a lowered effective size grows back toward `rangeSize`. */
  rangeCallsSucceeded(queue: string, calls: number): void {
    const effective = this.rangeSizes.get(queue);
    if (effective?.succeeded(calls, this.get(queue).rangeSize))
      this.rangeSizeChanged(queue, effective.size);
  }

  private rangeSizeChanged(queue: string, size: number): void {
    this.onRangeSizeChanged?.(queue, size < this.get(queue).rangeSize ? size : null);
  }

  /** A worker's queues, higher priority first, then in the order the worker listed them. */
  byPriority(queues: readonly string[]): readonly string[] {
    if (this.prioritized === 0 || queues.length < 2) return queues;
    return queues
      .map((queue, index) => ({ queue, index, priority: this.get(queue).priority }))
      .sort((a, b) => b.priority - a.priority || a.index - b.index)
      .map(({ queue }) => queue);
  }

  set(queue: string, settings: QueueSettings): void {
    this.prioritized +=
      (settings.priority !== 0 ? 1 : 0) - (this.get(queue).priority !== 0 ? 1 : 0);
    // A rangeSize set by an operator is tried again as it is.
    if (settings.rangeSize !== this.get(queue).rangeSize) this.rangeSizes.delete(queue);
    const entry = this.entries.get(queue);
    if (entry) {
      entry.settings = settings;
      entry.throttle.configure(settings);
    } else {
      this.entries.set(queue, { settings, throttle: new Throttle(settings, this.now) });
    }
  }

  delete(queue: string): void {
    if (this.get(queue).priority !== 0) this.prioritized--;
    this.entries.delete(queue);
    this.rangeSizes.delete(queue);
  }
}
