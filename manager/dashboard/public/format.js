// Number, duration and time formatting for the dashboard: one place, one locale.
const integer = new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 });
const decimal = new Intl.NumberFormat('en-US', { maximumFractionDigits: 1 });

export function count(n) {
  return integer.format(n);
}

/** Heights per second: one decimal below 10, whole numbers above. */
export function rate(perSecond) {
  return `${perSecond < 10 ? decimal.format(perSecond) : integer.format(perSecond)}/s`;
}

/** A duration in seconds as "2 h 5 min", "3 min 20 s" or "45 s". */
export function duration(seconds) {
  const s = Math.round(seconds);
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${s % 60} s`;
  if (s < 86_400) return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
  return `${Math.floor(s / 86_400)} d ${Math.floor((s % 86_400) / 3600)} h`;
}

/** A range of heights as "5" or "1,000–1,999". */
export function range(from, to) {
  return from === to ? count(from) : `${count(from)}–${count(to)}`;
}

/** Done over enqueued, rounded down so that 100% means every height is done. */
export function percent(done, total) {
  if (total === 0) return '0%';
  return `${Math.floor((done / total) * 1000) / 10}%`;
}

export function since(iso, now) {
  const at = new Date(iso);
  return `${at.toLocaleTimeString()} (${duration(Math.max(0, (now - at.getTime()) / 1000))} ago)`;
}
