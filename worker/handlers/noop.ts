/**
 * Does nothing, so benchmarks measure Blockrunner itself (DESIGN "Performance targets", S1).
 * It returns synchronously: the runner then skips a promise and a microtask per height.
 */
export default function noop(): void {}
