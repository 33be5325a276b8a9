// The orchestration aggregate (id = its name): immutable numbered versions, then maybe archival.
import { DomainError, type Decider, type DomainEvent } from '../decider.ts'
import type { CommandMeta } from '../command.ts'
import { canonicalJson } from '../canonical.ts'
import { validateSteps } from './dag.ts'
import { MAX_VERSION, ORCHESTRATION_READ_ONLY } from './schemas.ts'

export type ActionType = 'shell' | 'http' | 'orchestration'

/** An action as the schema admits it (shell, http or orchestration); the schema is the detailed type. */
export interface Action {
  type: ActionType
  [key: string]: unknown
}

export interface Step {
  id: string
  name?: string
  after?: string[]
  target?: string[]
  timeout_s?: number
  retries?: number
  retry_backoff_s?: number
  continue_on_error?: boolean
  expect?: { rc?: number, stdout?: string, stderr?: string }
  action: Action
  undo?: Action
}

export interface ParamDef {
  type: 'string' | 'number' | 'integer' | 'boolean' | 'array' | 'object'
  default?: unknown
  description?: string
  required?: boolean
  enum?: unknown[]
}

/** A request body that passed `orchestrationSchema`. */
export interface OrchestrationBody {
  name: string
  version?: number
  description?: string
  params?: Record<string, ParamDef>
  stop_on_error?: boolean
  undo_on_error?: boolean
  steps: Step[]
}

/** What a version stores: the body without name and version, top-level defaults filled in. */
export interface OrchestrationDefinition {
  description: string
  params: Record<string, ParamDef>
  stop_on_error: boolean
  undo_on_error: boolean
  steps: Step[]
}

export interface OrchestrationVersion {
  definition: OrchestrationDefinition
  created_at: string
  created_by: string
}

export type OrchestrationState =
  | { status: 'empty' }
  | {
    status: 'active' | 'archived'
    name: string
    /** by version number; a plain record so the state stays JSON-serialisable */
    versions: Record<number, OrchestrationVersion>
    latest: number
    archived_at?: string
  }

export type CreateOrchestrationVersion = {
  type: 'CreateOrchestrationVersion'
  data: { definition: OrchestrationBody }
  meta: CommandMeta
}
export type ArchiveOrchestration = {
  type: 'ArchiveOrchestration'
  data: { name: string }
  meta: CommandMeta
}
export type OrchestrationCommand = CreateOrchestrationVersion | ArchiveOrchestration

export type OrchestrationVersionCreated = DomainEvent<'orchestration.version_created', {
  name: string
  version: number
  definition: OrchestrationDefinition
  created_at: string
  created_by: string
}>
export type OrchestrationArchived = DomainEvent<'orchestration.archived', {
  name: string
  archived_at: string
  archived_by: string
}>
export type OrchestrationEvent = OrchestrationVersionCreated | OrchestrationArchived

/**
 * Strips name, version and read-only fields, and fills the top-level defaults, so that omitting a
 * default and stating it count as the same definition, and a GET answer posted back is idempotent.
 * The JSON round trip drops `undefined` so the event holds exactly what the log will return.
 */
export function definitionOf (body: OrchestrationBody): OrchestrationDefinition {
  const rest: Record<string, unknown> = { ...body }
  for (const key of ['name', 'version', ...ORCHESTRATION_READ_ONLY]) delete rest[key]
  return JSON.parse(JSON.stringify({
    ...rest,
    description: body.description ?? '',
    params: body.params ?? {},
    stop_on_error: body.stop_on_error ?? true,
    undo_on_error: body.undo_on_error ?? false
  }))
}

function decideCreate (state: OrchestrationState, { data, meta }: CreateOrchestrationVersion): OrchestrationEvent[] {
  const name = data.definition.name
  if (state.status === 'archived') {
    throw new DomainError('conflict', `${name} is archived; no new versions can be created`)
  }
  const problems = validateSteps(data.definition.steps)
  if (problems.length > 0) throw new DomainError('invalid', `${name} has invalid steps`, problems)

  const definition = definitionOf(data.definition)
  const latest = state.status === 'empty' ? 0 : state.latest
  const version = data.definition.version ?? latest + 1
  if (version > MAX_VERSION) throw new DomainError('conflict', `${name} has reached the highest version number, ${MAX_VERSION}`)
  if (state.status === 'active') {
    const existing = state.versions[version]
    if (existing !== undefined) {
      if (canonicalJson(existing.definition) === canonicalJson(definition)) return []
      throw new DomainError('conflict', `${name} version ${version} exists with a different definition`)
    }
    if (version <= latest) {
      throw new DomainError('conflict', `${name} version ${version} must be greater than the latest version ${latest}`)
    }
  }
  return [{
    type: 'orchestration.version_created',
    data: { name, version, definition, created_at: meta.now, created_by: meta.actor }
  }]
}

function decideArchive (state: OrchestrationState, { data, meta }: ArchiveOrchestration): OrchestrationEvent[] {
  if (state.status === 'empty') throw new DomainError('not_found', `orchestration ${data.name} not found`)
  if (state.status === 'archived') return []
  return [{ type: 'orchestration.archived', data: { name: state.name, archived_at: meta.now, archived_by: meta.actor } }]
}

export const orchestrationDecider: Decider<OrchestrationState, OrchestrationCommand, OrchestrationEvent> = {
  initialState: () => ({ status: 'empty' }),

  decide: (state, command) => {
    switch (command.type) {
      case 'CreateOrchestrationVersion': return decideCreate(state, command)
      case 'ArchiveOrchestration': return decideArchive(state, command)
    }
  },

  evolve: (state, event) => {
    switch (event.type) {
      case 'orchestration.version_created': {
        const { name, version, definition, created_at, created_by } = event.data
        const prior = state.status === 'empty' ? { status: 'active' as const, name, versions: {}, latest: 0 } : state
        return {
          ...prior,
          versions: { ...prior.versions, [version]: { definition, created_at, created_by } },
          latest: Math.max(prior.latest, version)
        }
      }
      case 'orchestration.archived':
        if (state.status === 'empty') return state
        return { ...state, status: 'archived', archived_at: event.data.archived_at }
    }
  }
}

export interface OrchestrationView extends OrchestrationDefinition {
  name: string
  version: number
  archived: boolean
  created_at: string
  updated_at: string
  created_by: string
}

/**
 * The public JSON of one version (latest by default), or null when there is no such version.
 * A version never changes, so its created_* are the version's own; updated_at moves only on archival.
 */
export function orchestrationView (state: OrchestrationState, version?: number): OrchestrationView | null {
  if (state.status === 'empty') return null
  const v = version ?? state.latest
  const record = state.versions[v]
  if (record === undefined) return null
  const { description, params, stop_on_error, undo_on_error, steps } = record.definition
  return {
    name: state.name,
    version: v,
    description,
    params,
    stop_on_error,
    undo_on_error,
    steps,
    archived: state.status === 'archived',
    created_at: record.created_at,
    updated_at: state.archived_at ?? record.created_at,
    created_by: record.created_by
  }
}

/** Every version's view, oldest first (for `GET /orchestrations/:name/versions`). */
export function orchestrationVersions (state: OrchestrationState): OrchestrationView[] {
  if (state.status === 'empty') return []
  return Object.keys(state.versions).map(Number).sort((a, b) => a - b)
    .map(v => orchestrationView(state, v) as OrchestrationView)
}
