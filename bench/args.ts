/** Command-line options of `npm run bench`. */
export interface BenchOptions {
  /** events for (a) appends and (b) projector */
  events: number
  /** appends in flight for (a) */
  concurrency: number
  /** events for (c) rebuild; 0 skips it */
  rebuild: number
  /** interleaved rounds of (a) and (b); medians are reported */
  rounds: number
  /** independent `true` steps of the engine throughput run (d); 0 skips (d) and (e) */
  steps: number
  /** length of the chain for the scheduling latency (e) */
  chain: number
  json: boolean
  help: boolean
}

export const USAGE = `Usage: npm run bench -- [options]

Measures Dimensigon's hot paths against the physical limits of this machine, measured in the
same run, and prints one table (stdout); progress goes to stderr. Every run works in a fresh
namespace (NATS streams + Postgres schemas) and removes it at the end, also on Ctrl-C.

  (a) appends/s through EventStore.append (new aggregate each, expected version 0, ~300-byte
      data, C in flight) vs raw js.publish of the same payload size, same concurrency.
  (b) events/s through the projector runtime (audit projection, maxBatch 500) until its
      checkpoint reaches the last of N pre-appended events vs raw multi-row inserts of the
      same rows into an identical table (plain pg, 500 rows per transaction).
  (c) rebuild() of the audit projection over N events appended with 1000 publishes in flight;
      also the ordered-consumer read rate over the same log.
  (d) an execution of N independent steps of \`true\` on the local agent vs the same N processes
      spawned directly by plain Node with the same parallelism.
  (e) the engine's scheduling latency over a chain of steps: from one step run's
      \`step_run.finished\` to the next one's \`step_run.started\`, p50 and p99.

  Each round of (a) and (b) measures ours and the raw limit back to back (order alternating),
  N events each; the table shows medians, --json and stderr show every round.

Options:
  --events N        events for (a) and (b)               (default 20000)
  --concurrency C   appends in flight for (a)            (default 256)
  --rebuild N       events for (c); 0 skips (c)          (default 1000000)
  --rounds R        rounds of (a) and (b), ours and raw alternating; the
                    table shows medians                  (default 3)
  --steps N         steps of the engine run (d); 0 skips (d) and (e)  (default 1000)
  --chain N         steps of the latency chain (e)       (default 200)
  --json            print the results as JSON instead of a table
  -h, --help        print this help

Environment: NATS_URL (default nats://127.0.0.1:4222),
             DATABASE_URL (default postgres://127.0.0.1:5432/dimensigon_bench)
`

export class UsageError extends Error {}

function count (flag: string, raw: string | undefined, min: number): number {
  if (raw == null || raw.startsWith('--')) throw new UsageError(`${flag} needs a number`)
  const n = Number(raw.replace(/_/g, ''))
  if (!Number.isSafeInteger(n) || n < min) throw new UsageError(`${flag} must be an integer >= ${min}, got "${raw}"`)
  return n
}

export function parseArgs (argv: string[]): BenchOptions {
  const opts: BenchOptions = { events: 20_000, concurrency: 256, rebuild: 1_000_000, rounds: 3, steps: 1000, chain: 200, json: false, help: false }
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]
    const [flag, inline] = arg.includes('=') ? [arg.slice(0, arg.indexOf('=')), arg.slice(arg.indexOf('=') + 1)] : [arg, undefined]
    const value = (): string | undefined => inline ?? argv[++i]
    switch (flag) {
      case '--events': opts.events = count(flag, value(), 1); break
      case '--concurrency': opts.concurrency = count(flag, value(), 1); break
      case '--rebuild': opts.rebuild = count(flag, value(), 0); break
      case '--rounds': opts.rounds = count(flag, value(), 1); break
      case '--steps': opts.steps = count(flag, value(), 0); break
      case '--chain': opts.chain = count(flag, value(), 2); break
      case '--json': opts.json = true; break
      case '-h': case '--help': opts.help = true; break
      default: throw new UsageError(`unknown option ${arg}`)
    }
  }
  return opts
}
