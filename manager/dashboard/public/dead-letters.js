// A queue's latest dead letters (GET /v1/queues/:queue/failed) with requeue buttons
// (POST /v1/queues/:queue/failed/retry), refreshed when the failed count changes.
import { api } from './api.js';
import * as format from './format.js';

const SHOWN = 10;
/** While heights are failed, look again this often even if the count stays. */
const REFRESH_MS = 5_000;

export class DeadLetters {
  constructor(element, queue) {
    this.queue = queue;
    this.element = element;
    this.body = element.querySelector('tbody');
    this.more = element.querySelector('.dead-more');
    this.result = element.querySelector('.requeue-result');
    this.requeueAll = element.querySelector('.requeue-all');
    this.failed = 0;
    this.fetchedAt = 0;
    this.shownKey = '';
    this.requeueAll.addEventListener('click', () => this.requeue(undefined));
  }

  get path() {
    return `v1/queues/${encodeURIComponent(this.queue)}/failed`;
  }

  /** Called with each snapshot. */
  update(failed) {
    const changed = failed !== this.failed;
    this.failed = failed;
    this.requeueAll.textContent = `Requeue all ${format.count(failed)} failed`;
    this.requeueAll.disabled = failed === 0;
    if (changed || (failed > 0 && Date.now() - this.fetchedAt >= REFRESH_MS)) void this.load();
  }

  async load() {
    this.fetchedAt = Date.now();
    let page;
    try {
      page = await api(`${this.path}?limit=${SHOWN}`);
    } catch (error) {
      this.more.textContent = `Could not list failed heights: ${error.message}`;
      return;
    }
    this.element.hidden = page.items.length === 0 && this.result.textContent === '';
    const key = JSON.stringify(page.items);
    // Rows are rebuilt only when they change, so a button is never swapped under a click.
    if (key !== this.shownKey) {
      this.shownKey = key;
      this.body.replaceChildren(...page.items.map((item) => this.row(item)));
    }
    const hidden = this.failed - page.items.length;
    this.more.textContent =
      hidden > 0 ? `Lowest ${page.items.length} shown; ${format.count(hidden)} more failed.` : '';
  }

  row(item) {
    const tr = document.createElement('tr');
    const cell = (text, className) => {
      const td = document.createElement('td');
      td.textContent = text;
      if (className) td.className = className;
      tr.append(td);
      return td;
    };
    cell(format.count(item.height), 'num');
    cell(format.count(item.attempts), 'num');
    cell(item.lastError, 'error-text').title = item.lastError;
    const button = document.createElement('button');
    button.type = 'button';
    button.textContent = 'Requeue';
    button.setAttribute('aria-label', `Requeue height ${item.height}`);
    button.addEventListener('click', () => this.requeue(item.height));
    cell('').append(button);
    return tr;
  }

  /** Requeues one height, or every failed height of the queue when `height` is undefined. */
  async requeue(height) {
    const body = height === undefined ? {} : { from: height, to: height };
    try {
      const { requeued } = await api(`${this.path}/retry`, { method: 'POST', body });
      this.result.textContent = `Requeued ${format.count(requeued)} ${requeued === 1 ? 'height' : 'heights'}.`;
    } catch (error) {
      this.result.textContent = `Requeue failed: ${error.message}`;
    }
    this.element.hidden = false;
    await this.load();
  }
}
