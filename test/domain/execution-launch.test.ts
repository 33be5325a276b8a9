// Launching and cancelling (domain/execution/launch.ts): where steps run, which params a run gets,
// and the execution aggregate as the API drives it.
import t from 'tap'
import { spec } from '../helpers/spec.ts'
import { contractExample } from './fixtures/contract-example.ts'
import { definitionOf, type OrchestrationView, type ParamDef, type Step } from '../../domain/orchestration/decider.ts'
import type { ExecutionEvent, ExecutionLaunched } from '../../domain/execution/events.ts'
import {
  planTargets, resolveParams, executionDecider as decider,
  type ExecutionCommand, type KnownServer
} from '../../domain/execution/launch.ts'

const meta = { now: '2025-03-12T14:00:00.000Z', actor: 'key-1' }
const later = { now: '2025-03-12T14:05:00.000Z', actor: 'key-2' }

const servers: KnownServer[] = [
  { name: 'web-2', groups: ['prod-servers', 'web'] },
  { name: 'web-1', groups: ['prod-servers', 'web'] },
  { name: 'db-1', groups: ['prod-servers', 'db'] },
  { name: 'lab-1', groups: ['lab'] }
]

const step = (id: string, extra: Partial<Step> = {}): Step => ({ id, action: { type: 'shell', command: `do ${id}` }, ...extra })

const view = (archived = false): OrchestrationView => ({
  ...definitionOf(contractExample()),
  name: 'deploy-app',
  version: 1,
  archived,
  created_at: '2025-03-01T00:00:00.000Z',
  updated_at: '2025-03-01T00:00:00.000Z',
  created_by: 'key-0'
})

t.test('planTargets', async t => {
  const steps = [step('a'), step('b', { after: ['a'] })]

  t.test('by server name', t => {
    t.same(planTargets(steps, ['web-1'], servers), { plan: { a: ['web-1'], b: ['web-1'] }, problems: [] })
    t.same(planTargets(steps, ['web-1', 'db-1'], servers).plan.a, ['db-1', 'web-1'], 'sorted')
    t.end()
  })

  t.test('by group', t => {
    t.same(planTargets(steps, ['web'], servers).plan, { a: ['web-1', 'web-2'], b: ['web-1', 'web-2'] })
    t.same(planTargets(steps, ['prod-servers'], servers).plan.a, ['db-1', 'web-1', 'web-2'])
    t.same(planTargets(steps, ['web', 'web-1', 'db'], servers).plan.a, ['db-1', 'web-1', 'web-2'], 'a server named twice runs once')
    t.end()
  })

  t.test('all is every registered server', t => {
    t.same(planTargets(steps, ['all'], servers), { plan: { a: ['db-1', 'lab-1', 'web-1', 'web-2'], b: ['db-1', 'lab-1', 'web-1', 'web-2'] }, problems: [] })
    t.end()
  })

  t.test("a step's own target overrides the launch's targets", t => {
    const { plan, problems } = planTargets(view().steps, ['prod-servers'], servers)
    t.same(plan, { checkout: ['db-1', 'web-1', 'web-2'], build: ['db-1', 'web-1', 'web-2'], smoke: ['web-1'] })
    t.same(problems, [])
    t.same(planTargets([step('a', { target: ['db'] })], [], servers), { plan: { a: ['db-1'] }, problems: [] }, 'no launch targets needed then')
    t.end()
  })

  t.test('a step with no target is a problem naming its path', t => {
    const { problems } = planTargets([step('a', { target: ['web-1'] }), step('b')], [], servers)
    t.same(problems, [{ path: '/targets', message: 'step b has no target: give "targets" in the launch or "target" in the step' }])
    t.end()
  })

  t.test('a target that matches no registered server is a problem naming its path', t => {
    t.same(planTargets([step('a'), step('b', { target: ['ghost'] })], ['web'], servers).problems, [
      { path: '/steps/1/target', message: 'step b: no registered server is or belongs to ghost' }
    ])
    t.same(planTargets([step('a')], ['ghost', 'phantom'], servers).problems, [
      { path: '/targets', message: 'step a: no registered server is or belongs to ghost, phantom' }
    ])
    t.same(planTargets([step('a')], ['all'], []).problems.map(p => p.path), ['/targets'], 'all with no server registered')
    t.end()
  })
  t.end()
})

t.test('resolveParams', async t => {
  const declared: Record<string, ParamDef> = {
    branch: { type: 'string', default: 'main' },
    replicas: { type: 'integer', default: 2 },
    ratio: { type: 'number' },
    dry_run: { type: 'boolean', default: false },
    hosts: { type: 'array' },
    labels: { type: 'object' },
    env: { type: 'string', enum: ['staging', 'prod'], required: true }
  }

  t.test('defaults are filled in, given values win, optional params without default stay out', t => {
    t.same(resolveParams(declared, { env: 'prod' }), { params: { branch: 'main', replicas: 2, dry_run: false, env: 'prod' }, problems: [] })
    t.same(resolveParams(declared, { env: 'staging', branch: 'dev', dry_run: true, ratio: 0.5, hosts: ['a'], labels: { k: 'v' } }), {
      params: { branch: 'dev', replicas: 2, ratio: 0.5, dry_run: true, hosts: ['a'], labels: { k: 'v' }, env: 'staging' },
      problems: []
    })
    t.same(resolveParams({}, {}), { params: {}, problems: [] })
    t.end()
  })

  t.test('a required param must be given', t => {
    t.same(resolveParams(declared, {}).problems, [{ path: '/params/env', message: 'is required' }])
    t.same(resolveParams({ x: { type: 'string', required: true, default: 'd' } }, {}), { params: { x: 'd' }, problems: [] }, 'unless it has a default')
    t.end()
  })

  t.test('a value of the wrong type', t => {
    const wrong: Array<[string, unknown, string]> = [
      ['branch', 3, 'string'], ['replicas', 1.5, 'integer'], ['replicas', '2', 'integer'], ['ratio', '0.5', 'number'],
      ['dry_run', 'true', 'boolean'], ['hosts', 'a', 'array'], ['labels', ['a'], 'object'], ['labels', null, 'object'], ['branch', null, 'string']
    ]
    for (const [name, value, type] of wrong) {
      t.same(resolveParams(declared, { env: 'prod', [name]: value }).problems, [{ path: `/params/${name}`, message: `must be of type ${type}` }], `${name} = ${JSON.stringify(value)}`)
    }
    t.same(resolveParams(declared, { env: 'prod', ratio: 3, replicas: 4 }).problems, [], 'an integer is a number')
    t.end()
  })

  t.test('a value outside the enum', t => {
    t.same(resolveParams(declared, { env: 'dev' }).problems, [{ path: '/params/env', message: 'must be one of "staging", "prod"' }])
    t.same(resolveParams({ level: { type: 'object', enum: [{ a: 1 }] } }, { level: { a: 1 } }).problems, [], 'enums compare by value')
    t.end()
  })

  t.test('an unknown param', t => {
    t.same(resolveParams(declared, { env: 'prod', nope: 1 }).problems, [{ path: '/params/nope', message: 'is not a declared param (declared: branch, replicas, ratio, dry_run, hosts, labels, env)' }])
    t.same(resolveParams({}, { x: 1 }).problems, [{ path: '/params/x', message: 'is not a declared param (declared: none)' }])
    for (const name of ['constructor', 'toString', '__proto__']) {
      const given = JSON.parse(`{"${name}": 1}`) as Record<string, unknown>
      t.same(resolveParams({}, given).problems.map(p => p.path), [`/params/${name}`], `even one named ${name}`)
    }
    t.end()
  })

  t.test('every problem is reported at once', t => {
    t.same(resolveParams(declared, { replicas: 'x', nope: 1 }).problems, [
      { path: '/params/nope', message: 'is not a declared param (declared: branch, replicas, ratio, dry_run, hosts, labels, env)' },
      { path: '/params/replicas', message: 'must be of type integer' },
      { path: '/params/env', message: 'is required' }
    ])
    t.end()
  })
  t.end()
})

t.test('executionDecider', async t => {
  const launch = (data: Partial<Extract<ExecutionCommand, { type: 'LaunchExecution' }>['data']> = {}, m = meta): ExecutionCommand => ({
    type: 'LaunchExecution',
    data: { execution_id: 'ex-1', orchestration: view(), targets: ['web'], params: {}, servers, parent: null, ...data },
    meta: m
  })
  const cancel = (m = later): ExecutionCommand => ({ type: 'CancelExecution', data: { execution_id: 'ex-1' }, meta: m })

  const launchedData: ExecutionLaunched = {
    execution_id: 'ex-1',
    orchestration_id: 'deploy-app',
    version: 1,
    params: { branch: 'main' },
    targets: ['web'],
    steps: view().steps,
    stop_on_error: true,
    undo_on_error: true,
    plan: { checkout: ['web-1', 'web-2'], build: ['web-1', 'web-2'], smoke: ['web-1'] },
    parent: null,
    launched_at: meta.now,
    launched_by: meta.actor
  }
  const launched: ExecutionEvent = { type: 'execution.launched', data: launchedData }
  const cancelRequested: ExecutionEvent = { type: 'execution.cancel_requested', data: { execution_id: 'ex-1', requested_by: later.actor, requested_at: later.now } }
  const completed: ExecutionEvent = { type: 'execution.completed', data: { execution_id: 'ex-1', status: 'succeeded', undo_status: null, completed_at: later.now } }

  t.test('a launch snapshots the definition, the params with defaults and the plan', t => {
    spec(decider, t).given([]).when(launch()).then([launched])
    t.end()
  })

  t.test('a nested run names its parent', t => {
    const parent = { execution_id: 'ex-0', step_id: 'deploy', server: 'web-1', attempt: 2 }
    spec(decider, t).given([]).when(launch({ parent, params: { branch: 'dev' } }))
      .then([{ type: 'execution.launched', data: { ...launchedData, parent, params: { branch: 'dev' } } }])
    t.end()
  })

  t.test('an execution is launched once: the same launch retried changes nothing', t => {
    spec(decider, t).given([launched]).when(launch({}, later)).then([])
    spec(decider, t).given([launched, completed]).when(launch()).then([])
    t.end()
  })

  t.test('an archived orchestration cannot be launched', t => {
    spec(decider, t).given([]).when(launch({ orchestration: view(true) })).thenThrows('conflict', /^deploy-app is archived/)
    t.end()
  })

  t.test('bad params and targets are refused together, with their paths', t => {
    const e = spec(decider, t).given([]).when(launch({ params: { branch: 7, nope: true }, targets: [] })).thenThrows('invalid', /^cannot launch deploy-app: /)
    t.same(e?.problems.map(p => p.path), ['/params/nope', '/params/branch', '/targets', '/targets'])
    t.end()
  })

  t.test('cancel', async t => {
    t.test('of a running execution asks for it once', t => {
      spec(decider, t).given([launched]).when(cancel()).then([cancelRequested])
      t.end()
    })
    t.test('a second cancel changes nothing', t => {
      spec(decider, t).given([launched, cancelRequested]).when(cancel()).then([])
      t.end()
    })
    t.test('of an unknown execution is not found', t => {
      spec(decider, t).given([]).when(cancel()).thenThrows('not_found', /^execution ex-1 not found$/)
      t.end()
    })
    t.test('after completion is a conflict', t => {
      spec(decider, t).given([launched, completed]).when(cancel()).thenThrows('conflict', /^execution ex-1 has already finished$/)
      spec(decider, t).given([launched, cancelRequested, { ...completed, data: { ...completed.data, status: 'cancelled' } } as ExecutionEvent])
        .when(cancel()).thenThrows('conflict', /already finished/)
      t.end()
    })
    t.end()
  })

  t.test('events that do not concern the aggregate leave it as it is', t => {
    const dispatched: ExecutionEvent = { type: 'execution.step_dispatched', data: { execution_id: 'ex-1', step_id: 'checkout', server: 'web-1', attempt: 1, kind: 'action', not_before: null, dispatched_at: meta.now } }
    spec(decider, t).given([launched, dispatched]).when(cancel()).then([cancelRequested])
    t.same(decider.evolve(decider.initialState(), cancelRequested), { status: 'empty' })
    t.end()
  })
  t.end()
})
