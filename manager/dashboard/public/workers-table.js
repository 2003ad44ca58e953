// The connected workers, one row each, updated in place; heights/s is computed here from the
// change of each worker's done count over the last few snapshots.
import * as format from './format.js';

/** Snapshots (about one a second) over which heights/s is measured. */
const RATE_WINDOW = 5;

export class WorkersTable {
  constructor(table, empty) {
    this.body = table.querySelector('tbody');
    this.table = table;
    this.empty = empty;
    /** id -> { row, samples: [{ at, done }] } */
    this.rows = new Map();
  }

  update(workers, at) {
    const seen = new Set();
    for (const worker of workers) {
      seen.add(worker.id);
      let entry = this.rows.get(worker.id);
      if (!entry) {
        const row = document.createElement('tr');
        row.dataset.worker = worker.name;
        for (let i = 0; i < 8; i++) row.append(document.createElement('td'));
        for (const i of [2, 3, 4, 5, 6]) row.cells[i].className = 'num';
        this.body.append(row);
        entry = { row, samples: [] };
        this.rows.set(worker.id, entry);
      }
      entry.samples.push({ at, done: worker.done });
      if (entry.samples.length > RATE_WINDOW + 1) entry.samples.shift();
      const first = entry.samples[0];
      const seconds = (at - first.at) / 1000;
      const rate = seconds > 0 ? (worker.done - first.done) / seconds : 0;
      const cells = entry.row.cells;
      cells[0].textContent = worker.name;
      cells[1].textContent = worker.queues.join(', ');
      cells[2].textContent = format.count(worker.capacity);
      cells[3].textContent = format.count(worker.leased);
      cells[4].textContent = format.count(worker.done);
      cells[5].textContent = format.count(worker.failed);
      cells[6].textContent = seconds > 0 ? format.rate(rate) : '…';
      cells[7].textContent = format.since(worker.connectedAt, at);
    }
    for (const [id, entry] of this.rows) {
      if (!seen.has(id)) {
        entry.row.remove();
        this.rows.delete(id);
      }
    }
    this.table.hidden = this.rows.size === 0;
    this.empty.hidden = this.rows.size > 0;
  }
}
