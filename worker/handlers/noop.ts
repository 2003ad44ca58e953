/**
 * Does nothing, so benchmarks measure Blockrunner itself (docs/performance.md, S1).
 * It returns synchronously: the height loop then skips a promise and a microtask per height.
 */
export default function noop(): void {}
