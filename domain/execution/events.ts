// Events of a run. The execution aggregate (id = execution id) is written by the API (launch,
// cancel) and the engine (its decisions); each step-run attempt is its own aggregate written only
// by the agent that runs it, so agents and the engine never contend for one aggregate.

import type { DomainEvent } from '../decider.ts'
import type { Action, Step } from '../orchestration/decider.ts'

export type RunKind = 'action' | 'undo'
export type ExecutionStatus = 'pending' | 'running' | 'succeeded' | 'failed' | 'cancelled'
export type StepRunStatus = 'pending' | 'running' | 'succeeded' | 'failed' | 'skipped' | 'cancelled' | 'undone'
export type UndoStatus = 'running' | 'succeeded' | 'failed'

export interface ParentRef { execution_id: string, step_id: string, server: string, attempt: number }

export interface ExecutionLaunched {
  execution_id: string
  orchestration_id: string
  version: number
  params: Record<string, unknown>
  /** the targets asked for at launch */
  targets: string[]
  /** snapshot of the definition run, so later versions never change a running execution */
  steps: Step[]
  stop_on_error: boolean
  undo_on_error: boolean
  /** step id → the servers it runs on, resolved at launch */
  plan: Record<string, string[]>
  parent: ParentRef | null
  launched_at: string
  launched_by: string
}

export interface StepDispatched {
  execution_id: string
  step_id: string
  server: string
  attempt: number
  kind: RunKind
  /** the agent waits until then (retry backoff) */
  not_before: string | null
  dispatched_at: string
}

export interface StepRunRef {
  execution_id: string
  step_id: string
  server: string
  attempt: number
  kind: RunKind
}

export interface StepRunStarted extends StepRunRef {
  /** the agent process that runs it: a different instance later means it died with the run */
  instance: string
  started_at: string
}

export interface StepRunOutput extends StepRunRef {
  stream: 'stdout' | 'stderr'
  /** already redacted */
  data: string
}

export interface StepRunFinished extends StepRunRef {
  status: 'succeeded' | 'failed' | 'cancelled'
  rc: number | null
  error: string | null
  stdout_tail: string
  stderr_tail: string
  started_at: string
  finished_at: string
  duration_ms: number
}

export type ExecutionEvent =
  | DomainEvent<'execution.launched', ExecutionLaunched>
  | DomainEvent<'execution.step_dispatched', StepDispatched>
  | DomainEvent<'execution.step_skipped', { execution_id: string, step_id: string, server: string, reason: string }>
  | DomainEvent<'execution.step_cancelled', { execution_id: string, step_id: string, server: string }>
  /** the agent running it vanished (heartbeat timeout or restart): the attempt failed */
  | DomainEvent<'execution.step_lost', StepRunRef & { reason: string, at: string }>
  | DomainEvent<'execution.cancel_requested', { execution_id: string, requested_by: string, requested_at: string }>
  | DomainEvent<'execution.completed', { execution_id: string, status: 'succeeded' | 'failed' | 'cancelled', undo_status: UndoStatus | null, completed_at: string }>

export type StepRunEvent =
  | DomainEvent<'step_run.started', StepRunStarted>
  | DomainEvent<'step_run.output', StepRunOutput>
  | DomainEvent<'step_run.finished', StepRunFinished>

export type RunEvent = ExecutionEvent | StepRunEvent

/** Aggregate id of one attempt: agents append to it, with expected version 0 for `started`. */
export function stepRunId (r: StepRunRef): string {
  return `${r.execution_id}/${r.kind}/${r.step_id}/${r.server}/${r.attempt}`
}

export function actionOf (step: Step, kind: RunKind): Action | undefined {
  return kind === 'undo' ? step.undo : step.action
}
