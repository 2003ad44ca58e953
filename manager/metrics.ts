/**
 * Prometheus text exposition of the queue counts. A first cut written by hand; the full set
 * (histograms, process metrics) is meant to move to prom-client.
 */
import type { ManagerState } from './manager-state.js';

const GAUGES = ['pending', 'leased', 'retrying', 'done', 'failed'] as const;

export function renderMetrics(state: ManagerState): string {
  const lines: string[] = [];
  const summaries = state.service?.summaries() ?? [];
  for (const gauge of GAUGES) {
    lines.push(`# HELP blockrunner_heights_${gauge} Heights of a queue in state ${gauge}.`);
    lines.push(`# TYPE blockrunner_heights_${gauge} gauge`);
    for (const summary of summaries) {
      lines.push(`blockrunner_heights_${gauge}{queue="${summary.queue}"} ${summary[gauge]}`);
    }
  }
  lines.push('# HELP blockrunner_watermark Highest height with every height below it done.');
  lines.push('# TYPE blockrunner_watermark gauge');
  for (const summary of summaries) {
    if (summary.watermark !== null)
      lines.push(`blockrunner_watermark{queue="${summary.queue}"} ${summary.watermark}`);
  }
  lines.push('# HELP blockrunner_workers_connected Workers connected to this manager.');
  lines.push('# TYPE blockrunner_workers_connected gauge');
  lines.push(`blockrunner_workers_connected ${state.dispatcher?.workers().length ?? 0}`);
  lines.push('# HELP blockrunner_is_leader 1 when this manager leads.');
  lines.push('# TYPE blockrunner_is_leader gauge');
  lines.push(`blockrunner_is_leader ${state.role === 'leader' ? 1 : 0}`);
  return `${lines.join('\n')}\n`;
}
