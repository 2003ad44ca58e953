// One card per queue: progress (done / enqueued), rate, ETA, watermark and counts, its height
// map and its dead letters. Built once from the page's template and updated in place.
import { DeadLetters } from './dead-letters.js';
import * as format from './format.js';
import { HeightStrip } from './height-strip.js';

export class QueueCard {
  constructor(template, container, name) {
    this.name = name;
    this.element = template.content.firstElementChild.cloneNode(true);
    this.element.dataset.queue = name;
    this.element.setAttribute('aria-label', `queue ${name}`);
    this.field = (selector) => this.element.querySelector(selector);
    this.field('.queue-name').textContent = name;
    container.append(this.element);
    this.strip = new HeightStrip(this.field('.map'), name);
    this.deadLetters = new DeadLetters(this.field('.dead-letters'), name);
  }

  update(summary) {
    const { done, pending, leased, retrying, failed, watermark, rate } = summary;
    const total = done + pending + leased + retrying + failed;
    const open = pending + leased + retrying;
    const progress = this.field('.queue-progress');
    progress.max = Math.max(total, 1);
    progress.value = done;
    const percent = format.percent(done, total);
    progress.setAttribute('aria-label', `${this.name}: ${percent} done`);
    progress.setAttribute('aria-valuetext', `${format.count(done)} of ${format.count(total)} done`);
    this.field('.queue-percent').textContent = percent;
    this.field('.progress-text').textContent =
      `${format.count(done)} of ${format.count(total)} heights done`;
    this.field('.stat-rate').textContent = format.rate(rate);
    this.field('.stat-eta').textContent =
      open === 0
        ? failed > 0
          ? 'stalled: failed heights'
          : 'done'
        : rate > 0
          ? format.duration(open / rate)
          : '—';
    this.field('.stat-watermark').textContent =
      watermark === null ? 'none' : format.count(watermark);
    this.field('.stat-pending').textContent = format.count(pending);
    this.field('.stat-leased').textContent = format.count(leased);
    this.field('.stat-retrying').textContent = format.count(retrying);
    this.field('.stat-failed').textContent = format.count(failed);
    const status = this.field('.queue-status');
    status.textContent = open > 0 ? 'running' : failed > 0 ? 'failed heights' : 'complete';
    status.dataset.status = open > 0 ? 'running' : failed > 0 ? 'failed' : 'complete';
    this.strip.update(`${done}/${pending}/${leased}/${retrying}/${failed}`);
    this.deadLetters.update(failed);
  }

  remove() {
    this.element.remove();
  }
}
