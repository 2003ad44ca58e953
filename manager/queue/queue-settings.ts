/**
 * Each queue's settings and the throttle they configure (docs/api.md, "Queue settings"): read by
 * the dispatcher on every fill, changed through PUT /v1/queues/:queue/settings, persisted by
 * manager/store/settings-sql.ts.
 */
import { DEFAULT_SETTINGS, type QueueSettings } from '../../shared/api-schemas.js';
import { Throttle } from '../dispatch/throttle.js';

interface Entry {
  settings: QueueSettings;
  throttle: Throttle;
}

export class SettingsTable {
  private readonly entries = new Map<string, Entry>();
  /** Queues with a priority other than 0: while none has one, a worker's order is kept as is. */
  private prioritized = 0;

  constructor(
    loaded: Map<string, QueueSettings> = new Map(),
    private readonly now: () => number = Date.now,
  ) {
    for (const [queue, settings] of loaded) this.set(queue, settings);
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
  }
}
