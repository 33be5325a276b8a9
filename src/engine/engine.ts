import { createHash } from 'node:crypto'
import type { Logger } from 'pino'
import type { RecordedEvent } from '../../domain/envelope.ts'
import { DomainError, fold } from '../../domain/decider.ts'
import { orchestrationDecider, orchestrationView } from '../../domain/orchestration/decider.ts'
import { executionDecider, type KnownServer } from '../../domain/execution/launch.ts'
import { render, vaultRefs } from '../../domain/execution/template.ts'
import { actionOf, stepRunId, type ExecutionLaunched, type StepDispatched, type StepRunRef } from '../../domain/execution/events.ts'
import { decisionEvents, evolveExecution, initialExecution, nextDecisions, slotKey, stepOf, type ExecutionState } from '../../domain/execution/run.ts'
import { ConcurrencyError, type EventStore } from '../event-store.ts'
import { handleCommand } from '../commands.ts'
import type { Heartbeats } from '../heartbeats.ts'
import type { TaskBus } from '../tasks.ts'
import type { EnginePosition } from './position.ts'

interface Tracked {
  state: ExecutionState
  /** log position of its launch: the engine must read from here to know it again */
  launchSeq: number
  /** version and log position of the execution aggregate: the expectation of the next append */
  version: number
  lastSeq: number
  /** the version an append is in flight for: no second decision until its events come back */
  deciding: number | null
}

export interface EngineOptions {
  store: EventStore
  bus: TaskBus
  heartbeats: Heartbeats
  log: Logger
  /** where to start reading the log; without it, from the start */
  position?: EnginePosition
  /** how often running step runs are checked for vanished agents */
  checkEveryMs?: number
}

const ENGINE = 'engine'
/** events one decision appends at most: each is one publish awaited after the other */
const MAX_EVENTS_PER_DECISION = 64
/** how often, at most, the replay position is saved */
const SAVE_POSITION_EVERY_MS = 1_000

/** Deterministic ids for what the engine creates, so a replayed decision creates the same thing. */
function childExecutionId (parent: StepRunRef): string {
  const h = createHash('sha256').update(`child:${stepRunId(parent)}`).digest('hex')
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-5${h.slice(13, 16)}-a${h.slice(17, 20)}-${h.slice(20, 32)}`
}

/**
 * The process manager. It reads the whole log (from the start, then live), folds each execution
 * with the pure domain, and carries out `nextDecisions`: appends the decisions, sends tasks to
 * agents, launches nested runs, stops cancelled work, and fails attempts whose agent vanished.
 * Everything it knows comes from the log, so a restarted engine picks up exactly where the log is.
 * Run it only while holding the engine lease.
 */
export class Engine {
  private readonly executions = new Map<string, Tracked>()
  private readonly servers = new Map<string, KnownServer>()
  private caughtUp = false

  constructor (private readonly o: EngineOptions) {}

  async run (signal: AbortSignal): Promise<void> {
    const { store, log } = this.o
    this.executions.clear()
    this.caughtUp = false
    await this.o.heartbeats.watch()
    // executions launched before the saved position had all ended when it was saved: start there.
    // Servers (few events) are read from the start: a nested launch needs every group.
    let from = await this.loadPosition()
    const servers = store.typeFilter('server')
    const lastServer = await store.lastSeqOf(servers)
    if (lastServer > 0) for await (const e of store.read({ fromSeq: 1, toSeq: lastServer, subject: servers, signal })) this.apply(e)
    const target = await store.lastSeq()
    if (from > target + 1) {
      // a position past the end of the log belongs to another log (the stream was recreated)
      log.warn(`engine: the saved position ${from} is past the end of the log (${target}); reading the whole log`)
      from = 1
    }
    log.info(`engine: replaying the log from seq ${from} up to seq ${target}`)
    if (target < from) await this.resume()
    const tick = setInterval(() => { if (this.caughtUp) { void this.checkAgents(); this.savePosition() } }, this.o.checkEveryMs ?? 1_000)
    try {
      for await (const batch of store.readBatches({ fromSeq: from, maxBatch: 1000, signal })) {
        const touched = new Set<string>()
        for (const e of batch) { const id = this.apply(e); if (id != null) touched.add(id) }
        if (this.caughtUp) await this.react(batch, touched)
        else if (batch[batch.length - 1].seq >= target) await this.resume()
        // (only a completion can make a run forgettable: its own, or its parent's)
        if (batch.some(e => e.type === 'execution.completed')) this.forgetEnded()
        this.applied = batch[batch.length - 1].seq
        if (this.caughtUp) this.savePosition()
      }
    } finally {
      clearInterval(tick)
    }
  }

  private applied = 0
  private saved = { seq: 0, at: 0 }

  private async loadPosition (): Promise<number> {
    if (this.o.position == null) return 1
    try {
      return await this.o.position.load()
    } catch (err) {
      this.o.log.warn({ err }, 'engine: could not read where to start; reading the whole log')
      return 1
    }
  }

  /** The launch of the oldest execution followed, else past everything applied; at most once a second. */
  private savePosition (): void {
    if (this.o.position == null || Date.now() - this.saved.at < SAVE_POSITION_EVERY_MS) return
    let seq = this.applied + 1
    for (const t of this.executions.values()) seq = Math.min(seq, t.launchSeq)
    if (seq === this.saved.seq) return
    this.saved = { seq, at: Date.now() }
    this.o.position.save(seq).catch(err => {
      this.saved = { seq: 0, at: 0 }
      this.o.log.warn({ err }, 'engine: could not save where to start next time')
    })
  }

  /** Ended runs are forgotten, unless their parent is still running and may need their outcome. */
  private forgetEnded (): void {
    for (const [id, t] of this.executions) {
      if (!t.state.completed) continue
      const parent = t.state.launch.parent != null ? this.executions.get(t.state.launch.parent.execution_id) : undefined
      if (parent == null || parent.state.completed) this.executions.delete(id)
    }
  }

  /** Folds one event into what the engine knows; returns the execution it concerns. */
  private apply (e: RecordedEvent): string | null {
    if (e.type === 'server.started') {
      const d = e.data as { name: string, groups: string[] }
      this.servers.set(d.name, { name: d.name, groups: d.groups })
      return null
    }
    if (e.aggregate_type === 'execution') {
      if (e.type === 'execution.launched') {
        this.executions.set(e.aggregate_id, { state: initialExecution(e.data as ExecutionLaunched), launchSeq: e.seq, version: e.version, lastSeq: e.seq, deciding: null })
        return e.aggregate_id
      }
      const t = this.executions.get(e.aggregate_id)
      if (t == null) return null
      t.state = evolveExecution(t.state, e as any)
      t.version = e.version
      t.lastSeq = e.seq
      if (t.deciding != null && t.deciding < t.version) t.deciding = null
      return e.aggregate_id
    }
    if (e.aggregate_type === 'step_run') {
      const id = (e.data as StepRunRef).execution_id
      const t = this.executions.get(id)
      if (t == null || e.type === 'step_run.output') return null
      t.state = evolveExecution(t.state, e as any)
      return id
    }
    return null
  }

  /** Caught up with the log: redo whatever side effects may have been lost in a crash, then decide. */
  private async resume (): Promise<void> {
    this.caughtUp = true
    const active = [...this.executions.entries()].filter(([, t]) => !t.state.completed)
    this.o.log.info(`engine: caught up; ${active.length} execution(s) in flight`)
    for (const [id, t] of active) {
      for (const slot of Object.values(t.state.slots)) {
        if (slot.open && !slot.started) {
          const kind = slot.undo === 'running' ? 'undo' as const : 'action' as const
          await this.carryOut(t, { execution_id: id, step_id: slot.step_id, server: slot.server, attempt: kind === 'undo' ? 1 : slot.attempt, kind, not_before: null, dispatched_at: '' })
        }
      }
      // nested runs that ended while the engine was away
      for (const [childId, child] of this.executions) {
        if (child.state.completed && child.state.launch.parent?.execution_id === id) await this.finishParent(childId, child)
      }
    }
    await Promise.all(active.map(async ([id]) => await this.decide(id)))
  }

  private async react (batch: RecordedEvent[], touched: Set<string>): Promise<void> {
    // the attempts of a batch are independent (each its own task, or its own nested run): send
    // them all at once, in log order, rather than one publish round trip after the other
    const carried: Array<Promise<void>> = []
    for (const e of batch) {
      if (e.type === 'execution.step_dispatched') {
        const t = this.executions.get(e.aggregate_id)
        if (t != null) carried.push(this.carryOut(t, e.data as StepDispatched))
      } else if (e.type === 'execution.completed') {
        const t = this.executions.get(e.aggregate_id)
        if (t?.state.launch.parent != null) await this.finishParent(e.aggregate_id, t)
      }
    }
    // every one settles before a failure ends this run of the engine (it then restarts from the log)
    const failed = (await Promise.allSettled(carried)).find(r => r.status === 'rejected')
    if (failed != null) throw failed.reason
    await Promise.all([...touched].map(async id => await this.decide(id)))
  }

  private async decide (id: string): Promise<void> {
    const t = this.executions.get(id)
    if (t == null || t.state.completed || t.deciding === t.version) return
    const decisions = nextDecisions(t.state)
    for (const d of decisions) if (d.type === 'stop') await this.stop(t, d)
    // a wide fan-out is recorded a slice at a time: each slice is carried out as soon as it is
    // read back, while the next is decided (from the state, which shows what is already dispatched)
    const events = decisionEvents(t.state, decisions, new Date().toISOString()).slice(0, MAX_EVENTS_PER_DECISION)
    if (events.length === 0) return
    t.deciding = t.version
    try {
      await this.o.store.append({ type: 'execution', id }, t, events, { commandId: `engine:${id}:${t.version}`, actor: ENGINE, now: new Date().toISOString() })
    } catch (err) {
      t.deciding = null
      if (!(err instanceof ConcurrencyError)) this.o.log.warn({ err, execution_id: id }, 'engine: could not record a decision; it is retried on the next event or check')
    }
  }

  /** Sends a dispatched attempt to its agent, or starts the nested run of an orchestration step. */
  private async carryOut (t: Tracked, d: StepDispatched): Promise<void> {
    const slot = t.state.slots[slotKey(d.step_id, d.server)]
    if (slot == null || !slot.open || slot.started) return
    const step = stepOf(t.state, d.step_id)
    const action = actionOf(step, d.kind)
    if (action == null) return
    if (action.type === 'orchestration') { await this.launchChild(t, d, action as any); return }
    try {
      await this.o.bus.send({
        execution_id: d.execution_id,
        orchestration_id: t.state.launch.orchestration_id,
        step_id: d.step_id,
        server: d.server,
        attempt: d.attempt,
        kind: d.kind,
        action,
        params: t.state.launch.params,
        timeout_s: step.timeout_s ?? null,
        expect: d.kind === 'action' ? step.expect ?? null : null,
        not_before: d.not_before
      })
    } catch (err) {
      this.o.log.warn({ err, execution_id: d.execution_id, step_id: d.step_id }, 'engine: could not send a task; it is sent again when the engine resumes')
    }
  }

  private async launchChild (t: Tracked, d: StepDispatched, action: { orchestration_id: string, version?: number, params?: Record<string, unknown> }): Promise<void> {
    const { store } = this.o
    const ref: StepRunRef = { execution_id: d.execution_id, step_id: d.step_id, server: d.server, attempt: d.attempt, kind: d.kind }
    const aggregate = { type: 'step_run', id: stepRunId(ref) }
    const now = new Date().toISOString()
    let started
    try {
      started = await store.append(aggregate, { version: 0, lastSeq: 0 }, [{ type: 'step_run.started', data: { ...ref, instance: ENGINE, started_at: now } }],
        { commandId: `started:${aggregate.id}:${ENGINE}`, actor: ENGINE, now })
    } catch (err) {
      if (err instanceof ConcurrencyError) return
      throw err
    }
    const childId = childExecutionId(ref)
    try {
      const { events } = await store.load({ type: 'orchestration', id: action.orchestration_id })
      const view = orchestrationView(fold(orchestrationDecider, events as any), action.version)
      if (view == null) throw new DomainError('not_found', `orchestration ${action.orchestration_id}${action.version != null ? ` version ${action.version}` : ''} not found`)
      // `{{params.x}}` of the parent are filled in; `{{vault.x}}` stays a placeholder (no secret in the log)
      const keepVault = Object.fromEntries(vaultRefs(action.params ?? {}).map(name => [name, `{{vault.${name}}}`]))
      const params = render(action.params ?? {}, { params: t.state.launch.params, vault: keepVault })
      await handleCommand(store, executionDecider, { type: 'execution', id: childId }, {
        type: 'LaunchExecution',
        data: { execution_id: childId, orchestration: view, targets: [d.server], params, servers: [...this.servers.values()], parent: { execution_id: d.execution_id, step_id: d.step_id, server: d.server, attempt: d.attempt } }
      }, { commandId: `launch:${childId}`, actor: ENGINE, now })
    } catch (err: any) {
      const finishedAt = new Date().toISOString()
      await store.append(aggregate, { version: 1, lastSeq: started.seq }, [{
        type: 'step_run.finished',
        data: { ...ref, status: 'failed', rc: null, error: `nested run could not start: ${err.message}`, stdout_tail: '', stderr_tail: '', started_at: now, finished_at: finishedAt, duration_ms: 0 }
      }], { commandId: `finished:${aggregate.id}`, actor: ENGINE, now: finishedAt }).catch(() => {})
    }
  }

  /** A nested run ended: its parent's step run ends the same way. */
  private async finishParent (childId: string, child: Tracked): Promise<void> {
    const p = child.state.launch.parent
    if (p == null) return
    const parent = this.executions.get(p.execution_id)
    const slot = parent?.state.slots[slotKey(p.step_id, p.server)]
    if (slot == null || !slot.open) return
    const ref: StepRunRef = { ...p, kind: slot.undo === 'running' ? 'undo' : 'action' }
    const aggregate = { type: 'step_run', id: stepRunId(ref) }
    const loaded = await this.o.store.load(aggregate)
    if (loaded.events.some(e => e.type === 'step_run.finished')) return
    const now = new Date().toISOString()
    const startedAt = slot.started_at ?? now
    await this.o.store.append(aggregate, loaded, [{
      type: 'step_run.finished',
      data: {
        ...ref,
        status: child.state.status === 'succeeded' ? 'succeeded' : child.state.status === 'cancelled' ? 'cancelled' : 'failed',
        rc: null,
        error: child.state.status === 'succeeded' ? null : `nested execution ${childId} ${child.state.status}`,
        stdout_tail: `nested execution ${childId}: ${child.state.status}`,
        stderr_tail: '',
        started_at: startedAt,
        finished_at: now,
        duration_ms: Math.max(0, Date.parse(now) - Date.parse(startedAt))
      }
    }], { commandId: `finished:${aggregate.id}`, actor: ENGINE, now }).catch(err => {
      if (!(err instanceof ConcurrencyError)) throw err
    })
  }

  private async stop (t: Tracked, d: { step_id: string, server: string, attempt: number }): Promise<void> {
    const id = t.state.launch.execution_id
    const step = stepOf(t.state, d.step_id)
    if (step.action.type === 'orchestration') {
      const childId = childExecutionId({ execution_id: id, step_id: d.step_id, server: d.server, attempt: d.attempt, kind: 'action' })
      await handleCommand(this.o.store, executionDecider, { type: 'execution', id: childId }, { type: 'CancelExecution', data: { execution_id: childId } },
        { commandId: `cancel:${childId}`, actor: ENGINE, now: new Date().toISOString() }).catch(() => {})
      return
    }
    // an attempt no agent has started (still queued, or waiting out its retry backoff) would only
    // be stopped once it starts: claim it here instead, so it never runs and the run ends now
    const slot = t.state.slots[slotKey(d.step_id, d.server)]
    if (slot?.open === true && !slot.started && await this.cancelUnstarted({ execution_id: id, step_id: d.step_id, server: d.server, attempt: d.attempt, kind: 'action' })) return
    this.o.bus.stop(d.server, { execution_id: id, step_id: d.step_id, attempt: d.attempt, kind: 'action' })
  }

  /** Ends an attempt as cancelled unless an agent started it first (then it must be stopped). */
  private async cancelUnstarted (ref: StepRunRef): Promise<boolean> {
    const aggregate = { type: 'step_run', id: stepRunId(ref) }
    const now = new Date().toISOString()
    try {
      await this.o.store.append(aggregate, { version: 0, lastSeq: 0 }, [
        { type: 'step_run.started', data: { ...ref, instance: ENGINE, started_at: now } },
        {
          type: 'step_run.finished',
          data: { ...ref, status: 'cancelled', rc: null, error: 'cancelled before it started', stdout_tail: '', stderr_tail: '', started_at: now, finished_at: now, duration_ms: 0 }
        }
      ], { commandId: `cancel-unstarted:${aggregate.id}`, actor: ENGINE, now })
      return true
    } catch (err) {
      if (!(err instanceof ConcurrencyError)) this.o.log.warn({ err, execution_id: ref.execution_id }, 'engine: could not cancel an attempt that has not started')
      return false
    }
  }

  /** Attempts whose agent stopped beating (or restarted, losing the process) have failed. */
  private async checkAgents (): Promise<void> {
    const now = new Date().toISOString()
    for (const [id, t] of this.executions) {
      if (t.state.completed) continue
      const lost = Object.values(t.state.slots).filter(s => s.open && s.started && s.instance !== ENGINE && s.instance != null &&
        !this.o.heartbeats.isAlive(s.server, s.instance))
      if (lost.length === 0 || t.deciding === t.version) continue
      const events = lost.map(s => {
        const beat = this.o.heartbeats.last(s.server)
        const reason = beat != null && beat.instance !== s.instance ? `the agent on ${s.server} restarted during the run` : `the agent on ${s.server} stopped sending heartbeats`
        return { type: 'execution.step_lost', data: { execution_id: id, step_id: s.step_id, server: s.server, attempt: s.attempt, kind: s.undo === 'running' ? 'undo' : 'action', reason, at: now } }
      })
      t.deciding = t.version
      await this.o.store.append({ type: 'execution', id }, t, events, { commandId: `engine:${id}:${t.version}`, actor: ENGINE, now }).catch(err => {
        t.deciding = null
        if (!(err instanceof ConcurrencyError)) this.o.log.warn({ err }, 'engine: could not record a lost step run')
      })
    }
  }
}
