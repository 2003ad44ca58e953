/**
 * Queue settings in PostgreSQL (migrations/004_queue_settings.sql): loaded when a manager takes
 * the lead, written when an operator changes them. A write is fenced like every commit: a manager
 * that lost the leader lock writes nothing.
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
}

export async function loadSettings(
  db: pg.Pool | pg.ClientBase,
): Promise<Map<string, QueueSettings>> {
  const { rows } = await db.query<SettingsRow>(
    'SELECT queue, priority, range_size, rate_per_second, max_in_flight FROM queue_settings',
  );
  return new Map(
    rows.map((row) => [
      row.queue,
      {
        priority: row.priority,
        rangeSize: row.range_size,
        ratePerSecond: row.rate_per_second,
        maxInFlight: row.max_in_flight,
      },
    ]),
  );
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
         max_in_flight = EXCLUDED.max_in_flight, updated_at = now()
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
