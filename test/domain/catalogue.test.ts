import t from 'tap'
import * as domain from '../../domain/index.ts'

const meta = { now: '2025-03-12T14:00:00.000Z', actor: 'me' }

t.test('the event catalogue describes every event the deciders emit, field for field', t => {
  const o = domain.orchestrationDecider
  const k = domain.apiKeyDecider
  const body = { name: 'a', steps: [{ id: 's', action: { type: 'shell' as const, command: 'true' } }] }
  const v1 = o.decide(o.initialState(), { type: 'CreateOrchestrationVersion', data: { definition: body }, meta })
  const arch = o.decide(domain.fold(o, v1), { type: 'ArchiveOrchestration', data: { name: 'a' }, meta })
  const created = k.decide(k.initialState(), {
    type: 'CreateApiKey', data: { id: 'k', name: 'n', scopes: ['admin'], secret_hash: 'h' }, meta
  })
  const limits = k.decide(domain.fold(k, created), { type: 'SetRateLimits', data: { id: 'k', rate_limits: { burst: 1 } }, meta })
  const revoked = k.decide(domain.fold(k, created), { type: 'RevokeApiKey', data: { id: 'k' }, meta })
  const emitted = [...v1, ...arch, ...created, ...limits, ...revoked]

  t.same(domain.DEFINITION_EVENT_CATALOGUE.map(e => e.type).sort(), emitted.map(e => e.type).sort())
  for (const e of emitted) {
    const entry = domain.DEFINITION_EVENT_CATALOGUE.find(c => c.type === e.type)
    t.same(entry?.fields, Object.keys(e.data), e.type)
    t.type(entry?.description, 'string')
  }
  t.end()
})

t.test('the index exposes the public pieces', t => {
  for (const name of ['canonicalJson', 'relationshipKeyword', 'orchestrationSchema', 'validateSteps', 'topologicalOrder',
    'orchestrationView', 'orchestrationVersions', 'definitionOf', 'SCOPES', 'SCOPE_PATTERN', 'grants', 'nameFilter',
    'globToRegExp', 'apiKeySchema', 'tokenRequestSchema', 'DomainError', 'fold']) {
    t.ok(name in domain, name)
  }
  t.end()
})

t.test('canonicalJson ignores key order and undefined members, not array order', t => {
  t.equal(domain.canonicalJson({ b: 1, a: { d: [2, { y: 1, x: 2 }], c: undefined } }), '{"a":{"d":[2,{"x":2,"y":1}]},"b":1}')
  t.equal(domain.canonicalJson({ a: 1, b: 2 }), domain.canonicalJson({ b: 2, a: 1 }))
  t.not(domain.canonicalJson([1, 2]), domain.canonicalJson([2, 1]))
  t.equal(domain.canonicalJson('x'), '"x"')
  t.equal(domain.canonicalJson(null), 'null')
  t.end()
})
