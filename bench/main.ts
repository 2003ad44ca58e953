/**
 * `npm run bench` (node dist/bench/main.js): parse options, run, print the report on stdout,
 * write the results file. On SIGINT/SIGTERM, kills what it started and drops its databases.
 * Exits 1 when a Blockrunner scenario failed (anchors' failures are reported, not fatal), 2 on
 * a usage error; targets not met are figures, not failures.
 */
import { resolve } from 'node:path';
import { packageRoot } from '../shared/package-root.js';
import { dropLiveDatabases } from './databases.js';
import { parseBenchArgs, USAGE, UsageError } from './options.js';
import { liveProcesses } from './processes.js';
import { renderReport } from './report.js';
import { describeError } from './results.js';
import { writeResults } from './results-file.js';
import { runBench } from './run-bench.js';

async function main(argv: string[]): Promise<number> {
  let options: ReturnType<typeof parseBenchArgs>;
  try {
    options = parseBenchArgs(argv);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    process.stderr.write(`bench: ${error.message}\n\n${USAGE}`);
    return 2;
  }
  if (options === 'help') {
    process.stdout.write(USAGE);
    return 0;
  }
  const command =
    process.env.npm_lifecycle_event === 'bench'
      ? ['npm run bench', ...(argv.length > 0 ? ['--', ...argv] : [])].join(' ')
      : ['node dist/bench/main.js', ...argv].join(' ');
  const results = await runBench(options, command, (message) =>
    process.stderr.write(`bench: ${message}\n`),
  );
  process.stdout.write(renderReport(results));
  // Relative to the package root, whatever the working directory: bench/results/latest.json.
  const out = resolve(packageRoot(), options.out);
  await writeResults(out, results);
  process.stderr.write(`bench: results written to ${out}\n`);
  const failed = Object.values(results.scenarios).some((outcome) => outcome.status === 'failed');
  return failed ? 1 : 0;
}

async function interrupted(signal: NodeJS.Signals): Promise<void> {
  process.stderr.write(`bench: ${signal}, stopping what it started\n`);
  for (const child of liveProcesses()) child.kill();
  await Promise.race([
    dropLiveDatabases(),
    new Promise((resolve) => setTimeout(resolve, 5_000).unref()),
  ]);
  process.exit(130);
}

process.once('SIGINT', (signal) => void interrupted(signal));
process.once('SIGTERM', (signal) => void interrupted(signal));
// Whatever happens, no child outlives the bench.
process.on('exit', () => {
  for (const child of liveProcesses()) child.kill();
});

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`bench: ${describeError(error)}\n`);
    for (const child of liveProcesses()) child.kill();
    void dropLiveDatabases().finally(() => process.exit(1));
  },
);
