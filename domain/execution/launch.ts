// Launching and cancelling: the commands the API sends to an execution aggregate.

import { DomainError, type Decider, type Problem } from '../decider.ts'
import type { CommandMeta } from '../command.ts'
import type { OrchestrationView, ParamDef } from '../orchestration/decider.ts'
import type { ExecutionEvent, ExecutionLaunched, ParentRef } from './events.ts'

export interface KnownServer { name: string, groups: string[] }

/**
 * Which servers each step runs on: the step's own `target`, else the launch's targets; each target
 * is a server name, a group, or `all`. A step that resolves to no server makes the launch invalid.
 */
export function planTargets (steps: OrchestrationView['steps'], targets: string[], servers: KnownServer[]): { plan: Record<string, string[]>, problems: Problem[] } {
  const resolve = (names: string[]): string[] => {
    const out = new Set<string>()
    for (const t of names) {
      for (const s of servers) if (t === 'all' || s.name === t || s.groups.includes(t)) out.add(s.name)
    }
    return [...out].sort()
  }
  const plan: Record<string, string[]> = {}
  const problems: Problem[] = []
  steps.forEach((step, i) => {
    const wanted = step.target ?? targets
    const resolved = resolve(wanted)
    plan[step.id] = resolved
    if (resolved.length === 0) {
      problems.push({
        path: step.target != null ? `/steps/${i}/target` : '/targets',
        message: wanted.length === 0
          ? `step ${step.id} has no target: give "targets" in the launch or "target" in the step`
          : `step ${step.id}: no registered server is or belongs to ${wanted.join(', ')}`
      })
    }
  })
  return { plan, problems }
}

const JSON_TYPE: Record<ParamDef['type'], (v: unknown) => boolean> = {
  string: v => typeof v === 'string',
  number: v => typeof v === 'number',
  integer: v => Number.isInteger(v),
  boolean: v => typeof v === 'boolean',
  array: v => Array.isArray(v),
  object: v => v != null && typeof v === 'object' && !Array.isArray(v)
}

/** Launch params against the declared ones: types, enums, required, unknown names; defaults filled. */
export function resolveParams (declared: Record<string, ParamDef>, given: Record<string, unknown>): { params: Record<string, unknown>, problems: Problem[] } {
  const params: Record<string, unknown> = {}
  const problems: Problem[] = []
  for (const name of Object.keys(given)) {
    if (!Object.hasOwn(declared, name)) problems.push({ path: `/params/${name}`, message: `is not a declared param (declared: ${Object.keys(declared).join(', ') || 'none'})` })
  }
  for (const [name, def] of Object.entries(declared)) {
    const value = Object.hasOwn(given, name) ? given[name] : def.default
    if (value === undefined) {
      if (def.required === true) problems.push({ path: `/params/${name}`, message: 'is required' })
      continue
    }
    if (!JSON_TYPE[def.type](value)) problems.push({ path: `/params/${name}`, message: `must be of type ${def.type}` })
    else if (def.enum != null && !def.enum.some(v => JSON.stringify(v) === JSON.stringify(value))) problems.push({ path: `/params/${name}`, message: `must be one of ${def.enum.map(v => JSON.stringify(v)).join(', ')}` })
    params[name] = value
  }
  return { params, problems }
}

export type ExecutionAggregate =
  | { status: 'empty' }
  | { status: 'active' | 'completed', execution_id: string, orchestration_id: string, cancelRequested: boolean }

export type LaunchExecution = {
  type: 'LaunchExecution'
  data: { execution_id: string, orchestration: OrchestrationView, targets: string[], params: Record<string, unknown>, servers: KnownServer[], parent: ParentRef | null }
  meta: CommandMeta
}
export type CancelExecution = { type: 'CancelExecution', data: { execution_id: string }, meta: CommandMeta }
export type ExecutionCommand = LaunchExecution | CancelExecution

function launch ({ data, meta }: LaunchExecution): ExecutionEvent[] {
  const o = data.orchestration
  if (o.archived) throw new DomainError('conflict', `${o.name} is archived; it cannot be launched`)
  const { params, problems: paramProblems } = resolveParams(o.params, data.params)
  const { plan, problems: targetProblems } = planTargets(o.steps, data.targets, data.servers)
  const problems = [...paramProblems, ...targetProblems]
  if (problems.length > 0) throw new DomainError('invalid', `cannot launch ${o.name}: ${problems.map(p => `${p.path} ${p.message}`).join('; ')}`, problems)
  const launched: ExecutionLaunched = {
    execution_id: data.execution_id,
    orchestration_id: o.name,
    version: o.version,
    params,
    targets: data.targets,
    steps: o.steps,
    stop_on_error: o.stop_on_error,
    undo_on_error: o.undo_on_error,
    plan,
    parent: data.parent,
    launched_at: meta.now,
    launched_by: meta.actor
  }
  return [{ type: 'execution.launched', data: launched }]
}

/** The execution aggregate as the API sees it: launch once, cancel while not finished. */
export const executionDecider: Decider<ExecutionAggregate, ExecutionCommand, ExecutionEvent> = {
  initialState: () => ({ status: 'empty' }),
  decide: (state, command) => {
    if (command.type === 'LaunchExecution') {
      if (state.status !== 'empty') return [] // the same launch retried
      return launch(command)
    }
    if (state.status === 'empty') throw new DomainError('not_found', `execution ${command.data.execution_id} not found`)
    if (state.status === 'completed') throw new DomainError('conflict', `execution ${state.execution_id} has already finished`)
    if (state.cancelRequested) return []
    return [{ type: 'execution.cancel_requested', data: { execution_id: state.execution_id, requested_by: command.meta.actor, requested_at: command.meta.now } }]
  },
  evolve: (state, event) => {
    switch (event.type) {
      case 'execution.launched':
        return { status: 'active', execution_id: event.data.execution_id, orchestration_id: event.data.orchestration_id, cancelRequested: false }
      case 'execution.cancel_requested':
        return state.status === 'empty' ? state : { ...state, cancelRequested: true }
      case 'execution.completed':
        return state.status === 'empty' ? state : { ...state, status: 'completed' }
      default:
        return state
    }
  }
}
