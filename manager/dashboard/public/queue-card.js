// One card per queue: progress (done / enqueued), rate, ETA, watermark and counts, its state
// (paused, with the reason), for a chain its head, lag and latest reorganisations, its height
// map and its dead letters. Built once from the page's template and updated in place.
import { DeadLetters } from './dead-letters.js';
import * as format from './format.js';
import { HeightStrip } from './height-strip.js';
import { etaSeconds, RateWindow } from './progress-rate.js';
import { ReorgList } from './reorg-list.js';

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
    this.reorgs = new ReorgList(this.field('.reorgs'), name);
    this.rate = new RateWindow();
  }

  /**
   * One snapshot: the queue's summary, the snapshot's time `at` (ms, the manager's clock) and
   * the whole-span height map read with that summary.
   */
  update(summary, at, map) {
    const { done, pending, leased, retrying, failed, watermark } = summary;
    const paused = summary.state === 'paused';
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
    // Over the snapshots of this run (docs/dashboard.md, "Rate and ETA"), not the API's minute.
    this.rate.add(at, done);
    const rate = this.rate.perSecond();
    const eta = etaSeconds(open, rate);
    this.field('.stat-rate').textContent = rate === null ? '—' : format.rate(rate);
    this.field('.stat-eta').textContent =
      open === 0
        ? failed > 0
          ? 'stalled: failed heights'
          : 'done'
        : paused
          ? 'paused'
          : eta === null
            ? '—'
            : format.duration(eta);
    this.field('.stat-watermark').textContent =
      watermark === null ? 'none' : format.count(watermark);
    this.field('.stat-pending').textContent = format.count(pending);
    this.field('.stat-leased').textContent = format.count(leased);
    this.field('.stat-retrying').textContent = format.count(retrying);
    this.field('.stat-failed').textContent = format.count(failed);
    const status = this.field('.queue-status');
    status.textContent = open > 0 ? 'running' : failed > 0 ? 'failed heights' : 'complete';
    status.dataset.status = open > 0 ? 'running' : failed > 0 ? 'failed' : 'complete';
    // Paused, "running" would be wrong: the badge with the reason takes its place.
    status.hidden = paused;
    const badge = this.field('.queue-paused');
    badge.hidden = !paused;
    badge.textContent = paused ? `paused: ${summary.pausedReason ?? 'no reason given'}` : '';
    badge.title = badge.textContent;
    this.showChain(summary);
    this.strip.update(map, `${done}/${pending}/${leased}/${retrying}/${failed}`);
    this.deadLetters.update(failed);
    this.reorgs.update(summary);
  }

  /** Head, lag (head minus watermark) and time since the head moved, for a queue with a head. */
  showChain({ head, lag, headAgeSeconds }) {
    const chain = head !== undefined;
    for (const stat of this.element.querySelectorAll('.chain-stat')) stat.hidden = !chain;
    if (!chain) return;
    this.field('.stat-head').textContent = format.count(head);
    this.field('.stat-lag').textContent =
      lag === null || lag === undefined ? '—' : format.count(lag);
    this.field('.stat-head-age').textContent =
      headAgeSeconds === undefined ? '—' : `${format.duration(headAgeSeconds)} ago`;
  }

  remove() {
    this.element.remove();
  }
}
