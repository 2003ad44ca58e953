/**
 * Queue settings in PostgreSQL (migrations/004_queue_settings.sql, 005_effective_range_size.sql):
 * loaded when a manager takes the lead, written when an operator changes them, and the effective
 * range size written when it changes. A write is fenced like every commit: a manager that lost
 * the leader lock writes nothing.
 */
import type pg from 'pg';
import type { QueueSettings } from '../../shared/api-schemas.js';
import { type Fence, fenceCte } from './leader-lock.js';

interface SettingsRow {
  queue: string;
  priority: number;
  range_size: number;
  rate_per_second: number | null;
  max_in_flight: number | null;
  effective_range_size: number | null;
}

export interface LoadedSettings {
  settings: Map<string, QueueSettings>;
  /** Queues whose effective range size is below their rangeSize. */
  rangeSizes: Map<string, number>;
}

export async function loadSettings(db: pg.Pool | pg.ClientBase): Promise<LoadedSettings> {
  const { rows } = await db.query<SettingsRow>(
    `SELECT queue, priority, range_size, rate_per_second, max_in_flight, effective_range_size
     FROM queue_settings`,
  );
  const loaded: LoadedSettings = { settings: new Map(), rangeSizes: new Map() };
  for (const row of rows) {
    loaded.settings.set(row.queue, {
      priority: row.priority,
      rangeSize: row.range_size,
      ratePerSecond: row.rate_per_second,
      maxInFlight: row.max_in_flight,
    });
    if (row.effective_range_size !== null && row.effective_range_size < row.range_size)
      loaded.rangeSizes.set(row.queue, row.effective_range_size);
  }
  return loaded;
}

/** Writes `settings` for `queue`; false when the fence no longer holds (nothing written). */
export async function saveSettings(
  db: pg.Pool | pg.ClientBase,
  fence: Fence,
  queue: string,
  settings: QueueSettings,
): Promise<boolean> {
  const { rows } = await db.query<{ held: boolean }>(
    `WITH ${fenceCte('$1', '$2')},
     written AS (
       INSERT INTO queue_settings (queue, priority, range_size, rate_per_second, max_in_flight)
       SELECT $3::text, $4::int, $5::int, $6::float8, $7::int WHERE (SELECT held FROM fence)
       ON CONFLICT (queue) DO UPDATE SET priority = EXCLUDED.priority,
         range_size = EXCLUDED.range_size, rate_per_second = EXCLUDED.rate_per_second,
         max_in_flight = EXCLUDED.max_in_flight, updated_at = now(),
         -- A rangeSize set by an operator is tried again as it is (SettingsTable.set).
         effective_range_size = CASE WHEN queue_settings.range_size = EXCLUDED.range_size
           THEN queue_settings.effective_range_size END
     )
     SELECT held FROM fence`,
    [
      fence.lockKey,
      fence.leaderPid,
      queue,
      settings.priority,
      settings.rangeSize,
      settings.ratePerSecond,
      settings.maxInFlight,
    ],
  );
  return rows[0]?.held === true;
}

/**
 * Writes a queue's effective range size (null: its rangeSize again); false when the fence no
 * longer holds. A queue without a settings row has rangeSize 1, which cannot be lowered: there is
 * nothing to write for it.
 */
export async function saveEffectiveRangeSize(
  db: pg.Pool | pg.ClientBase,
  fence: Fence,
  queue: string,
  size: number | null,
): Promise<boolean> {
  const { rows } = await db.query<{ held: boolean }>(
    `WITH ${fenceCte('$1', '$2')},
     written AS (
       UPDATE queue_settings SET effective_range_size = $4::int
       WHERE (SELECT held FROM fence) AND queue = $3::text
     )
     SELECT held FROM fence`,
    [fence.lockKey, fence.leaderPid, queue, size],
  );
  return rows[0]?.held === true;
}
