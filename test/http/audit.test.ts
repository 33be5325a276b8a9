import t from 'tap'
import { bootstrapKeyId, hashSecret } from '../../src/auth/keys.ts'
import { ADMIN_SECRET, startTestNode } from '../helpers/node.ts'

const node = await startTestNode()
t.teardown(node.teardown)

const adminId = bootstrapKeyId(ADMIN_SECRET)
const shell = (id: string) => ({ id, action: { type: 'shell', command: `echo ${id}` } })
const sleep = async (ms: number) => await new Promise(resolve => setTimeout(resolve, ms))
const audit = async (query = '', token?: string) => {
  const res = await node.request({ method: 'GET', url: `/api/v1.0/audit${query}`, token })
  if (res.statusCode !== 200) throw new Error(`audit ${query}: ${res.statusCode} ${res.body}`)
  return res.json() as { items: any[], next_cursor: string | null }
}

// a history: admin writes, another key writes, a key with a secret is created and revoked
const t0 = new Date().toISOString()
await sleep(10)
const r1 = await node.request({ method: 'POST', url: '/api/v1.0/orchestrations', body: { name: 'alpha', steps: [shell('a')] } })
const created = await node.request({ method: 'POST', url: '/api/v1.0/api-keys', body: { name: 'writer', scopes: ['orchestrations:write'] } })
const writer = created.json()
const writerToken = (await node.request({ method: 'POST', url: '/api/v1.0/auth/token', body: { api_key: writer.api_key }, token: null })).json().access_token
await sleep(20)
const tMid = new Date().toISOString()
await sleep(20)
const r2 = await node.request({ method: 'POST', url: '/api/v1.0/orchestrations', body: { name: 'beta', steps: [shell('b')] }, token: writerToken })
const r3 = await node.request({ method: 'POST', url: '/api/v1.0/orchestrations', body: { name: 'alpha', steps: [shell('c')] }, token: writerToken })
const r4 = await node.request({ method: 'DELETE', url: '/api/v1.0/orchestrations/alpha' })
const r5 = await node.request({ method: 'DELETE', url: `/api/v1.0/api-keys/${writer.id}` })
if ([r1, created, r2, r3].some(r => r.statusCode !== 201) || r4.statusCode !== 200 || r5.statusCode !== 204) throw new Error('setup failed')

t.test('entries in log order with seq, type, actor, timestamp and data', async t => {
  const { items, next_cursor: next } = await audit('?limit=500')
  t.equal(next, null)
  t.same(items.map(e => e.type), [
    'api_key.created', // bootstrap
    'orchestration.version_created',
    'api_key.created',
    'orchestration.version_created',
    'orchestration.version_created',
    'orchestration.archived',
    'api_key.revoked'
  ])
  const seqs = items.map(e => e.seq)
  t.same(seqs, [...seqs].sort((a, b) => a - b), 'ascending seq')
  t.equal(new Set(seqs).size, seqs.length, 'no duplicate seq')
  t.same(seqs, Array.from({ length: seqs.length }, (_, i) => i + 1), 'every event of the log, gap-free')
  t.equal(items.length, await node.node.store.lastSeq(), 'as long as the log')
  for (const e of items) {
    t.match(e, { seq: Number, id: String, type: String, aggregate_type: String, aggregate_id: String, version: Number, actor: String, timestamp: String, data: Object })
    t.ok(!Number.isNaN(Date.parse(e.timestamp)), 'an ISO timestamp')
  }
  const times = items.map(e => Date.parse(e.timestamp))
  t.same(times, [...times].sort((a, b) => a - b), 'timestamps follow the log')
  t.match(items[0], { actor: 'system', aggregate_type: 'api_key', aggregate_id: adminId, data: { scopes: ['admin'] } })
  t.match(items[1], { actor: adminId, aggregate_type: 'orchestration', aggregate_id: 'alpha', version: 1, data: { name: 'alpha', version: 1, definition: { steps: [{ id: 'a' }] } } })
  t.match(items[3], { actor: writer.id, aggregate_id: 'beta' })
  t.match(items[4], { actor: writer.id, aggregate_id: 'alpha', version: 2, data: { version: 2 } })
  t.match(items[5], { actor: adminId, aggregate_id: 'alpha', version: 3, data: { name: 'alpha', archived_by: adminId } })
  t.match(items[6], { actor: adminId, aggregate_id: writer.id, data: { id: writer.id, revoked_by: adminId } })
})

t.test('secrets never appear', async t => {
  const res = await node.request({ method: 'GET', url: '/api/v1.0/audit?limit=500' })
  const keyEvents = res.json().items.filter((e: any) => e.type === 'api_key.created')
  t.equal(keyEvents.length, 2)
  for (const e of keyEvents) t.equal(e.data.secret_hash, '***', 'secret_hash shows as ***')
  t.notOk(res.body.includes(hashSecret(writer.api_key)), "no writer key's hash")
  t.notOk(res.body.includes(writer.api_key), 'no writer secret')
  t.notOk(res.body.includes(hashSecret(ADMIN_SECRET)), 'no bootstrap hash')
  t.notOk(res.body.includes(ADMIN_SECRET), 'no bootstrap secret')
  t.notOk(res.body.includes(writerToken), 'no token')
})

t.test('filters', async t => {
  const types = (items: any[]) => items.map(e => `${e.type}:${e.aggregate_id}`)
  t.same(types((await audit('?aggregate=alpha')).items), ['orchestration.version_created:alpha', 'orchestration.version_created:alpha', 'orchestration.archived:alpha'], 'aggregate id')
  t.same(types((await audit('?aggregate=orchestration/beta')).items), ['orchestration.version_created:beta'], 'aggregate type/id')
  t.same((await audit('?aggregate=api_key/alpha')).items, [], 'type/id needs both to match')
  t.same((await audit(`?aggregate=${writer.id}`)).items.map(e => e.type), ['api_key.created', 'api_key.revoked'])
  t.same((await audit('?aggregate_type=api_key')).items.map(e => e.type), ['api_key.created', 'api_key.created', 'api_key.revoked'], 'aggregate_type')
  t.same((await audit('?aggregate_type=orchestration&aggregate=beta')).items.length, 1, 'filters combine')
  t.same(types((await audit(`?actor=${writer.id}`)).items), ['orchestration.version_created:beta', 'orchestration.version_created:alpha'], 'actor')
  t.same((await audit('?actor=system')).items.map(e => e.aggregate_id), [adminId])
  t.same(types((await audit('?type=orchestration.archived')).items), ['orchestration.archived:alpha'], 'type')
  t.same((await audit('?type=orchestration.version_created&actor=' + adminId)).items.map(e => e.aggregate_id), ['alpha'])
  t.same((await audit('?type=no.such.type')).items, [])

  const all = (await audit('?limit=500')).items
  const since = (await audit(`?since=${encodeURIComponent(tMid)}`)).items
  t.same(since.map(e => e.seq), all.filter(e => Date.parse(e.timestamp) >= Date.parse(tMid)).map(e => e.seq), 'since')
  t.same(types(since), ['orchestration.version_created:beta', 'orchestration.version_created:alpha', 'orchestration.archived:alpha', `api_key.revoked:${writer.id}`])
  const until = (await audit(`?until=${encodeURIComponent(tMid)}`)).items
  t.same(types(until), [`api_key.created:${adminId}`, 'orchestration.version_created:alpha', `api_key.created:${writer.id}`], 'until')
  t.same([...until, ...since].map(e => e.seq), all.map(e => e.seq), 'until and since split the log')
  const exact = all[3].timestamp
  t.equal((await audit(`?since=${encodeURIComponent(exact)}&until=${encodeURIComponent(exact)}`)).items.length, 0, 'until is exclusive')
  t.ok((await audit(`?since=${encodeURIComponent(exact)}`)).items.some(e => e.seq === all[3].seq), 'since is inclusive')
  t.same((await audit(`?since=${encodeURIComponent(t0)}&until=${encodeURIComponent(tMid)}&actor=${adminId}`)).items.map(e => e.type), ['orchestration.version_created', 'api_key.created'], 'since, until and actor together')
})

t.test('cursor paging', async t => {
  const all = (await audit('?limit=500')).items
  for (const limit of [1, 2, 3]) {
    const seen: any[] = []
    let cursor: string | null = null
    let pages = 0
    do {
      const page = await audit(`?limit=${limit}${cursor != null ? `&cursor=${cursor}` : ''}`)
      t.ok(page.items.length <= limit)
      seen.push(...page.items)
      cursor = page.next_cursor
      pages++
    } while (cursor != null && pages < 50)
    t.same(seen, all, `limit=${limit}: every entry once, in order`)
  }
  // paging keeps its filter
  const first = await audit('?aggregate_type=orchestration&limit=2')
  t.equal(first.items.length, 2)
  t.type(first.next_cursor, 'string')
  const rest = await audit(`?aggregate_type=orchestration&limit=2&cursor=${first.next_cursor}`)
  t.same(rest.items.map(e => e.type), ['orchestration.version_created', 'orchestration.archived'])
  t.equal(rest.next_cursor, null)
})

t.test('audit:read is needed', async t => {
  const { token } = await node.tokenWith(['orchestrations:read'])
  const res = await node.request({ method: 'GET', url: '/api/v1.0/audit', token })
  t.equal(res.statusCode, 403)
  t.match(res.json().detail, /audit:read/)
  const reader = await node.tokenWith(['audit:read'])
  t.ok((await audit('', reader.token)).items.length > 0)
  t.equal((await node.request({ method: 'GET', url: '/api/v1.0/audit', token: null })).statusCode, 401)
})
