import t from 'tap'
import { spec } from '../helpers/spec.ts'
import { contractExample } from './fixtures/contract-example.ts'
import { fold } from '../../domain/decider.ts'
import {
  orchestrationDecider as decider,
  orchestrationView,
  orchestrationVersions,
  definitionOf,
  type OrchestrationBody,
  type OrchestrationEvent,
  type OrchestrationCommand
} from '../../domain/orchestration/decider.ts'

const meta = { now: '2025-03-12T14:00:00.000Z', actor: 'key-1' }
const later = { now: '2025-03-12T15:00:00.000Z', actor: 'key-2' }

const create = (definition: OrchestrationBody, m = meta): OrchestrationCommand =>
  ({ type: 'CreateOrchestrationVersion', data: { definition }, meta: m })
const archive = (name = 'deploy-app', m = later): OrchestrationCommand =>
  ({ type: 'ArchiveOrchestration', data: { name }, meta: m })

const { name: _n, version: _v, ...exampleDefinition } = contractExample()

const created = (version: number, body: OrchestrationBody = contractExample(), m = meta): OrchestrationEvent => ({
  type: 'orchestration.version_created',
  data: { name: body.name, version, definition: definitionOf(body), created_at: m.now, created_by: m.actor }
})
const archived: OrchestrationEvent = {
  type: 'orchestration.archived',
  data: { name: 'deploy-app', archived_at: later.now, archived_by: later.actor }
}

const withoutVersion = (): OrchestrationBody => { const b = contractExample(); delete b.version; return b }
const changed = (version?: number): OrchestrationBody => ({ ...contractExample(), version, description: 'other' })

t.test('the definition in the event is the body without name and version', t => {
  const [e] = spec(decider, t).given([]).when(create(contractExample())).then([created(1)])
  t.same(e.type === 'orchestration.version_created' && e.data.definition, exampleDefinition)
  t.end()
})

t.test('an omitted version is 1 for a new orchestration', t => {
  spec(decider, t).given([]).when(create(withoutVersion())).then([created(1)])
  t.end()
})

t.test('an omitted version is latest + 1', t => {
  spec(decider, t).given([created(1), created(3, changed(3))]).when(create(withoutVersion())).then([created(4)])
  t.end()
})

t.test('an explicit new version above latest is created', t => {
  spec(decider, t).given([created(1)]).when(create(changed(5))).then([created(5, changed(5))])
  t.end()
})

t.test('the same version with an identical definition is idempotent', t => {
  spec(decider, t).given([created(1)]).when(create(contractExample(), later)).then([])
  // key order and stated defaults do not make a definition different
  const reordered = JSON.parse(JSON.stringify(contractExample(), Object.keys(contractExample()).reverse()))
  spec(decider, t).given([created(1)]).when(create({ ...reordered, ...contractExample() })).then([])
  const noDefaults = { ...contractExample(), undo_on_error: undefined, stop_on_error: undefined }
  spec(decider, t).given([created(1, noDefaults)]).when(create({ ...noDefaults, stop_on_error: true, undo_on_error: false })).then([])
  t.end()
})

t.test('the public JSON of a version can be posted back idempotently', t => {
  const view = orchestrationView(fold(decider, [created(1)]))
  spec(decider, t).given([created(1)]).when(create(view as unknown as OrchestrationBody)).then([])
  t.end()
})

t.test('the same version with a different definition is a conflict', t => {
  spec(decider, t).given([created(1)]).when(create(changed(1)))
    .thenThrows('conflict', /^deploy-app version 1 exists with a different definition$/)
  t.end()
})

t.test('a new version number must be greater than the latest', t => {
  spec(decider, t).given([created(1), created(3, changed(3))]).when(create(changed(2)))
    .thenThrows('conflict', /version 2 .*latest version 3/)
  t.end()
})

t.test('step graph problems are invalid, with their paths', t => {
  const body = contractExample()
  body.steps[0].after = ['smoke']
  const err = spec(decider, t).given([]).when(create(body)).thenThrows('invalid')
  t.same(err?.problems, [{ path: '/steps/0/after/0', message: 'cycle: checkout → build → smoke → checkout' }])
  t.end()
})

t.test('no version can be created once archived', t => {
  spec(decider, t).given([created(1), archived]).when(create(changed(2))).thenThrows('conflict', /archived/)
  spec(decider, t).given([created(1), archived]).when(create(withoutVersion())).thenThrows('conflict', /archived/)
  t.end()
})

t.test('archiving', t => {
  spec(decider, t).given([created(1)]).when(archive()).then([archived])
  spec(decider, t).given([created(1), archived]).when(archive()).then([])
  spec(decider, t).given([]).when(archive('nope')).thenThrows('not_found', /nope/)
  t.end()
})

t.test('evolve keeps every version and the latest', t => {
  const state = fold(decider, [created(1), created(3, changed(3), later)])
  t.equal(state.status, 'active')
  if (state.status !== 'empty') {
    t.same(Object.keys(state.versions), ['1', '3'])
    t.equal(state.latest, 3)
  }
  t.same(JSON.parse(JSON.stringify(state)), state, 'state is plain data')
  const gone = fold(decider, [archived], state)
  t.match(gone, { status: 'archived', archived_at: later.now, latest: 3 })
  t.same(decider.evolve(decider.initialState(), archived), { status: 'empty' }, 'archival of nothing is ignored')
  t.end()
})

t.test('orchestrationView', t => {
  const events = [created(1), created(2, changed(2), later)]
  const state = fold(decider, events)
  t.same(orchestrationView(state), {
    name: 'deploy-app',
    version: 2,
    ...definitionOf(changed(2)),
    archived: false,
    created_at: later.now,
    updated_at: later.now,
    created_by: later.actor
  })
  t.same(orchestrationView(state, 1), {
    name: 'deploy-app',
    version: 1,
    ...exampleDefinition,
    archived: false,
    created_at: meta.now,
    updated_at: meta.now,
    created_by: meta.actor
  })
  t.equal(orchestrationView(state, 7), null)
  t.equal(orchestrationView(decider.initialState()), null)

  const archivedLater = { ...archived, data: { ...archived.data, archived_at: '2025-03-13T00:00:00.000Z' } }
  t.match(orchestrationView(fold(decider, [...events, archivedLater]), 1), {
    archived: true, created_at: meta.now, updated_at: '2025-03-13T00:00:00.000Z'
  })

  t.same(orchestrationVersions(state).map(v => v.version), [1, 2])
  t.same(orchestrationVersions(decider.initialState()), [])
  t.end()
})

t.test('definitionOf fills top-level defaults and drops read-only fields', t => {
  const body = { name: 'x', steps: [{ id: 'a', action: { type: 'shell' as const, command: 'true' } }], archived: true, created_at: 'then' }
  t.same(definitionOf(body), {
    description: '', params: {}, stop_on_error: true, undo_on_error: false, steps: body.steps
  })
  t.end()
})
