// A chain queue's latest reorganisations (GET /v1/queues/:queue/reorgs): fetched when the
// queue's summary changes (a reorganisation re-enqueues heights, so it always does), at most
// every few seconds (docs/dashboard.md).
import { api } from './api.js';
import * as format from './format.js';

const SHOWN = 5;
/** At most one fetch this often, however often the summary changes. */
const REFRESH_MS = 3_000;

export class ReorgList {
  constructor(element, queue) {
    this.queue = queue;
    this.element = element;
    this.table = element.querySelector('.reorg-table');
    this.body = element.querySelector('tbody');
    this.note = element.querySelector('.reorgs-note');
    this.items = [];
    this.summaryKey = '';
    this.stale = false;
    this.loading = false;
    this.fetchedAt = 0;
  }

  get path() {
    return `v1/queues/${encodeURIComponent(this.queue)}/reorgs?limit=${SHOWN}`;
  }

  /** Called with each snapshot's summary; hidden, and never fetched, without a chain head. */
  update(summary) {
    const chain = summary.head !== undefined;
    this.element.hidden = !chain;
    if (!chain) return;
    // Rate and head age move every second without anything to fetch: not in the key.
    const { head, watermark, state, done, pending, leased, retrying, failed } = summary;
    const key = JSON.stringify([head, watermark, state, done, pending, leased, retrying, failed]);
    if (key !== this.summaryKey) {
      this.summaryKey = key;
      this.stale = true;
    }
    // A change inside the window is fetched by a later snapshot, once the window is over.
    if (this.stale && !this.loading && Date.now() - this.fetchedAt >= REFRESH_MS) void this.load();
    this.showAges();
  }

  async load() {
    this.stale = false;
    this.loading = true;
    this.fetchedAt = Date.now();
    try {
      const { items } = await api(this.path);
      this.items = items;
      this.render();
    } catch (error) {
      // Fetched again with the next change of the summary.
      this.stale = true;
      this.note.textContent = `Could not list reorganisations: ${error.message}`;
    } finally {
      this.loading = false;
    }
  }

  render() {
    this.body.replaceChildren(...this.items.map((item) => this.row(item)));
    this.table.hidden = this.items.length === 0;
    this.note.textContent = this.items.length === 0 ? 'No reorganisation seen.' : '';
    this.showAges();
  }

  row(item) {
    const tr = document.createElement('tr');
    tr.dataset.reorg = String(item.id);
    const cell = (text, className) => {
      const td = document.createElement('td');
      td.textContent = text;
      if (className) td.className = className;
      tr.append(td);
      return td;
    };
    cell(format.count(item.forkHeight), 'num');
    cell(format.count(item.depth), 'num');
    cell('', 'reorg-when');
    const reverted = item.revertedAt !== null;
    const revert = cell(reverted ? 'reverted' : 'revert due', 'reorg-revert');
    revert.dataset.reverted = String(reverted);
    if (reverted) revert.title = `reverted at ${new Date(item.revertedAt).toLocaleString()}`;
    const hashes = `${item.oldHash ?? 'unknown'} → ${item.newHash ?? 'unknown'}`;
    tr.title = `heights ${format.range(item.revertFrom, item.revertTo)} orphaned; block above the fork: ${hashes}`;
    return tr;
  }

  /** "12:00:01 (3 min 5 s ago)", kept current between fetches. */
  showAges() {
    const now = Date.now();
    this.items.forEach((item, index) => {
      const cell = this.body.rows[index]?.querySelector('.reorg-when');
      if (cell) cell.textContent = format.since(item.detectedAt, now);
    });
  }
}
