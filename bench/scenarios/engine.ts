import { spawn } from 'node:child_process'
import { type BenchContext, sub, fmtInt, aborted } from '../context.ts'
import { workerPool } from '../pool.ts'
import type { Row } from '../report.ts'
import { EventTap, nsToMs, startBenchNode, summarize, type BenchNode, type TapEvent } from './engine-node.ts'

/** processes in parallel: the agent's DM_AGENT_CONCURRENCY and the raw baseline's pool size */
const PARALLEL = 64
/** an orchestration holds at most this many steps (its JSON Schema's maxItems) */
const MAX_STEPS = 1000
const THROUGHPUT_GOAL = 0.5
const LINK_P99_GOAL_MS = 20
const TRUE = { type: 'shell', command: 'true' }

export interface EngineFigures { rows: Row[], details: Record<string, unknown> }

/** `n` × `/bin/sh -c true` through plain child_process.spawn, `parallel` at a time; seconds. */
async function rawSpawn (ctx: BenchContext, n: number, parallel: number): Promise<number> {
  const t0 = performance.now()
  await workerPool(n, parallel, async () => {
    await new Promise<void>((resolve, reject) => {
      const child = spawn('/bin/sh', ['-c', 'true'])
      child.on('error', reject)
      child.on('close', code => { if (code === 0) resolve(); else reject(new Error(`sh -c true exited with ${String(code)}`)) })
    })
  }, { signal: ctx.signal })
  aborted(ctx.signal)
  return (performance.now() - t0) / 1000
}

function cpuSeconds (since: NodeJS.CpuUsage): number {
  const u = process.cpuUsage(since)
  return (u.user + u.system) / 1e6
}

const ms = (x: number): string => `${x.toFixed(2)} ms`

/** Waits for the run's `execution.completed` and checks that it succeeded (else the figures mean nothing). */
async function completion (ctx: BenchContext, tap: EventTap, id: string, timeoutMs: number): Promise<TapEvent> {
  const done = await tap.waitFor(`execution ${id} completed`, e => e.type === 'execution.completed' && e.aggregateId === id, { timeoutMs, signal: ctx.signal })
  if (done.data?.status !== 'succeeded') throw new Error(`execution ${id} ended ${String(done.data?.status)}, not succeeded`)
  return done
}

async function withNode<T> (ctx: BenchContext, namespace: string, run: (node: BenchNode, tap: EventTap) => Promise<T>): Promise<T> {
  ctx.progress(`starting a node (api, projector, engine, agent; agent concurrency ${PARALLEL}) in ${namespace}`)
  const node = await startBenchNode(ctx, namespace, PARALLEL)
  try {
    const tap = await EventTap.open(ctx, namespace, `${node.node.store.subjectPrefix}.>`, (await node.node.store.lastSeq()) + 1)
    try {
      return await run(node, tap)
    } finally {
      await tap.close()
    }
  } finally {
    await node.stop()
  }
}

/**
 * (e-a) One execution of N independent `true` steps on the node's own agent, from the POST
 * /launch request until the tap receives `execution.completed`, against N × `sh -c true` spawned by
 * plain Node with the same parallelism (before and after; the faster one is the limit).
 */
async function throughputScenario (ctx: BenchContext, steps: number): Promise<{ row: Row, details: Record<string, unknown> }> {
  const namespace = sub(ctx, 'ea')
  ctx.progress(`(e-a) raw baseline: ${fmtInt(steps)} × spawn('/bin/sh', ['-c', 'true']), ${PARALLEL} in parallel`)
  const rawBefore = await rawSpawn(ctx, steps, PARALLEL)
  const peak = ctx.rss.phase()
  const measured = await withNode(ctx, namespace, async (node, tap) => {
    const warm = Math.min(50, steps)
    await node.define({ name: 'bench-wide-warmup', steps: Array.from({ length: warm }, (_, i) => ({ id: `w${i + 1}`, action: TRUE })) })
    await node.define({ name: 'bench-wide', steps: Array.from({ length: steps }, (_, i) => ({ id: `s${i + 1}`, action: TRUE })) })
    ctx.progress(`(e-a) warm-up: ${warm} independent steps`)
    const w = await node.launch({ orchestration_id: 'bench-wide-warmup', targets: ['local'] })
    await completion(ctx, tap, w.id, 60_000)
    await new Promise(resolve => setTimeout(resolve, 500)) // let the projector settle
    ctx.progress(`(e-a) one execution of ${fmtInt(steps)} independent steps of \`true\``)
    const cpu = process.cpuUsage()
    const run = await node.launch({ orchestration_id: 'bench-wide', targets: ['local'] })
    const done = await completion(ctx, tap, run.id, Math.max(120_000, steps * 200))
    const nodeCpu = cpuSeconds(cpu)
    const mine = tap.events.filter(e => e.executionId === run.id || e.aggregateId === run.id)
    const launched = mine.find(e => e.type === 'execution.launched')!
    const at = (type: string): TapEvent[] => mine.filter(e => e.type === type && e.kind !== 'undo')
    const dispatched = at('execution.step_dispatched')
    const started = at('step_run.started')
    const finished = at('step_run.finished')
    const rel = (ns: bigint): number => Math.round(nsToMs(ns, launched.storedNs))
    // how many attempts ran at once: +1 at each started, -1 at each finished, by store time
    const marks = [...started.map(e => ({ t: e.storedNs, d: 1 })), ...finished.map(e => ({ t: e.storedNs, d: -1 }))].sort((a, b) => a.t < b.t ? -1 : a.t > b.t ? 1 : a.d - b.d)
    let open = 0
    let maxOpen = 0
    for (const m of marks) { open += m.d; maxOpen = Math.max(maxOpen, open) }
    const startedAt = new Map(started.map(e => [e.stepId, e.storedNs]))
    return {
      seconds: (done.receivedAt - run.sentAt) / 1000,
      fromAnswerSeconds: (done.receivedAt - run.answeredAt) / 1000,
      launchRequestMs: Math.round(run.answeredAt - run.sentAt),
      nodeCpuSeconds: Math.round(nodeCpu * 100) / 100,
      events: { dispatched: dispatched.length, started: started.length, finished: finished.length },
      // ms after `execution.launched` was stored (JetStream timestamps)
      timeline: {
        firstDispatched: rel(dispatched[0].storedNs),
        lastDispatched: rel(dispatched[dispatched.length - 1].storedNs),
        firstStarted: rel(started[0].storedNs),
        lastStarted: rel(started[started.length - 1].storedNs),
        lastFinished: rel(finished[finished.length - 1].storedNs),
        completed: rel(done.storedNs)
      },
      maxAttemptsAtOnce: maxOpen,
      dispatchedToStartedMs: summarize(dispatched.filter(d => startedAt.has(d.stepId)).map(d => nsToMs(startedAt.get(d.stepId)!, d.storedNs))),
      startedToFinishedMs: summarize(finished.filter(f => startedAt.has(f.stepId)).map(f => nsToMs(f.storedNs, startedAt.get(f.stepId)!)))
    }
  })
  const peakBytes = peak()
  ctx.progress(`(e-a) raw baseline again (after)`)
  const rawAfter = await rawSpawn(ctx, steps, PARALLEL)
  const ours = steps / measured.seconds
  const limit = steps / Math.min(rawBefore, rawAfter)
  ctx.progress(`(e-a) ${fmtInt(ours)} steps/s (${measured.seconds.toFixed(2)} s) vs raw ${fmtInt(limit)} steps/s (${rawBefore.toFixed(2)} s / ${rawAfter.toFixed(2)} s)`)
  return {
    row: {
      id: 'e-a',
      scenario: `(e-a) engine: 1 execution of ${fmtInt(steps)} independent \`true\` steps, local agent (${measured.seconds.toFixed(2)} s launch→completed)`,
      unit: 'steps/s',
      ours,
      limit,
      limitLabel: `raw spawn sh -c true, ${PARALLEL} in parallel`,
      ratio: ours / limit,
      goal: THROUGHPUT_GOAL,
      peakRssBytes: peakBytes,
      seconds: measured.seconds
    },
    details: { steps, parallel: PARALLEL, rawSeconds: { before: rawBefore, after: rawAfter }, ...measured }
  }
}

/**
 * (e-b) A chain s1 → s2 → … → sN of `true` steps: for each link, from the JetStream store time
 * of `step_run.finished` of s(k) to that of `execution.step_dispatched` and `step_run.started`
 * of s(k+1).
 */
async function chainScenario (ctx: BenchContext, length: number): Promise<{ rows: Row[], details: Record<string, unknown> }> {
  const namespace = sub(ctx, 'eb')
  const peak = ctx.rss.phase()
  const chainOf = (prefix: string, n: number): unknown[] => Array.from({ length: n }, (_, i) => ({
    id: `${prefix}${i + 1}`, action: TRUE, ...(i > 0 ? { after: [`${prefix}${i}`] } : {})
  }))
  const measured = await withNode(ctx, namespace, async (node, tap) => {
    const warm = Math.min(20, length)
    await node.define({ name: 'bench-chain-warmup', steps: chainOf('w', warm) })
    await node.define({ name: 'bench-chain', steps: chainOf('s', length) })
    ctx.progress(`(e-b) warm-up: chain of ${warm}`)
    const w = await node.launch({ orchestration_id: 'bench-chain-warmup', targets: ['local'] })
    await completion(ctx, tap, w.id, 60_000)
    await new Promise(resolve => setTimeout(resolve, 500))
    ctx.progress(`(e-b) chain of ${fmtInt(length)} \`true\` steps`)
    const cpu = process.cpuUsage()
    const run = await node.launch({ orchestration_id: 'bench-chain', targets: ['local'] })
    const done = await completion(ctx, tap, run.id, Math.max(120_000, length * 1_000))
    const nodeCpu = cpuSeconds(cpu)
    const mine = tap.events.filter(e => (e.executionId === run.id || e.aggregateId === run.id) && e.kind !== 'undo')
    const byStep = (type: string): Map<string, TapEvent> => {
      const m = new Map<string, TapEvent>()
      for (const e of mine) if (e.type === type && e.stepId != null && !m.has(e.stepId)) m.set(e.stepId, e)
      return m
    }
    const dispatched = byStep('execution.step_dispatched')
    const started = byStep('step_run.started')
    const finished = byStep('step_run.finished')
    const launched = mine.find(e => e.type === 'execution.launched')!
    const toDispatched: number[] = []
    const toStarted: number[] = []
    const toDispatchedReceived: number[] = []
    const toStartedReceived: number[] = []
    const dispatchedToStarted: number[] = []
    const startedToFinished: number[] = []
    for (let k = 1; k <= length; k++) {
      const s = started.get(`s${k}`)!
      const f = finished.get(`s${k}`)!
      startedToFinished.push(nsToMs(f.storedNs, s.storedNs))
      dispatchedToStarted.push(nsToMs(s.storedNs, dispatched.get(`s${k}`)!.storedNs))
      if (k === length) break
      const d1 = dispatched.get(`s${k + 1}`)!
      const s1 = started.get(`s${k + 1}`)!
      toDispatched.push(nsToMs(d1.storedNs, f.storedNs))
      toStarted.push(nsToMs(s1.storedNs, f.storedNs))
      toDispatchedReceived.push(d1.receivedAt - f.receivedAt)
      toStartedReceived.push(s1.receivedAt - f.receivedAt)
    }
    return {
      seconds: (done.receivedAt - run.sentAt) / 1000,
      launchRequestMs: Math.round(run.answeredAt - run.sentAt),
      launchedToCompletedMs: Math.round(nsToMs(done.storedNs, launched.storedNs)),
      firstDispatchMs: nsToMs(dispatched.get('s1')!.storedNs, launched.storedNs),
      lastFinishedToCompletedMs: nsToMs(done.storedNs, finished.get(`s${length}`)!.storedNs),
      nodeCpuSeconds: Math.round(nodeCpu * 100) / 100,
      // JetStream store timestamps (ns), per link k→k+1 and per step
      finishedToDispatchedMs: summarize(toDispatched),
      finishedToStartedMs: summarize(toStarted),
      dispatchedToStartedMs: summarize(dispatchedToStarted),
      startedToFinishedMs: summarize(startedToFinished),
      // the same links timed by when this process's reader received the events
      received: { finishedToDispatchedMs: summarize(toDispatchedReceived), finishedToStartedMs: summarize(toStartedReceived) },
      slowestLinks: toStarted.map((v, i) => ({ link: `s${i + 1}→s${i + 2}`, finishedToStartedMs: Math.round(v * 1000) / 1000, finishedToDispatchedMs: Math.round(toDispatched[i] * 1000) / 1000 }))
        .sort((a, b) => b.finishedToStartedMs - a.finishedToStartedMs).slice(0, 5)
    }
  })
  const peakBytes = peak()
  const st = measured.finishedToStartedMs
  const di = measured.finishedToDispatchedMs
  ctx.progress(`(e-b) finished→started p50 ${ms(st.p50)} p99 ${ms(st.p99)}; finished→dispatched p50 ${ms(di.p50)} p99 ${ms(di.p99)}; total ${measured.seconds.toFixed(2)} s`)
  const us = (x: number): number => x * 1000
  return {
    rows: [
      {
        id: 'e-b',
        scenario: `(e-b) engine chain of ${fmtInt(length)}: finished(k)→started(k+1) p99 (p50 ${ms(st.p50)}); ratio = ${LINK_P99_GOAL_MS} ms goal / p99`,
        unit: 'µs',
        ours: us(st.p99),
        ratio: LINK_P99_GOAL_MS / st.p99,
        goal: 1,
        peakRssBytes: peakBytes,
        seconds: measured.seconds
      },
      {
        id: 'e-b-dispatch',
        scenario: `    context: finished(k)→step_dispatched(k+1) p99 (p50 ${ms(di.p50)})`,
        unit: 'µs',
        ours: us(di.p99),
        peakRssBytes: peakBytes
      },
      {
        id: 'e-b-total',
        scenario: `    context: whole chain, launch→completed (${(measured.seconds * 1000 / length).toFixed(1)} ms a step; started→finished p50 ${ms(measured.startedToFinishedMs.p50)})`,
        unit: 'ms',
        ours: measured.seconds * 1000,
        peakRssBytes: peakBytes,
        seconds: measured.seconds
      }
    ],
    details: { length, parallel: PARALLEL, ...measured }
  }
}

/**
 * The engine end to end, each scenario in its own sub-namespace with one node started in-process
 * (roles api, projector, engine, agent; quiet logger) and runs launched through the API:
 * (e-a) throughput of N independent steps vs raw spawning, (e-b) scheduling latency of a chain.
 */
export async function engineScenarios (ctx: BenchContext, opts: { steps: number, chain: number }): Promise<{ rows: Row[], details: Record<string, unknown> }> {
  for (const [flag, n] of [['--steps', opts.steps], ['--chain', opts.chain]] as const) {
    if (!Number.isSafeInteger(n) || n < 2 || n > MAX_STEPS) throw new Error(`${flag} must be between 2 and ${MAX_STEPS} (steps of one orchestration), got ${n}`)
  }
  const rows: Row[] = []
  const details: Record<string, unknown> = {}
  const a = await throughputScenario(ctx, opts.steps)
  rows.push(a.row)
  details['e-a'] = a.details
  aborted(ctx.signal)
  const b = await chainScenario(ctx, opts.chain)
  rows.push(...b.rows)
  details['e-b'] = b.details
  return { rows, details }
}
