import t from 'tap'
import { randomBytes, randomUUID } from 'node:crypto'
import { connectNats } from '../../src/nats.ts'
import { Vault } from '../../src/vault/crypto.ts'
import { setSecret, deleteSecret } from '../../src/vault/service.ts'
import { serveVaultResolution, resolveSecrets, vaultResolveSubject, VaultResolutionError } from '../../src/vault/resolver.ts'
import { openServices, NATS_URL } from '../helpers/services.ts'
import { rawMessages } from './app.ts'

const services = await openServices()
t.teardown(services.teardown)
const { nc, store, namespace } = services
const vault = await Vault.open(nc, namespace, randomBytes(32))
const ctx = () => ({ commandId: randomUUID(), actor: 'tester', now: new Date().toISOString() })

const TOKEN = `tok-${randomBytes(8).toString('hex')}`
const PASSWORD = `pw-${randomBytes(8).toString('hex')}`
await setSecret(store, vault, { name: 'api_token', value: TOKEN }, ctx())
await setSecret(store, vault, { name: 'db.password', value: PASSWORD, scope: 'orchestration:deploy-app' }, ctx())
await setSecret(store, vault, { name: 'gone', value: 'x' }, ctx())
await deleteSecret(store, vault, 'gone', ctx())

// an agent has its own connection
const agent = await connectNats([NATS_URL], `agent-${namespace}`)
t.teardown(async () => { await agent.drain().catch(() => {}) })

const resolver = serveVaultResolution(nc, namespace, store, vault)
t.teardown(resolver.close)
await resolver.ready

const refusal = async (p: Promise<unknown>): Promise<string> => {
  try {
    await p
    return 'resolved'
  } catch (err) {
    return err instanceof VaultResolutionError ? err.message : `other error: ${String(err)}`
  }
}

t.test('answers the values of the names asked for', async t => {
  t.same(await resolveSecrets(agent, namespace, { execution_id: 'e1', names: ['api_token', 'db.password'] }), { api_token: TOKEN, 'db.password': PASSWORD })
  t.same(await resolveSecrets(agent, namespace, { execution_id: 'e1', names: ['api_token', 'api_token'] }), { api_token: TOKEN }, 'repeats are one')
  t.same(await resolveSecrets(agent, namespace, { execution_id: 'e1', names: [] }), {}, 'nothing asked, nothing sent')
})

t.test('unknown and deleted names are an error naming them', async t => {
  const msg = await refusal(resolveSecrets(agent, namespace, { execution_id: 'e1', names: ['api_token', 'nope', 'gone'] }))
  t.match(msg, /unknown secrets: nope, gone/)
  t.notMatch(msg, new RegExp(TOKEN), 'no value in the error')
})

t.test('an orchestration only gets global secrets and its own', async t => {
  t.same(await resolveSecrets(agent, namespace, { execution_id: 'e2', names: ['db.password'], orchestration: 'deploy-app' }), { 'db.password': PASSWORD })
  t.same(await resolveSecrets(agent, namespace, { execution_id: 'e2', names: ['api_token'], orchestration: 'other' }), { api_token: TOKEN })
  t.match(await refusal(resolveSecrets(agent, namespace, { execution_id: 'e3', names: ['db.password'], orchestration: 'other' })),
    /not available to orchestration other: db.password \(orchestration:deploy-app\)/)
})

t.test('malformed requests are answered with an error', async t => {
  const ask = async (payload: string): Promise<any> => (await agent.request(vaultResolveSubject(namespace), payload, { timeout: 2_000 })).json()
  t.match(await ask('not json'), { error: /not JSON/ })
  t.match(await ask('[]'), { error: /must be an object/ })
  t.match(await ask('{"names":["a"]}'), { error: /execution_id/ })
  t.match(await ask('{"execution_id":"e","names":"a"}'), { error: /names must be an array/ })
  t.match(await ask('{"execution_id":"e","names":["a b", 3]}'), { error: /not valid secret names: "a b", 3/ })
  t.match(await ask(JSON.stringify({ execution_id: 'e', names: Array.from({ length: 300 }, (_, i) => `n${i}`) })), { error: /at most 256/ })
  t.match(await ask('{"execution_id":"e","names":["a"],"orchestration":5}'), { error: /orchestration/ })
})

t.test('an authorize hook can refuse, e.g. an execution that is not running', async t => {
  const strict = serveVaultResolution(nc, `${namespace}_strict`, store, vault, {
    authorize: (req, secrets) => req.execution_id === 'running' ? null : `execution ${req.execution_id} is not running (asked for ${secrets.map(s => s.name).join(', ')})`
  })
  t.teardown(strict.close)
  await strict.ready
  t.same(await resolveSecrets(agent, `${namespace}_strict`, { execution_id: 'running', names: ['api_token'] }), { api_token: TOKEN })
  t.match(await refusal(resolveSecrets(agent, `${namespace}_strict`, { execution_id: 'done', names: ['api_token'] })), /execution done is not running \(asked for api_token\)/)
})

t.test('a value that cannot be decrypted is an error without details', async t => {
  const other = serveVaultResolution(nc, `${namespace}_other`, store, await Vault.open(nc, namespace, randomBytes(32)), { log: () => {} })
  t.teardown(other.close)
  await other.ready
  t.match(await refusal(resolveSecrets(agent, `${namespace}_other`, { execution_id: 'e', names: ['api_token'] })), /could not be read: .*another master key/)
})

t.test('values travel only in the reply: nothing of them is persisted', async t => {
  for (const m of await rawMessages(store, store.stream)) {
    const text = m.data.toString('latin1')
    t.notOk(text.includes(TOKEN) || text.includes(PASSWORD), `event #${m.seq}`)
  }
  const streams: string[] = []
  for await (const s of store.jsm.streams.list(vaultResolveSubject(namespace))) streams.push(s.config.name)
  t.same(streams, [], 'no stream captures the resolution subject')
})

t.test('with no resolver running the agent is told so', async t => {
  await resolver.close()
  await resolver.close() // twice is harmless
  t.match(await refusal(resolveSecrets(agent, namespace, { execution_id: 'e', names: ['api_token'] }, 1_000)), /no vault resolver is running/)
})
