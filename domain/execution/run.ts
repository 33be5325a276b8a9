// The engine's brain, pure: an execution's state folded from its events, and what must happen
// next. The engine feeds it the log and carries out its decisions, so replaying the log
// reproduces every decision.

import type { Step } from '../orchestration/decider.ts'
import type {
  ExecutionEvent, ExecutionLaunched, ExecutionStatus, RunEvent, RunKind, StepRunStatus, UndoStatus
} from './events.ts'

export interface Slot {
  step_id: string
  server: string
  status: StepRunStatus
  /** latest attempt dispatched, 0 = none yet */
  attempt: number
  /** an attempt (or its undo) is out and its result not in */
  open: boolean
  started: boolean
  instance: string | null
  rc: number | null
  error: string | null
  stdout_tail: string
  stderr_tail: string
  started_at: string | null
  finished_at: string | null
  duration_ms: number | null
  /** failed with no retry left */
  final: boolean
  /** order in which slots succeeded: undo goes in reverse */
  succeeded_order: number
  undo: 'none' | 'running' | 'succeeded' | 'failed'
}

export interface ExecutionState {
  launch: ExecutionLaunched
  /** `${step_id}\u001f${server}` → slot (jsonb refuses \u0000) */
  slots: Record<string, Slot>
  cancelRequested: boolean
  completed: boolean
  status: ExecutionStatus
  undoStatus: UndoStatus | null
  successes: number
}

export type Decision =
  | { type: 'dispatch', step_id: string, server: string, attempt: number, kind: RunKind, not_before: string | null }
  | { type: 'skip', step_id: string, server: string, reason: string }
  | { type: 'cancel', step_id: string, server: string }
  /** a side effect only: tell the agent to stop what it runs for this slot */
  | { type: 'stop', step_id: string, server: string, attempt: number, kind: RunKind }
  | { type: 'complete', status: 'succeeded' | 'failed' | 'cancelled', undo_status: UndoStatus | null }

export const slotKey = (stepId: string, server: string): string => `${stepId}\u001f${server}`

const TERMINAL: StepRunStatus[] = ['succeeded', 'skipped', 'cancelled', 'undone']

function isTerminal (s: Slot): boolean {
  return !s.open && (TERMINAL.includes(s.status) || (s.status === 'failed' && s.final))
}

// Steps by id, per launch: executions have up to 1000 steps and every decision looks steps up.
// A cache of a pure function of an immutable value, so purity is unaffected.
const stepIndexes = new WeakMap<ExecutionLaunched, Map<string, Step>>()

export function stepOf (state: ExecutionState, stepId: string): Step {
  let index = stepIndexes.get(state.launch)
  if (index == null) stepIndexes.set(state.launch, index = new Map(state.launch.steps.map(s => [s.id, s])))
  const step = index.get(stepId)
  if (step == null) throw new Error(`step ${stepId} is not in execution ${state.launch.execution_id}`)
  return step
}

function emptySlot (stepId: string, server: string): Slot {
  return {
    step_id: stepId, server, status: 'pending', attempt: 0, open: false, started: false, instance: null,
    rc: null, error: null, stdout_tail: '', stderr_tail: '', started_at: null, finished_at: null, duration_ms: null,
    final: false, succeeded_order: 0, undo: 'none'
  }
}

export function initialExecution (launch: ExecutionLaunched): ExecutionState {
  const slots: Record<string, Slot> = {}
  for (const step of launch.steps) {
    for (const server of launch.plan[step.id] ?? []) slots[slotKey(step.id, server)] = emptySlot(step.id, server)
  }
  return { launch, slots, cancelRequested: false, completed: false, status: 'pending', undoStatus: null, successes: 0 }
}

/** Folds one event of the execution or of one of its step runs. Unknown slots are ignored. */
export function evolveExecution (state: ExecutionState, event: RunEvent): ExecutionState {
  const e = event as ExecutionEvent | RunEvent
  const data = e.data as any
  const key = data.step_id != null ? slotKey(data.step_id, data.server) : ''
  const slot = state.slots[key]
  const put = (changes: Partial<Slot>, extra: Partial<ExecutionState> = {}): ExecutionState =>
    ({ ...state, ...extra, slots: { ...state.slots, [key]: { ...slot, ...changes } } })

  switch (e.type) {
    case 'execution.launched':
      return state
    case 'execution.cancel_requested':
      return { ...state, cancelRequested: true }
    case 'execution.completed':
      return { ...state, completed: true, status: e.data.status, undoStatus: e.data.undo_status }
  }
  if (slot == null) return state
  const status: ExecutionStatus = state.status === 'pending' ? 'running' : state.status
  switch (e.type) {
    case 'execution.step_dispatched':
      if (e.data.kind === 'undo') return put({ open: true, undo: 'running', started: false }, { status })
      return put({ attempt: e.data.attempt, open: true, status: 'pending', started: false, instance: null }, { status })
    case 'execution.step_skipped':
      return put({ status: 'skipped', open: false, error: e.data.reason })
    case 'execution.step_cancelled':
      return put({ status: 'cancelled', open: false })
    case 'step_run.started':
      if (!slot.open || !matches(slot, e.data)) return state
      return put(e.data.kind === 'undo'
        ? { started: true, instance: e.data.instance }
        : { started: true, instance: e.data.instance, status: 'running', started_at: e.data.started_at, finished_at: null, rc: null, duration_ms: null })
    case 'step_run.finished':
    case 'execution.step_lost': {
      if (!slot.open || !matches(slot, e.data)) return state // first result of an attempt wins
      const finished = e.type === 'step_run.finished'
        ? e.data
        : { status: 'failed' as const, rc: null, error: e.data.reason, stdout_tail: slot.stdout_tail, stderr_tail: slot.stderr_tail, started_at: slot.started_at ?? e.data.at, finished_at: e.data.at, duration_ms: null }
      if (e.data.kind === 'undo') {
        const ok = finished.status === 'succeeded'
        return put({ open: false, undo: ok ? 'succeeded' : 'failed', status: ok ? 'undone' : slot.status })
      }
      const retries = stepOf(state, slot.step_id).retries ?? 0
      const ok = finished.status === 'succeeded'
      // stopped though the run was not cancelled (its agent shutting down): the attempt failed
      const status = finished.status === 'cancelled' && !state.cancelRequested ? 'failed' : finished.status
      return put({
        open: false,
        status,
        rc: finished.rc,
        error: finished.error,
        stdout_tail: finished.stdout_tail,
        stderr_tail: finished.stderr_tail,
        started_at: finished.started_at,
        finished_at: finished.finished_at,
        duration_ms: finished.duration_ms,
        final: status === 'failed' && (slot.attempt > retries || state.cancelRequested),
        succeeded_order: ok ? state.successes + 1 : slot.succeeded_order
      }, ok ? { successes: state.successes + 1 } : {})
    }
    default:
      return state
  }
}

function matches (slot: Slot, ref: { attempt: number, kind: RunKind }): boolean {
  // while the undo runs, the slot's open result is the undo's: a late action result is a duplicate
  return ref.kind === 'undo' ? slot.undo === 'running' : slot.undo === 'none' && ref.attempt === slot.attempt
}

function addSeconds (iso: string, seconds: number): string {
  return new Date(Date.parse(iso) + seconds * 1000).toISOString()
}

/**
 * What must happen next, given everything known. Deterministic: the same state gives the same
 * decisions, and a decision already carried out shows in the state, so it is never made twice.
 */
export function nextDecisions (state: ExecutionState): Decision[] {
  if (state.completed) return []
  const { launch } = state
  const slots = Object.values(state.slots)
  const byStep = new Map<string, Slot[]>()
  for (const s of slots) {
    const list = byStep.get(s.step_id)
    if (list == null) byStep.set(s.step_id, [s])
    else list.push(s)
  }
  const decisions: Decision[] = []
  const failedHard = slots.some(s => s.status === 'failed' && s.final && stepOf(state, s.step_id).continue_on_error !== true)
  const undoing = slots.some(s => s.undo !== 'none')
  const stopping = state.cancelRequested || (launch.stop_on_error && failedHard) || undoing
  const cancelling = state.cancelRequested && !undoing

  if (cancelling) {
    for (const s of slots) {
      if (s.open) decisions.push({ type: 'stop', step_id: s.step_id, server: s.server, attempt: s.attempt, kind: 'action' })
      else if (!isTerminal(s)) decisions.push({ type: 'cancel', step_id: s.step_id, server: s.server })
    }
  }

  if (!stopping) {
    for (const s of slots) {
      // a failed attempt with retries left: next attempt after the backoff, doubling each time
      if (s.status === 'failed' && !s.final && !s.open) {
        const step = stepOf(state, s.step_id)
        const backoff = (step.retry_backoff_s ?? 0) * 2 ** (s.attempt - 1)
        decisions.push({ type: 'dispatch', step_id: s.step_id, server: s.server, attempt: s.attempt + 1, kind: 'action', not_before: backoff > 0 && s.finished_at != null ? addSeconds(s.finished_at, backoff) : null })
      }
    }
  }
  for (const step of launch.steps) {
    const mine = (byStep.get(step.id) ?? []).filter(s => s.attempt === 0 && s.status === 'pending' && !s.open)
    if (mine.length === 0 || cancelling) continue // cancelling: each of them is cancelled above
    const deps = (step.after ?? []).flatMap(id => byStep.get(id) ?? [])
    const blockedBy = deps.find(d => ['skipped', 'cancelled'].includes(d.status) ||
      (d.status === 'failed' && d.final && stepOf(state, d.step_id).continue_on_error !== true))
    if (blockedBy != null) {
      for (const s of mine) decisions.push({ type: 'skip', step_id: s.step_id, server: s.server, reason: `${blockedBy.step_id} on ${blockedBy.server} did not succeed` })
      continue
    }
    const ready = deps.every(d => d.status === 'succeeded' || d.status === 'undone' || (d.status === 'failed' && d.final))
    if (ready && !stopping) {
      for (const s of mine) decisions.push({ type: 'dispatch', step_id: s.step_id, server: s.server, attempt: 1, kind: 'action', not_before: null })
    }
  }
  if (decisions.length > 0 || slots.some(s => s.open)) return decisions

  // Nothing runs and nothing can start: leftovers of a stopped run are skipped, then undo, then done.
  const leftovers = slots.filter(s => !isTerminal(s))
  if (leftovers.length > 0) {
    return leftovers.map(s => ({ type: 'skip' as const, step_id: s.step_id, server: s.server, reason: state.cancelRequested ? 'the run was cancelled' : 'the run stopped after a failure' }))
  }
  const failed = failedHard
  if ((failed || state.cancelRequested) && launch.undo_on_error) {
    const toUndo = slots
      .filter(s => s.status === 'succeeded' && s.undo === 'none' && stepOf(state, s.step_id).undo != null)
      .sort((a, b) => b.succeeded_order - a.succeeded_order)
    if (toUndo.length > 0) {
      const s = toUndo[0]
      return [{ type: 'dispatch', step_id: s.step_id, server: s.server, attempt: 1, kind: 'undo', not_before: null }]
    }
  }
  const undoRan = slots.filter(s => s.undo !== 'none')
  const undoStatus: UndoStatus | null = undoRan.length === 0 ? null : undoRan.some(s => s.undo === 'failed') ? 'failed' : 'succeeded'
  return [{ type: 'complete', status: state.cancelRequested ? 'cancelled' : failed ? 'failed' : 'succeeded', undo_status: undoStatus }]
}

/** The events that carry out the decisions (all but `stop`, which is a message to an agent). */
export function decisionEvents (state: ExecutionState, decisions: Decision[], now: string): ExecutionEvent[] {
  const id = state.launch.execution_id
  return decisions.flatMap((d): ExecutionEvent[] => {
    switch (d.type) {
      case 'dispatch':
        return [{ type: 'execution.step_dispatched', data: { execution_id: id, step_id: d.step_id, server: d.server, attempt: d.attempt, kind: d.kind, not_before: d.not_before, dispatched_at: now } }]
      case 'skip':
        return [{ type: 'execution.step_skipped', data: { execution_id: id, step_id: d.step_id, server: d.server, reason: d.reason } }]
      case 'cancel':
        return [{ type: 'execution.step_cancelled', data: { execution_id: id, step_id: d.step_id, server: d.server } }]
      case 'complete':
        return [{ type: 'execution.completed', data: { execution_id: id, status: d.status, undo_status: d.undo_status, completed_at: now } }]
      case 'stop':
        return []
    }
  })
}

/** Share of step runs finished, 0–100. A step run being undone has finished: progress never goes back. */
export function progressOf (state: ExecutionState): number {
  const slots = Object.values(state.slots)
  if (slots.length === 0) return state.completed ? 100 : 0
  return Math.floor(slots.filter(s => isTerminal(s) || s.undo === 'running').length * 100 / slots.length)
}
