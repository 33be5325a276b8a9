// CONTRACT §7 over HTTP: a value goes in with POST and comes out only with GET /:name; it never
// reaches an event, a read model, a log line or another answer; a deleted secret cannot be
// recovered from the log, even with the master key.
import t, { type Test } from 'tap'
import { randomBytes } from 'node:crypto'
import { Vault, VaultError } from '../../src/vault/crypto.ts'
import { startVaultApp, rawMessages, dumpTables, leakForms } from './app.ts'

const node = await startVaultApp()
t.teardown(node.teardown)
const { request } = node
const PROBLEM_JSON = /^application\/problem\+json/

// distinctive values, so a leak anywhere is found by a plain byte search
const plain = (label: string): string => `${label}-${randomBytes(12).toString('hex')}`
const V1 = plain('first-value')
const V2 = plain('rotated-value')
const V3 = plain('db-value')
const V4 = plain('after-recreate')
const ALL_VALUES = [V1, V2, V3, V4]

const noValueIn = (t: Test, text: string, what: string): void => {
  const leaked = ALL_VALUES.flatMap(v => leakForms(v)).filter(form => text.includes(form))
  if (leaked.length > 0) t.fail(`${what} contains a secret value`, { leaked })
  else t.pass(`no value in ${what}`)
}

const setEvents = async (name: string): Promise<any[]> => {
  const msgs = await rawMessages(node.store, node.store.stream)
  return msgs.map(m => JSON.parse(m.data.toString('utf8'))).filter(e => e.type === 'vault.secret_set' && e.data.name === name)
}

t.test('POST creates a secret: 201 with its metadata, never the value', async t => {
  const res = await request({ method: 'POST', url: '/api/v1.0/vault', body: { name: 'api_key', value: V1, description: 'third-party API' } })
  t.equal(res.statusCode, 201, res.body)
  t.equal(res.headers.location, '/api/v1.0/vault/api_key')
  const body = res.json()
  t.match(body, { name: 'api_key', scope: 'global', description: 'third-party API', version: 1, created_by: /.+/ })
  t.equal(body.created_at, body.updated_at)
  t.notOk('value' in body)
  noValueIn(t, res.body, 'the POST answer')
})

t.test('GET /:name returns the value, uncached', async t => {
  const res = await request({ method: 'GET', url: '/api/v1.0/vault/api_key' })
  t.equal(res.statusCode, 200, res.body)
  t.match(res.json(), { name: 'api_key', value: V1, scope: 'global', version: 1, description: 'third-party API' })
  t.equal(res.headers['cache-control'], 'no-store')
})

t.test('setting an existing name rotates it to a new version', async t => {
  const before = (await request({ method: 'GET', url: '/api/v1.0/vault/api_key' })).json()
  const res = await request({ method: 'POST', url: '/api/v1.0/vault', body: { name: 'api_key', value: V2 } })
  t.equal(res.statusCode, 201, res.body)
  t.match(res.json(), { name: 'api_key', version: 2, scope: 'global', description: 'third-party API', created_at: before.created_at })
  t.ok(res.json().updated_at >= before.updated_at)
  noValueIn(t, res.body, 'the rotation answer')
  t.match((await request({ method: 'GET', url: '/api/v1.0/vault/api_key' })).json(), { value: V2, version: 2 })
  const events = await setEvents('api_key')
  t.equal(events.length, 2)
  t.not(events[0].data.key_id, events[1].data.key_id, 'each version has its own data key')
  t.equal(await node.vault.decrypt(events[0].data), V1, 'the old version stays readable until deletion')
})

t.test('a scope may be given, and is validated', async t => {
  const res = await request({ method: 'POST', url: '/api/v1.0/vault', body: { name: 'db_password', value: V3, scope: 'orchestration:deploy-app' } })
  t.equal(res.statusCode, 201, res.body)
  t.equal(res.json().scope, 'orchestration:deploy-app')
  const bad = await request({ method: 'POST', url: '/api/v1.0/vault', body: { name: 'x', value: 'v', scope: 'team:ops' } })
  t.equal(bad.statusCode, 400)
  t.match(bad.json().errors, [{ path: '/scope' }])
})

t.test('GET lists names and metadata only, with cursor pagination', async t => {
  const res = await request({ method: 'GET', url: '/api/v1.0/vault' })
  t.equal(res.statusCode, 200, res.body)
  const { items, next_cursor: next } = res.json()
  t.same(items.map((i: any) => i.name), ['api_key', 'db_password'])
  t.match(items[0], { name: 'api_key', scope: 'global', version: 2, description: 'third-party API' })
  for (const i of items) t.notOk('value' in i)
  t.equal(next, null)
  noValueIn(t, res.body, 'the list')
  const page1 = (await request({ method: 'GET', url: '/api/v1.0/vault?limit=1' })).json()
  t.same(page1.items.map((i: any) => i.name), ['api_key'])
  const page2 = (await request({ method: 'GET', url: `/api/v1.0/vault?limit=1&cursor=${page1.next_cursor}` })).json()
  t.same(page2.items.map((i: any) => i.name), ['db_password'])
  t.equal(page2.next_cursor, null)
  t.same((await request({ method: 'GET', url: '/api/v1.0/vault?name=db_*' })).json().items.map((i: any) => i.name), ['db_password'])
  t.same((await request({ method: 'GET', url: '/api/v1.0/vault?scope=global' })).json().items.map((i: any) => i.name), ['api_key'])
  t.equal((await request({ method: 'GET', url: '/api/v1.0/vault?cursor=nonsense' })).statusCode, 400)
})

t.test('scopes: vault:read / vault:write, narrowed by name globs', async t => {
  const none = await node.tokenWith(['orchestrations:read'])
  const list = await request({ method: 'GET', url: '/api/v1.0/vault', token: none })
  t.equal(list.statusCode, 403)
  t.match(list.json(), { missing_scope: 'vault:read' })
  t.equal((await request({ method: 'GET', url: '/api/v1.0/vault/api_key', token: none })).statusCode, 403)
  t.equal((await request({ method: 'POST', url: '/api/v1.0/vault', body: { name: 'a', value: 'b' }, token: none })).statusCode, 403)
  t.equal((await request({ method: 'GET', url: '/api/v1.0/vault/api_key', token: null })).statusCode, 401)

  const reader = await node.tokenWith(['vault:read'])
  t.equal((await request({ method: 'GET', url: '/api/v1.0/vault/api_key', token: reader })).json().value, V2)
  t.equal((await request({ method: 'POST', url: '/api/v1.0/vault', body: { name: 'a', value: 'b' }, token: reader })).statusCode, 403)
  t.equal((await request({ method: 'DELETE', url: '/api/v1.0/vault/api_key', token: reader })).statusCode, 403)

  const db = await node.tokenWith(['vault:read:db_*', 'vault:write:db_*'])
  const listed = await request({ method: 'GET', url: '/api/v1.0/vault', token: db })
  t.same(listed.json().items.map((i: any) => i.name), ['db_password'], 'the list shows only matching names')
  t.equal((await request({ method: 'GET', url: '/api/v1.0/vault/db_password', token: db })).json().value, V3)
  const other = await request({ method: 'GET', url: '/api/v1.0/vault/api_key', token: db })
  t.equal(other.statusCode, 403)
  t.match(other.json().detail, /vault:read for api_key/)
  t.equal((await request({ method: 'POST', url: '/api/v1.0/vault', body: { name: 'api_key', value: 'x' }, token: db })).statusCode, 403)
  t.equal((await request({ method: 'DELETE', url: '/api/v1.0/vault/api_key', token: db })).statusCode, 403)
  t.match((await request({ method: 'GET', url: '/api/v1.0/vault/api_key' })).json(), { value: V2, version: 2 }, 'refused writes changed nothing')
})

t.test('bad input is 400 problem+json naming the field', async t => {
  const cases: Array<[unknown, string]> = [
    [{ value: 'v' }, '/name'],
    [{ name: 'x' }, '/value'],
    [{ name: 'x', value: '' }, '/value'],
    [{ name: 'x', value: 'v'.repeat(65537) }, '/value'],
    [{ name: '1x', value: 'v' }, '/name'],
    [{ name: 'a b', value: 'v' }, '/name'],
    [{ name: 'a'.repeat(201), value: 'v' }, '/name'],
    [{ name: 'x', value: 5 }, '/value'],
    [{ name: 'x', value: 'v', description: 'd'.repeat(2001) }, '/description'],
    [{ name: 'x', value: 'v', colour: 'red' }, '/colour']
  ]
  for (const [body, path] of cases) {
    const res = await request({ method: 'POST', url: '/api/v1.0/vault', body })
    t.equal(res.statusCode, 400, `${JSON.stringify(body).slice(0, 60)}: ${res.body.slice(0, 200)}`)
    t.match(res.headers['content-type'], PROBLEM_JSON)
    t.ok(res.json().errors.some((e: any) => e.path === path), `names ${path}`)
  }
  const readOnly = await request({ method: 'POST', url: '/api/v1.0/vault', body: { name: 'ro', value: 'v', version: 9, created_by: 'me' } })
  t.equal(readOnly.statusCode, 201, 'read-only fields are ignored')
  t.match(readOnly.json(), { version: 1, created_by: /^(?!me$)/ })
  t.equal((await request({ method: 'GET', url: '/api/v1.0/vault/bad%20name' })).statusCode, 400)
  t.equal((await request({ method: 'DELETE', url: '/api/v1.0/vault/ro' })).statusCode, 204)
})

t.test('unknown secrets are 404 problems', async t => {
  for (const method of ['GET', 'DELETE']) {
    const res = await request({ method, url: '/api/v1.0/vault/nope' })
    t.equal(res.statusCode, 404, method)
    t.match(res.headers['content-type'], PROBLEM_JSON)
    t.match(res.json(), { status: 404, detail: /nope/ })
  }
})

t.test('DELETE shreds every version: the log cannot give the value back, even with the master key', async t => {
  const events = await setEvents('api_key')
  t.equal(events.length, 2)
  const res = await request({ method: 'DELETE', url: '/api/v1.0/vault/api_key' })
  t.equal(res.statusCode, 204)
  t.equal(res.body, '')
  t.equal((await request({ method: 'GET', url: '/api/v1.0/vault/api_key' })).statusCode, 404)
  t.same((await request({ method: 'GET', url: '/api/v1.0/vault' })).json().items.map((i: any) => i.name), ['db_password'], 'gone from the list at once')
  t.equal((await request({ method: 'DELETE', url: '/api/v1.0/vault/api_key' })).statusCode, 404, 'deleting again is 404')

  const fresh = await Vault.open(node.nc, node.namespace, node.masterKey)
  for (const e of events) {
    for (const v of [node.vault, fresh]) {
      try {
        await v.decrypt(e.data)
        t.fail(`version ${e.data.version} still decrypts`)
      } catch (err) {
        t.type(err, VaultError)
        t.equal((err as VaultError).code, 'key_destroyed', `version ${e.data.version} is unrecoverable`)
      }
    }
  }
  // and nothing of the data keys is left in the bucket's stream
  const keyMsgs = await rawMessages(node.store, `KV_${node.namespace}_vault_keys`)
  for (const e of events) {
    const left = keyMsgs.filter(m => m.subject.endsWith(`.${e.data.key_id as string}`))
    t.ok(left.every(m => m.data.length === 0), `no bytes of data key ${e.data.key_id as string} remain`)
  }
  const deleted = (await rawMessages(node.store, node.store.stream)).map(m => JSON.parse(m.data.toString())).find(e => e.type === 'vault.secret_deleted' && e.aggregate_id === 'api_key')
  t.match(deleted, { aggregate_type: 'vault', aggregate_id: 'api_key', data: { name: 'api_key', key_id: events[1].data.key_id } })
})

t.test('a deleted name can be set again: a new secret that goes on counting versions', async t => {
  const res = await request({ method: 'POST', url: '/api/v1.0/vault', body: { name: 'api_key', value: V4 } })
  t.equal(res.statusCode, 201, res.body)
  t.match(res.json(), { version: 3, scope: 'global', description: null })
  t.equal(res.json().created_at, res.json().updated_at, 'created anew')
  t.match((await request({ method: 'GET', url: '/api/v1.0/vault/api_key' })).json(), { value: V4, version: 3 })
  const listed = (await request({ method: 'GET', url: '/api/v1.0/vault?name=api_key' })).json().items
  t.match(listed, [{ name: 'api_key', version: 3, created_at: res.json().created_at }])
})

t.test('no value in any event, read model, KV message or log line', async t => {
  const events = await rawMessages(node.store, node.store.stream)
  t.ok(events.some(m => m.data.toString().includes('vault.secret_set')), 'the scan sees the vault events')
  for (const m of events) noValueIn(t, m.data.toString('latin1') + m.subject, `event #${m.seq}`)
  for (const m of await rawMessages(node.store, `KV_${node.namespace}_vault_keys`)) noValueIn(t, m.data.toString('latin1'), `KV message #${m.seq}`)

  const tables = await dumpTables(node.database, node.namespace)
  t.ok(`${node.namespace}.vault_secrets` in tables, 'the scan sees the vault table')
  for (const [table, text] of Object.entries(tables)) noValueIn(t, text, `table ${table}`)
  // not even ciphertext reaches Postgres: the read model has metadata, the audit trail redacts it
  const ciphertexts = (await setEvents('db_password')).map(e => e.data.ciphertext as string)
  for (const [table, text] of Object.entries(tables)) for (const c of ciphertexts) t.notOk(text.includes(c), `no ciphertext in ${table}`)

  t.ok(node.logs.length > 0, 'the app logged something')
  noValueIn(t, node.logs.join(''), 'the logs')
})
