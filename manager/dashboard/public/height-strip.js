// A queue's height map: colour bands drawn on a canvas from maps the server merged from the range
// sets, so a queue of 100,000,000 heights draws as fast as a small one: the whole span from each
// snapshot of the event stream (the same moment as the card's counts), a zoomed span from GET
// /v1/queues/:queue/map at about one bucket per pixel. Zoom by drag, click or buttons, down to
// single heights; hovering names the range and its state (colour is never the only carrier).
import { api } from './api.js';
import * as format from './format.js';

/**
 * Drawn top to bottom in a mixed bucket, rarest and most urgent first. Only the drawing order:
 * the states are the map answer's, listed once in MAP_STATES (manager/dashboard/height-map.ts).
 */
const STACK_ORDER = ['failed', 'retrying', 'leased', 'pending', 'missing', 'done'];
const STATE_NAMES = { missing: 'never enqueued' };
const MAX_BUCKETS = 2_000;
const MAX_HEIGHT = Number.MAX_SAFE_INTEGER;
/** Every state present in a bucket gets at least this many pixels, so one failed height shows. */
const MIN_BAND_PX = 3;
/** A fresh map at most this often while the counts change (plus at once on zoom). */
const REFRESH_MS = 1_900;
/** A press that moves less than this is a click (zoom in), not a drag (zoom to selection). */
const DRAG_PX = 4;

function stateName(state) {
  return STATE_NAMES[state] ?? state;
}

function colours() {
  const style = getComputedStyle(document.documentElement);
  const colour = (state) => style.getPropertyValue(`--state-${state}`).trim();
  return Object.fromEntries(STACK_ORDER.map((state) => [state, colour(state)]));
}

/** Diagonal hatching for never-enqueued heights: not a colour alone. */
function hatch(ctx, colour) {
  const tile = document.createElement('canvas');
  tile.width = 6;
  tile.height = 6;
  const t = tile.getContext('2d');
  t.fillStyle = '#ffffff';
  t.fillRect(0, 0, 6, 6);
  t.strokeStyle = colour;
  t.lineWidth = 1.5;
  t.beginPath();
  t.moveTo(0, 6);
  t.lineTo(6, 0);
  t.stroke();
  return ctx.createPattern(tile, 'repeat');
}

/** "600 done · 400 pending", most heights first. */
export function describeEntry(entry) {
  if (entry.state !== 'mixed') return stateName(entry.state);
  return Object.entries(entry.counts)
    .sort((a, b) => b[1] - a[1])
    .map(([state, n]) => `${format.count(n)} ${stateName(state)}`)
    .join(' · ');
}

export class HeightStrip {
  constructor(element, queue) {
    this.queue = queue;
    this.canvas = element.querySelector('.map-canvas');
    this.frame = element.querySelector('.map-frame');
    this.tip = element.querySelector('.map-tip');
    this.selection = element.querySelector('.map-selection');
    this.readout = element.querySelector('.map-readout');
    this.spanLabel = element.querySelector('.map-span');
    /** null: the whole enqueued span, following it as it grows; else {from, to}. */
    this.view = null;
    this.whole = null;
    /** The last snapshot's map of the whole span. */
    this.wholeMap = null;
    this.map = null;
    this.countsKey = '';
    this.fetchedAt = 0;
    this.fetchedWidth = 0;
    this.loading = false;
    this.again = false;
    element.querySelector('.zoom-all').addEventListener('click', () => this.zoomTo(null));
    element.querySelector('.zoom-in').addEventListener('click', () => this.zoomBy(1 / 10));
    element.querySelector('.zoom-out').addEventListener('click', () => this.zoomBy(10));
    this.wirePointer();
    // Zoomed, about one bucket per pixel: a new width needs a new map; the whole span is redrawn.
    new ResizeObserver(() => {
      if (!this.view) this.showWhole();
      else if (Math.round(this.canvas.clientWidth) !== this.fetchedWidth) void this.load();
    }).observe(this.canvas);
  }

  /**
   * Called with each snapshot: `whole` is the map of the whole enqueued span that the snapshot
   * carries, read with the counts the card shows, so the strip and the counts tell the same
   * moment; drawn at once unless zoomed. Zoomed, the zoomed span is fetched again when the
   * counts (`countsKey`) moved, at most every REFRESH_MS.
   */
  update(whole, countsKey) {
    if (whole) {
      this.wholeMap = whole;
      this.whole = { from: whole.from, to: whole.to };
    }
    if (!this.view) {
      this.showWhole();
      return;
    }
    if (countsKey === this.countsKey || Date.now() - this.fetchedAt < REFRESH_MS) return;
    this.countsKey = countsKey;
    void this.load();
  }

  showWhole() {
    if (!this.wholeMap) return;
    this.map = this.wholeMap;
    this.draw();
  }

  /** Fetches the zoomed span's map (the whole span comes with the snapshots). */
  async load() {
    if (!this.view) {
      this.showWhole();
      return;
    }
    if (this.loading) {
      this.again = true;
      return;
    }
    this.loading = true;
    try {
      do {
        this.again = false;
        const view = this.view;
        const width = Math.round(this.canvas.clientWidth);
        if (!view || width === 0) return;
        const params = new URLSearchParams({
          buckets: String(Math.min(width, MAX_BUCKETS)),
          from: String(view.from),
          to: String(view.to),
        });
        this.fetchedAt = Date.now();
        this.fetchedWidth = width;
        const map = await api(`v1/queues/${encodeURIComponent(this.queue)}/map?${params}`);
        // Zoomed elsewhere (or back to the whole span) meanwhile: that view is drawn instead.
        if (this.view !== view) continue;
        this.map = map;
        this.draw();
      } while (this.again);
    } catch (error) {
      this.readout.textContent = `Height map unavailable: ${error.message}`;
    } finally {
      this.loading = false;
    }
    if (!this.view) this.showWhole();
  }

  zoomTo(view) {
    const whole = this.whole;
    const covers = whole && view && view.from <= whole.from && view.to >= whole.to;
    this.view = !view || covers ? null : view;
    void this.load();
  }

  /** Scales the span around its middle (or `around`): 1/10 zooms in, 10 zooms out. */
  zoomBy(factor, around) {
    const { from, to } = this.view ?? this.whole ?? { from: 0, to: 0 };
    const span = to - from + 1;
    const next = Math.max(1, Math.min(MAX_HEIGHT, Math.round(span * factor)));
    const middle = around ?? from + Math.floor(span / 2);
    const start = Math.max(0, Math.min(MAX_HEIGHT - next + 1, middle - Math.floor(next / 2)));
    this.zoomTo({ from: start, to: start + next - 1 });
  }

  draw() {
    const { canvas, map } = this;
    const width = canvas.clientWidth;
    const height = canvas.clientHeight;
    const ratio = window.devicePixelRatio || 1;
    canvas.width = Math.round(width * ratio);
    canvas.height = Math.round(height * ratio);
    const ctx = canvas.getContext('2d');
    ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
    ctx.clearRect(0, 0, width, height);
    const palette = colours();
    const fills = { ...palette, missing: hatch(ctx, palette.missing) };
    const span = map.to - map.from + 1;
    const totals = {};
    for (const entry of map.entries) {
      const x0 = ((entry.from - map.from) / span) * width;
      const x1 = ((entry.to - map.from + 1) / span) * width;
      const w = Math.max(x1 - x0, 0.75);
      for (const [state, n] of Object.entries(entry.counts))
        totals[state] = (totals[state] ?? 0) + n;
      if (entry.state !== 'mixed') {
        ctx.fillStyle = fills[entry.state];
        ctx.fillRect(x0, 0, w, height);
        continue;
      }
      let y = 0;
      for (const band of bands(entry, height)) {
        ctx.fillStyle = fills[band.state];
        ctx.fillRect(x0, y, w, band.px);
        y += band.px;
      }
    }
    const perBucket =
      map.bucketSize === 1
        ? 'one height per bucket'
        : `${format.count(map.bucketSize)} heights per bucket`;
    this.spanLabel.textContent = `heights ${format.range(map.from, map.to)} · ${perBucket}`;
    const summary = STACK_ORDER.filter((state) => totals[state])
      .map((state) => `${format.count(totals[state])} ${stateName(state)}`)
      .join(', ');
    canvas.setAttribute(
      'aria-label',
      `Height map of ${this.queue}, heights ${format.range(map.from, map.to)}: ${summary}`,
    );
  }

  /** The entry under x (CSS pixels), or undefined. */
  entryAt(x) {
    const map = this.map;
    if (!map) return undefined;
    const height = this.heightAt(x);
    let lo = 0;
    let hi = map.entries.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const entry = map.entries[mid];
      if (entry.to < height) lo = mid + 1;
      else if (entry.from > height) hi = mid - 1;
      else return entry;
    }
    return undefined;
  }

  heightAt(x) {
    const map = this.map;
    const span = map.to - map.from + 1;
    const offset = Math.floor((Math.max(0, x) / this.canvas.clientWidth) * span);
    return Math.min(map.to, map.from + offset);
  }

  wirePointer() {
    const { canvas } = this;
    let pressX;
    canvas.addEventListener('pointerdown', (event) => {
      if (!this.map) return;
      pressX = event.offsetX;
      canvas.setPointerCapture(event.pointerId);
    });
    canvas.addEventListener('pointermove', (event) => {
      this.hover(event.offsetX);
      if (pressX === undefined) return;
      const left = Math.min(pressX, event.offsetX);
      this.selection.hidden = Math.abs(event.offsetX - pressX) < DRAG_PX;
      this.selection.style.left = `${left}px`;
      this.selection.style.width = `${Math.abs(event.offsetX - pressX)}px`;
    });
    canvas.addEventListener('pointerup', (event) => {
      if (pressX === undefined || !this.map) return;
      const [a, b] = [pressX, event.offsetX].sort((p, q) => p - q);
      pressX = undefined;
      this.selection.hidden = true;
      if (b - a < DRAG_PX) this.zoomBy(1 / 10, this.heightAt(a));
      else this.zoomTo({ from: this.heightAt(a), to: this.heightAt(b) });
    });
    canvas.addEventListener('pointercancel', () => {
      pressX = undefined;
      this.selection.hidden = true;
    });
    canvas.addEventListener('pointerleave', () => {
      this.tip.hidden = true;
    });
  }

  hover(x) {
    const entry = this.entryAt(x);
    if (!entry) {
      this.tip.hidden = true;
      return;
    }
    const text = `${format.range(entry.from, entry.to)}: ${describeEntry(entry)}`;
    this.tip.textContent = text;
    this.readout.textContent = `Heights ${text}`;
    this.tip.hidden = false;
    const room = this.frame.clientWidth - this.tip.offsetWidth;
    this.tip.style.left = `${Math.max(0, Math.min(room, x + 12))}px`;
  }
}

/** The bands of a mixed bucket, in STACK_ORDER, filling `height` px; none thinner than MIN_BAND_PX. */
function bands(entry, height) {
  const present = STACK_ORDER.filter((state) => entry.counts[state]);
  const size = entry.to - entry.from + 1;
  const out = present.map((state) => ({ state, px: (entry.counts[state] / size) * height }));
  const thin = out.filter((band) => band.px < MIN_BAND_PX);
  const spare = height - thin.length * MIN_BAND_PX;
  const thick = out.filter((band) => band.px >= MIN_BAND_PX);
  const thickTotal = thick.reduce((sum, band) => sum + band.px, 0);
  for (const band of thin) band.px = MIN_BAND_PX;
  for (const band of thick) band.px = (band.px / thickTotal) * spare;
  return out;
}
