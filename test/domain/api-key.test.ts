import t from 'tap'
import { spec } from '../helpers/spec.ts'
import { fold } from '../../domain/decider.ts'
import { apiKeyDecider as decider, type ApiKeyCommand, type ApiKeyEvent } from '../../domain/api-key/decider.ts'

const meta = { now: '2025-03-12T14:00:00.000Z', actor: 'bootstrap' }
const later = { now: '2025-03-12T15:00:00.000Z', actor: 'key-0' }
const limits = { 'requests/sec': 100, burst: 500, quota: '10k/day' }

const create = (data: Partial<Extract<ApiKeyCommand, { type: 'CreateApiKey' }>['data']> = {}): ApiKeyCommand => ({
  type: 'CreateApiKey',
  data: { id: 'k1', name: 'ci', scopes: ['executions:launch:deploy-*'], secret_hash: 'h1', ...data },
  meta
})
const revoke = (id = 'k1'): ApiKeyCommand => ({ type: 'RevokeApiKey', data: { id }, meta: later })
const setLimits = (rate_limits: typeof limits | null, id = 'k1'): ApiKeyCommand =>
  ({ type: 'SetRateLimits', data: { id, rate_limits }, meta: later })

const created = (rate_limits: typeof limits | null = null): ApiKeyEvent => ({
  type: 'api_key.created',
  data: {
    id: 'k1', name: 'ci', scopes: ['executions:launch:deploy-*'], rate_limits,
    secret_hash: 'h1', created_at: meta.now, created_by: meta.actor
  }
})
const revoked: ApiKeyEvent = { type: 'api_key.revoked', data: { id: 'k1', revoked_at: later.now, revoked_by: later.actor } }
const limitsSet = (rate_limits: typeof limits | null): ApiKeyEvent =>
  ({ type: 'api_key.rate_limits_set', data: { id: 'k1', rate_limits } })

t.test('create', t => {
  spec(decider, t).given([]).when(create()).then([created()])
  spec(decider, t).given([]).when(create({ rate_limits: limits })).then([created(limits)])
  t.end()
})

t.test('create again with the same secret is idempotent (bootstrap key)', t => {
  spec(decider, t).given([created()]).when(create()).then([])
  spec(decider, t).given([created(), revoked]).when(create()).then([])
  t.end()
})

t.test('create again with another secret is a conflict', t => {
  spec(decider, t).given([created()]).when(create({ secret_hash: 'h2' })).thenThrows('conflict', /k1/)
  t.end()
})

t.test('revoke', t => {
  spec(decider, t).given([created()]).when(revoke()).then([revoked])
  spec(decider, t).given([created(), revoked]).when(revoke()).then([])
  spec(decider, t).given([]).when(revoke('nope')).thenThrows('not_found', /nope/)
  t.end()
})

t.test('set rate limits', t => {
  spec(decider, t).given([created()]).when(setLimits(limits)).then([limitsSet(limits)])
  spec(decider, t).given([created(limits)]).when(setLimits(null)).then([limitsSet(null)])
  spec(decider, t).given([created(), revoked]).when(setLimits(limits)).thenThrows('gone', /revoked/)
  spec(decider, t).given([]).when(setLimits(limits, 'nope')).thenThrows('not_found', /nope/)
  t.end()
})

t.test('evolve', t => {
  t.same(fold(decider, [created()]), { status: 'active', ...created().data })
  t.match(fold(decider, [created(), limitsSet(limits)]), { status: 'active', rate_limits: limits })
  t.match(fold(decider, [created(), revoked]), { status: 'revoked', revoked_at: later.now, secret_hash: 'h1' })
  t.same(fold(decider, [revoked, limitsSet(limits)]), { status: 'empty' }, 'events of nothing are ignored')
  t.end()
})
