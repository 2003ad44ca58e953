/**
 * Where the cores' time went during a run (S5): CPU time of given processes and of the
 * PostgreSQL backends serving given databases, from /proc/<pid>/stat, and of the whole
 * machine, from /proc/stat. On this 2-core machine a side
 * that needs more CPU than the other, or that ran while something else used the cores, is
 * slower for that alone; these figures say which it was.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { withClient } from './databases.js';

/** Linux's USER_HZ, the unit of /proc times: 100 on every common kernel (getconf CLK_TCK). */
const TICKS_PER_SECOND = 100;

/** User + system CPU time of `pid` so far, in ms; 0 once it has exited. */
export function processCpuMs(pid: number): number {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return 0;
  }
  // Fields after the command name, which is in parentheses and may hold spaces: state is the
  // first of them (field 3), utime and stime are fields 14 and 15.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / TICKS_PER_SECOND;
}

export interface MachineCpu {
  /** CPU time spent not idle, all cores, in ms. */
  busyMs: number;
  /** All CPU time, all cores, in ms. */
  totalMs: number;
}

/** The machine's CPU time so far, from the first line of /proc/stat. */
export function machineCpu(): MachineCpu {
  const line = readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '';
  const ticks = line.trim().split(/\s+/).slice(1).map(Number);
  // user nice system idle iowait irq softirq steal (guest time is already in user).
  const total = ticks.slice(0, 8).reduce((sum, value) => sum + value, 0);
  const idle = (ticks[3] ?? 0) + (ticks[4] ?? 0);
  const toMs = (value: number) => (value * 1000) / TICKS_PER_SECOND;
  return { busyMs: toMs(total - idle), totalMs: toMs(total) };
}

/** The CPU used between two readings, as a share of all the machine's cores' time. */
export function busyShare(before: MachineCpu, after: MachineCpu): number {
  const total = after.totalMs - before.totalMs;
  return total > 0 ? (after.busyMs - before.busyMs) / total : 0;
}

/**
 * CPU time so far of every PostgreSQL backend connected to each of `databases`, in ms, by
 * database; the bench's own probes (application_name 'bench', commit-watch.ts) apart, under
 * 'bench'. Only backends alive now count: read it before the clients disconnect.
 */
export async function backendCpuMs(
  adminUrl: string,
  databases: string[],
): Promise<Map<string, Map<number, number>>> {
  const rows = await withClient(adminUrl, async (client) => {
    const { rows } = await client.query<{ pid: number; datname: string; app: string }>(
      `SELECT pid, datname, application_name AS app FROM pg_stat_activity
       WHERE datname = ANY($1::text[])`,
      [databases],
    );
    return rows;
  });
  const byDatabase = new Map<string, Map<number, number>>();
  for (const row of rows) {
    const key = row.app === 'bench' ? 'bench' : row.datname;
    const pids = byDatabase.get(key) ?? new Map<number, number>();
    pids.set(row.pid, processCpuMs(row.pid));
    byDatabase.set(key, pids);
  }
  return byDatabase;
}

/** CPU used by the backends of `key` between two readings (backends new since count whole). */
export function backendCpuBetween(
  before: Map<string, Map<number, number>>,
  after: Map<string, Map<number, number>>,
  key: string,
): number {
  let used = 0;
  for (const [pid, ms] of after.get(key) ?? []) used += ms - (before.get(key)?.get(pid) ?? 0);
  return used;
}

/** CPU time so far of every PostgreSQL process of the machine (any database, any user), by pid. */
export function postgresProcessesCpuMs(): Map<number, number> {
  const pids = new Map<number, number>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      if (stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')')) !== 'postgres') continue;
      pids.set(Number(entry), processCpuMs(Number(entry)));
    } catch {
      // Exited meanwhile.
    }
  }
  return pids;
}

/** CPU used between two readings of postgresProcessesCpuMs (processes new since count whole). */
export function postgresCpuBetween(before: Map<number, number>, after: Map<number, number>) {
  let used = 0;
  for (const [pid, ms] of after) used += ms - (before.get(pid) ?? 0);
  return used;
}
