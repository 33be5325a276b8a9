// The engine's brain (domain/execution/run.ts), specified by driving whole runs: a launch, then
// what agents report and what the engine decides, one turn at a time.
import t from 'tap'
import type { Test } from 'tap'
import type { Step } from '../../domain/orchestration/decider.ts'
import type { ExecutionLaunched, RunEvent, RunKind } from '../../domain/execution/events.ts'
import {
  initialExecution, evolveExecution, nextDecisions, decisionEvents, progressOf, slotKey,
  type Decision, type ExecutionState, type Slot
} from '../../domain/execution/run.ts'

const T0 = Date.parse('2025-03-12T14:00:00.000Z')
/** the time `s` seconds into the run */
const at = (s: number): string => new Date(T0 + s * 1000).toISOString()

const step = (id: string, extra: Partial<Step> = {}): Step =>
  ({ id, action: { type: 'shell', command: `do ${id}` }, ...extra })
const withUndo = (id: string, extra: Partial<Step> = {}): Step =>
  step(id, { undo: { type: 'shell', command: `undo ${id}` }, ...extra })

/** A launch whose plan puts every step on its `target`, else on s1. */
function launched (steps: Step[], opts: Partial<ExecutionLaunched> = {}): ExecutionLaunched {
  return {
    execution_id: 'ex-1',
    orchestration_id: 'demo',
    version: 1,
    params: {},
    targets: ['s1'],
    steps,
    stop_on_error: true,
    undo_on_error: false,
    plan: Object.fromEntries(steps.map(s => [s.id, s.target ?? ['s1']])),
    parent: null,
    launched_at: at(0),
    launched_by: 'key-1',
    ...opts
  }
}

/** A decision in one line, so a turn reads like a log. */
function show (d: Decision): string {
  switch (d.type) {
    case 'dispatch':
      return `dispatch ${d.kind === 'undo' ? 'undo ' : ''}${d.step_id}@${d.server}#${d.attempt}${d.not_before != null ? ` not before ${d.not_before}` : ''}`
    case 'skip': return `skip ${d.step_id}@${d.server}`
    case 'cancel': return `cancel ${d.step_id}@${d.server}`
    case 'stop': return `stop ${d.step_id}@${d.server}#${d.attempt}`
    case 'complete': return `complete ${d.status}${d.undo_status != null ? ` undo ${d.undo_status}` : ''}`
  }
}

interface Ref { server?: string, attempt?: number, kind?: RunKind }

/**
 * A run: the log, the state folded from it, and the two parties that write to it. `engine()` is
 * one turn of the engine: it decides, carries the decisions out as events and returns them; on
 * every turn it also checks that deciding is deterministic, that replaying the log gives the same
 * state, and that what was carried out is not decided again.
 */
class Run {
  readonly log: RunEvent[] = []
  state: ExecutionState
  readonly progress: number[] = []
  now = 0

  constructor (readonly t: Test, readonly launch: ExecutionLaunched) {
    this.state = initialExecution(launch)
    this.feed({ type: 'execution.launched', data: launch })
  }

  feed (...events: RunEvent[]): this {
    for (const e of events) {
      this.state = evolveExecution(this.state, e)
      this.log.push(e)
      this.progress.push(progressOf(this.state))
    }
    return this
  }

  /** Seconds into the run; every agent report moves the clock on by one unless told. */
  tick (s?: number): number {
    this.now = s ?? this.now + 1
    return this.now
  }

  engine (): string[] {
    const decisions = nextDecisions(this.state)
    this.t.same(nextDecisions(this.state), decisions, 'the same state gives the same decisions')
    const replayed = this.log.reduce(evolveExecution, initialExecution(this.launch))
    this.t.same(replayed, this.state, 'replaying the log gives the same state')
    const events = decisionEvents(this.state, decisions, at(this.now))
    this.t.same(JSON.parse(JSON.stringify(events)), events, 'decision events are JSON-serialisable')
    this.feed(...events)
    const after = nextDecisions(this.state).map(show)
    for (const d of decisions) {
      // `stop` is a message to an agent, not an event: it is repeated until the agent reports
      if (d.type !== 'stop') this.t.notOk(after.includes(show(d)), `${show(d)} is not decided again once carried out`)
    }
    return decisions.map(show)
  }

  ref (stepId: string, r: Ref = {}) {
    return { execution_id: this.launch.execution_id, step_id: stepId, server: r.server ?? 's1', attempt: r.attempt ?? 1, kind: r.kind ?? 'action' }
  }

  started (stepId: string, r: Ref & { instance?: string, at?: number } = {}): this {
    return this.feed({ type: 'step_run.started', data: { ...this.ref(stepId, r), instance: r.instance ?? 'agent-1', started_at: at(this.tick(r.at)) } })
  }

  finished (stepId: string, status: 'succeeded' | 'failed' | 'cancelled', r: Ref & { at?: number, rc?: number | null } = {}): this {
    const finishedAt = this.tick(r.at)
    return this.feed({
      type: 'step_run.finished',
      data: {
        ...this.ref(stepId, r),
        status,
        rc: r.rc !== undefined ? r.rc : status === 'succeeded' ? 0 : status === 'failed' ? 1 : null,
        error: status === 'failed' ? 'exit status 1' : null,
        stdout_tail: `${stepId} out`,
        stderr_tail: '',
        started_at: at(finishedAt - 1),
        finished_at: at(finishedAt),
        duration_ms: 1000
      }
    })
  }

  /** started and finished */
  ran (stepId: string, status: 'succeeded' | 'failed' | 'cancelled', r: Ref & { at?: number } = {}): this {
    return this.started(stepId, { ...r, at: undefined }).finished(stepId, status, r)
  }

  lost (stepId: string, r: Ref & { at?: number } = {}): this {
    return this.feed({ type: 'execution.step_lost', data: { ...this.ref(stepId, r), reason: 'agent s1 stopped answering', at: at(this.tick(r.at)) } })
  }

  cancel (): this {
    return this.feed({ type: 'execution.cancel_requested', data: { execution_id: this.launch.execution_id, requested_by: 'key-2', requested_at: at(this.tick()) } })
  }

  slot (stepId: string, server = 's1'): Slot {
    return this.state.slots[slotKey(stepId, server)]
  }

  statuses (): Record<string, string> {
    return Object.fromEntries(Object.values(this.state.slots).map(s => [`${s.step_id}@${s.server}`, s.status]))
  }
}

t.test('a launch starts every step that comes after nothing, on attempt 1, now', t => {
  const run = new Run(t, launched([step('a'), step('b'), step('c', { after: ['a'] })]))
  t.equal(run.state.status, 'pending')
  t.equal(progressOf(run.state), 0)
  t.same(nextDecisions(run.state), [
    { type: 'dispatch', step_id: 'a', server: 's1', attempt: 1, kind: 'action', not_before: null },
    { type: 'dispatch', step_id: 'b', server: 's1', attempt: 1, kind: 'action', not_before: null }
  ])
  run.engine()
  t.equal(run.state.status, 'running')
  t.same(run.engine(), [], 'nothing more until an agent reports')
  t.end()
})

t.test('decisionEvents carries out every decision but stop, stamped with now', t => {
  const state = initialExecution(launched([step('a')]))
  const now = at(5)
  t.same(decisionEvents(state, [
    { type: 'dispatch', step_id: 'a', server: 's1', attempt: 2, kind: 'action', not_before: at(9) },
    { type: 'skip', step_id: 'a', server: 's1', reason: 'why' },
    { type: 'cancel', step_id: 'a', server: 's1' },
    { type: 'stop', step_id: 'a', server: 's1', attempt: 1, kind: 'action' },
    { type: 'complete', status: 'failed', undo_status: 'succeeded' }
  ], now), [
    { type: 'execution.step_dispatched', data: { execution_id: 'ex-1', step_id: 'a', server: 's1', attempt: 2, kind: 'action', not_before: at(9), dispatched_at: now } },
    { type: 'execution.step_skipped', data: { execution_id: 'ex-1', step_id: 'a', server: 's1', reason: 'why' } },
    { type: 'execution.step_cancelled', data: { execution_id: 'ex-1', step_id: 'a', server: 's1' } },
    { type: 'execution.completed', data: { execution_id: 'ex-1', status: 'failed', undo_status: 'succeeded', completed_at: now } }
  ])
  t.end()
})

t.test('a step starts as soon as all it comes after have succeeded, not level by level', t => {
  // a → c, b → d; b is slow
  const run = new Run(t, launched([step('a'), step('b'), step('c', { after: ['a'] }), step('d', { after: ['b'] })]))
  t.same(run.engine(), ['dispatch a@s1#1', 'dispatch b@s1#1'])
  run.started('b').started('a')
  t.same(run.engine(), [])
  run.finished('a', 'succeeded')
  t.same(run.engine(), ['dispatch c@s1#1'], 'c starts while b still runs')
  t.equal(run.slot('b').status, 'running')
  run.ran('c', 'succeeded')
  t.same(run.engine(), [], 'd waits for b')
  run.finished('b', 'succeeded')
  t.same(run.engine(), ['dispatch d@s1#1'])
  run.ran('d', 'succeeded')
  t.same(run.engine(), ['complete succeeded'])
  t.equal(run.state.status, 'succeeded')
  t.equal(run.state.completed, true)
  t.same(run.engine(), [], 'a completed run decides nothing')
  t.end()
})

t.test('a step that comes after several waits for all of them', t => {
  const run = new Run(t, launched([step('a'), step('b'), step('join', { after: ['a', 'b'] })]))
  run.engine()
  run.ran('a', 'succeeded')
  t.same(run.engine(), [])
  run.ran('b', 'succeeded')
  t.same(run.engine(), ['dispatch join@s1#1'])
  t.end()
})

t.test('a step on several servers runs on each, and what comes after waits for all of them', t => {
  const run = new Run(t, launched([step('a', { target: ['s1', 's2'] }), step('b', { after: ['a'], target: ['s1', 's2', 's3'] })]))
  t.same(run.engine(), ['dispatch a@s1#1', 'dispatch a@s2#1'])
  run.ran('a', 'succeeded', { server: 's2' })
  t.same(run.engine(), [], 'a on s1 is not done yet')
  run.ran('a', 'succeeded', { server: 's1' })
  t.same(run.engine(), ['dispatch b@s1#1', 'dispatch b@s2#1', 'dispatch b@s3#1'])
  run.ran('b', 'succeeded', { server: 's3' }).ran('b', 'succeeded', { server: 's1' }).ran('b', 'succeeded', { server: 's2' })
  t.same(run.engine(), ['complete succeeded'])
  t.same(run.statuses(), { 'a@s1': 'succeeded', 'a@s2': 'succeeded', 'b@s1': 'succeeded', 'b@s2': 'succeeded', 'b@s3': 'succeeded' })
  t.end()
})

t.test('a failure on one server of a step skips what comes after on every server', t => {
  const run = new Run(t, launched([step('a', { target: ['s1', 's2'] }), step('b', { after: ['a'], target: ['s1', 's2'] })], { stop_on_error: false }))
  run.engine()
  run.ran('a', 'succeeded', { server: 's1' }).ran('a', 'failed', { server: 's2' })
  t.same(run.engine(), ['skip b@s1', 'skip b@s2'])
  t.same(run.engine(), ['complete failed'])
  t.end()
})

t.test('a step reports what the agent said', t => {
  const run = new Run(t, launched([step('a')]))
  run.engine()
  run.started('a', { at: 3, instance: 'agent-7' })
  t.match(run.slot('a'), { status: 'running', started: true, instance: 'agent-7', started_at: at(3), open: true })
  run.finished('a', 'failed', { at: 5, rc: 2 })
  t.match(run.slot('a'), { status: 'failed', open: false, final: true, rc: 2, error: 'exit status 1', stdout_tail: 'a out', started_at: at(4), finished_at: at(5), duration_ms: 1000 })
  t.end()
})

t.test('retries', async t => {
  t.test('a failed attempt with retries left is dispatched again after a doubling backoff', t => {
    const run = new Run(t, launched([step('a', { retries: 2, retry_backoff_s: 10 }), step('b', { after: ['a'] })]))
    run.engine()
    run.started('a', { at: 1 }).finished('a', 'failed', { at: 2 })
    t.equal(run.slot('a').final, false)
    t.same(nextDecisions(run.state), [
      { type: 'dispatch', step_id: 'a', server: 's1', attempt: 2, kind: 'action', not_before: at(12) }
    ], 'attempt 2 not before finished_at + 10s')
    run.engine()
    t.match(run.slot('a'), { attempt: 2, status: 'pending', open: true })
    run.started('a', { attempt: 2, at: 12 }).finished('a', 'failed', { attempt: 2, at: 20 })
    t.same(run.engine(), [`dispatch a@s1#3 not before ${at(40)}`], 'attempt 3 not before finished_at + 20s')
    run.started('a', { attempt: 3, at: 40 }).finished('a', 'failed', { attempt: 3, at: 41 })
    t.equal(run.slot('a').final, true, 'no retry left: the failure is final')
    t.same(run.engine(), ['skip b@s1'])
    t.same(run.engine(), ['complete failed'])
    t.match(run.slot('a'), { status: 'failed', attempt: 3 })
    t.end()
  })

  t.test('without a backoff the next attempt may start at once', t => {
    const run = new Run(t, launched([step('a', { retries: 1 })]))
    run.engine()
    run.ran('a', 'failed')
    t.same(nextDecisions(run.state), [{ type: 'dispatch', step_id: 'a', server: 's1', attempt: 2, kind: 'action', not_before: null }])
    t.end()
  })

  t.test('a retry that succeeds lets the run go on', t => {
    const run = new Run(t, launched([step('a', { retries: 1 }), step('b', { after: ['a'] })]))
    run.engine()
    run.ran('a', 'failed')
    t.same(run.engine(), ['dispatch a@s1#2'])
    run.ran('a', 'succeeded', { attempt: 2 })
    t.same(run.engine(), ['dispatch b@s1#1'])
    run.ran('b', 'succeeded')
    t.same(run.engine(), ['complete succeeded'])
    t.match(run.slot('a'), { status: 'succeeded', attempt: 2, rc: 0 })
    t.end()
  })

  t.test('a step without retries fails on its first failure', t => {
    const run = new Run(t, launched([step('a')]))
    run.engine()
    run.ran('a', 'failed')
    t.equal(run.slot('a').final, true)
    t.same(run.engine(), ['complete failed'])
    t.end()
  })
  t.end()
})

t.test('a lost step run fails its attempt like a failure', async t => {
  t.test('and is retried when retries are left', t => {
    const run = new Run(t, launched([step('a', { retries: 1, retry_backoff_s: 5 })]))
    run.engine()
    run.started('a', { at: 1 }).lost('a', { at: 30 })
    t.match(run.slot('a'), { status: 'failed', open: false, final: false, error: 'agent s1 stopped answering', finished_at: at(30) })
    t.same(run.engine(), [`dispatch a@s1#2 not before ${at(35)}`])
    run.ran('a', 'succeeded', { attempt: 2 })
    t.same(run.engine(), ['complete succeeded'])
    t.end()
  })

  t.test('and is final without retries', t => {
    const run = new Run(t, launched([step('a'), step('b', { after: ['a'] })]))
    run.engine()
    run.lost('a', { at: 30 }) // lost before it even started
    t.match(run.slot('a'), { status: 'failed', final: true, started_at: at(30), finished_at: at(30) })
    t.same(run.engine(), ['skip b@s1'])
    t.same(run.engine(), ['complete failed'])
    t.end()
  })
  t.end()
})

t.test('a step run stopped though nobody cancelled the run (its agent shutting down) failed its attempt', async t => {
  t.test('and is retried when retries are left', t => {
    const run = new Run(t, launched([step('a', { retries: 1 }), step('b', { after: ['a'] })]))
    run.engine()
    run.ran('a', 'cancelled')
    t.match(run.slot('a'), { status: 'failed', final: false })
    t.same(run.engine(), ['dispatch a@s1#2'])
    run.ran('a', 'succeeded', { attempt: 2 })
    t.same(run.engine(), ['dispatch b@s1#1'])
    t.end()
  })

  t.test('and the run fails without retries', t => {
    const run = new Run(t, launched([step('a'), step('b', { after: ['a'] })], { stop_on_error: false }))
    run.engine()
    run.ran('a', 'cancelled')
    t.same(run.engine(), ['skip b@s1'])
    t.same(run.engine(), ['complete failed'], 'never succeeded with a step that did not run to its end')
    t.end()
  })
  t.end()
})

t.test('stop_on_error: after a hard failure no new step starts, leftovers are skipped', t => {
  const run = new Run(t, launched([
    step('a'), step('b'), step('c', { after: ['a'] }), step('d', { after: ['b'] }), step('e', { after: ['d'] })
  ], { stop_on_error: true }))
  run.engine()
  run.started('a').started('b')
  run.finished('a', 'failed')
  t.same(run.engine(), ['skip c@s1'], 'what comes after the failure is skipped; b runs on')
  run.finished('b', 'succeeded')
  t.same(nextDecisions(run.state).map(show), ['skip d@s1', 'skip e@s1'], 'd is not started')
  t.match(nextDecisions(run.state)[0], { reason: 'the run stopped after a failure' })
  run.engine()
  t.same(run.engine(), ['complete failed'])
  t.same(run.statuses(), { 'a@s1': 'failed', 'b@s1': 'succeeded', 'c@s1': 'skipped', 'd@s1': 'skipped', 'e@s1': 'skipped' })
  t.equal(run.state.status, 'failed')
  t.equal(run.state.undoStatus, null)
  t.end()
})

t.test('stop_on_error: a failed attempt with retries left does not stop the run', t => {
  const run = new Run(t, launched([step('a', { retries: 1 }), step('b')], { stop_on_error: true }))
  run.engine()
  run.ran('a', 'failed')
  t.same(run.engine(), ['dispatch a@s1#2'])
  run.ran('b', 'succeeded')
  t.same(run.engine(), [])
  t.end()
})

t.test('without stop_on_error independent branches go on and dependents of the failure are skipped', t => {
  const run = new Run(t, launched([
    step('a'), step('b'), step('c', { after: ['a'] }), step('d', { after: ['b'] }), step('e', { after: ['c'] }), step('f', { after: ['c', 'd'] })
  ], { stop_on_error: false }))
  run.engine()
  run.ran('a', 'failed')
  const decisions = nextDecisions(run.state)
  t.same(decisions.map(show), ['skip c@s1'])
  t.match(decisions[0], { reason: 'a on s1 did not succeed' })
  run.engine()
  t.same(run.engine(), ['skip e@s1', 'skip f@s1'], 'and what comes after those, in turn')
  run.ran('b', 'succeeded')
  t.same(run.engine(), ['dispatch d@s1#1'], 'the independent branch goes on')
  run.ran('d', 'succeeded')
  t.same(run.engine(), ['complete failed'])
  t.same(run.statuses(), { 'a@s1': 'failed', 'b@s1': 'succeeded', 'c@s1': 'skipped', 'd@s1': 'succeeded', 'e@s1': 'skipped', 'f@s1': 'skipped' })
  t.end()
})

t.test('continue_on_error: a failed step does not fail the run and what comes after it runs', async t => {
  for (const stopOnError of [true, false]) {
    t.test(`stop_on_error ${stopOnError}`, t => {
      const run = new Run(t, launched([
        step('a', { continue_on_error: true }), step('b', { after: ['a'] })
      ], { stop_on_error: stopOnError, undo_on_error: true }))
      run.engine()
      run.ran('a', 'failed')
      t.same(run.engine(), ['dispatch b@s1#1'])
      run.ran('b', 'succeeded')
      t.same(run.engine(), ['complete succeeded'], 'no undo either')
      t.equal(run.slot('a').status, 'failed')
      t.end()
    })
  }
  t.test('after its retries are spent', t => {
    const run = new Run(t, launched([step('a', { continue_on_error: true, retries: 1 }), step('b', { after: ['a'] })]))
    run.engine()
    run.ran('a', 'failed')
    t.same(run.engine(), ['dispatch a@s1#2'], 'b waits for the retry')
    run.ran('a', 'failed', { attempt: 2 })
    t.same(run.engine(), ['dispatch b@s1#1'])
    t.end()
  })
  t.end()
})

t.test('undo_on_error', async t => {
  t.test('undoes the step runs that succeeded, one at a time, in reverse order of success', t => {
    // x and y run side by side, y finishes first; z comes after both and fails
    const run = new Run(t, launched([
      withUndo('x'), withUndo('y'), step('plain'), step('z', { after: ['x', 'y', 'plain'] })
    ], { undo_on_error: true }))
    run.engine()
    run.started('x').started('y').started('plain')
    run.finished('y', 'succeeded').finished('plain', 'succeeded').finished('x', 'succeeded')
    t.same(run.engine(), ['dispatch z@s1#1'])
    run.ran('z', 'failed')
    t.same(nextDecisions(run.state), [{ type: 'dispatch', step_id: 'x', server: 's1', attempt: 1, kind: 'undo', not_before: null }], 'the last success is undone first')
    run.engine()
    t.match(run.slot('x'), { status: 'succeeded', undo: 'running', open: true })
    t.same(run.engine(), [], 'one undo at a time')
    run.started('x', { kind: 'undo' })
    t.same(run.engine(), [])
    run.finished('x', 'succeeded', { kind: 'undo' })
    t.match(run.slot('x'), { status: 'undone', undo: 'succeeded', open: false })
    t.same(run.engine(), ['dispatch undo y@s1#1'])
    run.ran('y', 'succeeded', { kind: 'undo' })
    t.same(run.engine(), ['complete failed undo succeeded'], 'a step without undo is left as it is')
    t.same(run.statuses(), { 'x@s1': 'undone', 'y@s1': 'undone', 'plain@s1': 'succeeded', 'z@s1': 'failed' })
    t.equal(run.state.undoStatus, 'succeeded')
    t.end()
  })

  t.test('undoes a step on each server it succeeded on', t => {
    const run = new Run(t, launched([withUndo('x', { target: ['s1', 's2'] }), step('z', { after: ['x'] })], { undo_on_error: true }))
    run.engine()
    run.ran('x', 'succeeded', { server: 's2' }).ran('x', 'succeeded', { server: 's1' })
    run.engine()
    run.ran('z', 'failed')
    t.same(run.engine(), ['dispatch undo x@s1#1'])
    run.ran('x', 'succeeded', { kind: 'undo' })
    t.same(run.engine(), ['dispatch undo x@s2#1'])
    run.ran('x', 'succeeded', { kind: 'undo', server: 's2' })
    t.same(run.engine(), ['complete failed undo succeeded'])
    t.end()
  })

  t.test('an undo that fails makes undo_status failed', t => {
    const run = new Run(t, launched([withUndo('x'), step('z', { after: ['x'] })], { undo_on_error: true }))
    run.engine()
    run.ran('x', 'succeeded')
    run.engine()
    run.ran('z', 'failed')
    t.same(run.engine(), ['dispatch undo x@s1#1'])
    run.ran('x', 'failed', { kind: 'undo' })
    t.match(run.slot('x'), { undo: 'failed', open: false })
    t.not(run.slot('x').status, 'undone')
    t.same(run.engine(), ['complete failed undo failed'])
    t.equal(run.state.undoStatus, 'failed')
    t.end()
  })

  t.test('a lost undo is a failed undo', t => {
    const run = new Run(t, launched([withUndo('x'), step('z', { after: ['x'] })], { undo_on_error: true }))
    run.engine()
    run.ran('x', 'succeeded')
    run.engine()
    run.ran('z', 'failed')
    run.engine()
    run.lost('x', { kind: 'undo' })
    t.same(run.engine(), ['complete failed undo failed'])
    t.end()
  })

  t.test('waits for the stopped run to settle and undoes what succeeded meanwhile', t => {
    const run = new Run(t, launched([withUndo('a'), withUndo('slow'), step('z', { after: ['a'] }), step('late', { after: ['slow'] })], { undo_on_error: true, stop_on_error: true }))
    run.engine()
    run.started('slow').ran('a', 'succeeded')
    run.engine()
    run.ran('z', 'failed')
    t.same(run.engine(), [], 'slow still runs')
    run.finished('slow', 'succeeded')
    t.same(run.engine(), ['skip late@s1'])
    t.same(run.engine(), ['dispatch undo slow@s1#1'])
    run.ran('slow', 'succeeded', { kind: 'undo' })
    t.same(run.engine(), ['dispatch undo a@s1#1'])
    run.ran('a', 'succeeded', { kind: 'undo' })
    t.same(run.engine(), ['complete failed undo succeeded'])
    t.end()
  })

  t.test('nothing is undone when the run succeeds or undo_on_error is off', t => {
    const ok = new Run(t, launched([withUndo('x')], { undo_on_error: true }))
    ok.engine()
    ok.ran('x', 'succeeded')
    t.same(ok.engine(), ['complete succeeded'])

    const off = new Run(t, launched([withUndo('x'), step('z', { after: ['x'] })], { undo_on_error: false }))
    off.engine()
    off.ran('x', 'succeeded')
    off.engine()
    off.ran('z', 'failed')
    t.same(off.engine(), ['complete failed'])
    t.equal(off.slot('x').status, 'succeeded')
    t.end()
  })
  t.end()
})

t.test('cancellation', async t => {
  t.test('pending step runs are cancelled, running ones stopped; the run ends cancelled when the agents report', t => {
    const run = new Run(t, launched([step('a'), step('b'), step('c', { after: ['a'] }), step('d', { after: ['b'] })]))
    run.engine()
    run.started('a').started('b')
    run.cancel()
    t.equal(run.state.cancelRequested, true)
    t.same(nextDecisions(run.state), [
      { type: 'stop', step_id: 'a', server: 's1', attempt: 1, kind: 'action' },
      { type: 'stop', step_id: 'b', server: 's1', attempt: 1, kind: 'action' },
      { type: 'cancel', step_id: 'c', server: 's1' },
      { type: 'cancel', step_id: 'd', server: 's1' }
    ])
    run.engine()
    t.same(run.engine(), ['stop a@s1#1', 'stop b@s1#1'], 'the stop message is repeated until the agents report')
    run.finished('a', 'cancelled')
    t.same(run.engine(), ['stop b@s1#1'])
    run.finished('b', 'succeeded') // it finished before the stop arrived
    t.same(run.engine(), ['complete cancelled'])
    t.same(run.statuses(), { 'a@s1': 'cancelled', 'b@s1': 'succeeded', 'c@s1': 'cancelled', 'd@s1': 'cancelled' })
    t.equal(run.state.status, 'cancelled')
    t.equal(run.state.undoStatus, null)
    t.end()
  })

  t.test('a run cancelled before anything ran is cancelled at once', t => {
    const run = new Run(t, launched([step('a'), step('b', { after: ['a'] })]))
    run.cancel()
    t.same(run.engine(), ['cancel a@s1', 'cancel b@s1'])
    t.same(run.engine(), ['complete cancelled'])
    t.end()
  })

  t.test('an attempt that fails after the cancel is not retried', t => {
    const run = new Run(t, launched([step('a', { retries: 3 })]))
    run.engine()
    run.started('a')
    run.cancel()
    run.engine()
    run.finished('a', 'failed')
    t.equal(run.slot('a').final, true)
    t.same(run.engine(), ['complete cancelled'])
    t.end()
  })

  t.test('a step waiting for its retry is cancelled', t => {
    const run = new Run(t, launched([step('a', { retries: 3 })]))
    run.engine()
    run.ran('a', 'failed')
    run.cancel()
    t.same(run.engine(), ['cancel a@s1'])
    t.same(run.engine(), ['complete cancelled'])
    t.end()
  })

  t.test('with undo_on_error what succeeded is undone, and the run ends cancelled', t => {
    const run = new Run(t, launched([withUndo('a'), withUndo('b'), step('c', { after: ['a'] })], { undo_on_error: true }))
    run.engine()
    run.started('b').ran('a', 'succeeded')
    run.engine()
    run.started('c')
    run.cancel()
    t.same(run.engine(), ['stop b@s1#1', 'stop c@s1#1'])
    run.finished('b', 'cancelled').finished('c', 'cancelled')
    t.same(run.engine(), ['dispatch undo a@s1#1'])
    t.same(run.engine(), [], 'no stop for the undo that runs')
    run.ran('a', 'succeeded', { kind: 'undo' })
    t.same(run.engine(), ['complete cancelled undo succeeded'])
    t.same(run.statuses(), { 'a@s1': 'undone', 'b@s1': 'cancelled', 'c@s1': 'cancelled' })
    t.end()
  })

  t.test('each pending step run gets one decision, also when the engine sees several events at once', t => {
    // e.g. after a restart: the cancel and the agent's answer are both in the log before the engine decides
    const run = new Run(t, launched([step('a'), step('b', { after: ['a'] })]))
    run.engine()
    run.started('a').cancel().finished('a', 'cancelled')
    t.same(run.engine(), ['cancel b@s1'])
    t.same(run.engine(), ['complete cancelled'])
    t.same(run.statuses(), { 'a@s1': 'cancelled', 'b@s1': 'cancelled' })
    t.end()
  })
  t.end()
})

t.test('the first result of an attempt wins', async t => {
  t.test('a late duplicate finish changes nothing', t => {
    const run = new Run(t, launched([step('a'), step('b', { after: ['a'] })]))
    run.engine()
    run.ran('a', 'succeeded')
    const before = run.state
    run.finished('a', 'failed').lost('a').started('a', { instance: 'agent-2' })
    t.same(run.state, before)
    t.same(run.engine(), ['dispatch b@s1#1'])
    t.end()
  })

  t.test('a late result of an earlier attempt does not count for the retry', t => {
    const run = new Run(t, launched([step('a', { retries: 1 })]))
    run.engine()
    run.ran('a', 'failed')
    run.engine()
    const before = run.state
    run.finished('a', 'succeeded', { attempt: 1 }).started('a', { attempt: 1 })
    t.same(run.state, before)
    t.match(run.slot('a'), { attempt: 2, open: true, status: 'pending' })
    t.end()
  })

  t.test('a late duplicate of the action while its undo runs is not taken for the undo', t => {
    const run = new Run(t, launched([withUndo('x'), step('z', { after: ['x'] })], { undo_on_error: true }))
    run.engine()
    run.ran('x', 'succeeded')
    run.engine()
    run.ran('z', 'failed')
    t.same(run.engine(), ['dispatch undo x@s1#1'])
    const before = run.state
    run.started('x').finished('x', 'succeeded')
    t.same(run.state, before)
    t.same(run.engine(), [], 'the undo still runs')
    run.ran('x', 'succeeded', { kind: 'undo' })
    run.finished('x', 'failed', { kind: 'undo' })
    t.match(run.slot('x'), { status: 'undone', undo: 'succeeded' })
    t.same(run.engine(), ['complete failed undo succeeded'])
    t.end()
  })

  t.test('events of unknown step runs are ignored', t => {
    const run = new Run(t, launched([step('a')]))
    const before = run.state
    run.finished('ghost', 'succeeded').started('a', { server: 's9' })
    t.same(run.state, before)
    t.end()
  })
  t.end()
})

t.test('progress goes from 0 to 100 and never back', async t => {
  const monotonic = (t: Test, progress: number[]) => {
    t.equal(progress[0], 0, 'starts at 0')
    t.equal(progress[progress.length - 1], 100, 'ends at 100')
    t.ok(progress.every((p, i) => i === 0 || p >= progress[i - 1]), `never goes back: ${progress.join(' ')}`)
  }

  t.test('a run that succeeds', t => {
    const run = new Run(t, launched([step('a'), step('b'), step('c', { after: ['a', 'b'] }), step('d', { after: ['c'] })]))
    run.engine()
    run.ran('a', 'succeeded')
    t.equal(progressOf(run.state), 25)
    run.ran('b', 'succeeded')
    run.engine()
    t.equal(progressOf(run.state), 50)
    run.started('c')
    t.equal(progressOf(run.state), 50, 'a running step run is not finished')
    run.finished('c', 'succeeded')
    run.engine()
    t.equal(progressOf(run.state), 75)
    run.ran('d', 'succeeded')
    t.same(run.engine(), ['complete succeeded'])
    monotonic(t, run.progress)
    t.end()
  })

  t.test('a failed attempt waiting for its retry is not finished', t => {
    const run = new Run(t, launched([step('a', { retries: 1 }), step('b')]))
    run.engine()
    run.ran('a', 'failed').ran('b', 'succeeded')
    t.equal(progressOf(run.state), 50)
    t.end()
  })

  t.test('a run that fails and is undone', t => {
    const run = new Run(t, launched([withUndo('a'), withUndo('b', { after: ['a'] }), step('c', { after: ['b'] }), step('d', { after: ['c'] })], { undo_on_error: true }))
    run.engine()
    run.ran('a', 'succeeded')
    run.engine()
    run.ran('b', 'succeeded')
    run.engine()
    run.ran('c', 'failed')
    t.equal(progressOf(run.state), 75)
    run.engine() // skip d
    t.equal(progressOf(run.state), 100)
    run.engine() // undo b
    run.ran('b', 'succeeded', { kind: 'undo' })
    run.engine() // undo a
    run.ran('a', 'succeeded', { kind: 'undo' })
    t.same(run.engine(), ['complete failed undo succeeded'])
    monotonic(t, run.progress)
    t.end()
  })

  t.test('a cancelled run', t => {
    const run = new Run(t, launched([step('a'), step('b', { after: ['a'] })]))
    run.engine()
    run.started('a').cancel()
    run.engine()
    t.equal(progressOf(run.state), 50)
    run.finished('a', 'cancelled')
    t.same(run.engine(), ['complete cancelled'])
    monotonic(t, run.progress)
    t.end()
  })

  t.test('a run with no step runs is done when completed', t => {
    const state = initialExecution(launched([]))
    t.equal(progressOf(state), 0)
    t.same(nextDecisions(state).map(show), ['complete succeeded'])
    const done = evolveExecution(state, decisionEvents(state, nextDecisions(state), at(1))[0])
    t.equal(progressOf(done), 100)
    t.end()
  })
  t.end()
})

t.test('the contract example: deploy-app with build retried, smoke on web-1 only and allowed to fail', t => {
  const steps: Step[] = [
    { id: 'checkout', action: { type: 'shell', command: 'git fetch && git checkout {{params.branch}}' } },
    { id: 'build', after: ['checkout'], timeout_s: 600, retries: 2, action: { type: 'shell', command: 'make build' }, undo: { type: 'shell', command: 'make clean' } },
    { id: 'smoke', after: ['build'], target: ['web-1'], action: { type: 'http', method: 'GET', url: 'http://localhost:8080/health', expect_status: [200] }, continue_on_error: true }
  ]
  const plan = { checkout: ['web-1', 'web-2'], build: ['web-1', 'web-2'], smoke: ['web-1'] }
  const run = new Run(t, launched(steps, { stop_on_error: true, undo_on_error: true, plan, targets: ['prod-servers'] }))
  t.same(run.engine(), ['dispatch checkout@web-1#1', 'dispatch checkout@web-2#1'])
  run.ran('checkout', 'succeeded', { server: 'web-1' }).ran('checkout', 'succeeded', { server: 'web-2' })
  t.same(run.engine(), ['dispatch build@web-1#1', 'dispatch build@web-2#1'])
  run.ran('build', 'failed', { server: 'web-2' })
  t.same(run.engine(), ['dispatch build@web-2#2'])
  run.ran('build', 'succeeded', { server: 'web-1' }).ran('build', 'succeeded', { server: 'web-2', attempt: 2 })
  t.same(run.engine(), ['dispatch smoke@web-1#1'])
  run.ran('smoke', 'failed', { server: 'web-1' })
  t.same(run.engine(), ['complete succeeded'])
  t.equal(run.state.undoStatus, null)
  t.end()
})
