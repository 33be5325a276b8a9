// The schemas must compile under the application's ajv settings (strict mode, discriminator)
// and accept/refuse what the contract says.
import t from 'tap'
import { Ajv } from 'ajv'
import addFormatsModule from 'ajv-formats'
import { relationshipKeyword } from '../../domain/keywords.ts'
import { orchestrationSchema } from '../../domain/orchestration/schemas.ts'
import { apiKeySchema, tokenRequestSchema } from '../../domain/api-key/schemas.ts'
import { contractExample } from './fixtures/contract-example.ts'

// ajv-formats is CommonJS: under NodeNext the default import is module.exports, whose .default is the plugin
const addFormats = addFormatsModule.default

const ajv = new Ajv({ allErrors: true, discriminator: true, useDefaults: false, strict: true })
addFormats(ajv)
ajv.addKeyword(relationshipKeyword)

const validateOrchestration = ajv.compile(orchestrationSchema)
const validateApiKey = ajv.compile(apiKeySchema)
const validateToken = ajv.compile(tokenRequestSchema)

const errorsOf = (v: typeof validateOrchestration, body: unknown) =>
  v(body) ? [] : (v.errors ?? []).map(e => `${e.instancePath} ${e.keyword}`)

t.test('the CONTRACT §4 example is valid', t => {
  t.same(errorsOf(validateOrchestration, contractExample()), [])
  t.end()
})

t.test('other valid orchestrations', t => {
  const minimal = { name: 'a', steps: [{ id: 'a', action: { type: 'shell', command: 'true' } }] }
  t.same(errorsOf(validateOrchestration, minimal), [])
  const full = {
    name: 'x.y_z-1',
    params: { n: { type: 'integer', required: true, enum: [1, 2], description: 'n' } },
    steps: [{
      id: 'A.b_c-1',
      name: 'a step',
      target: ['all'],
      retries: 0,
      retry_backoff_s: 1.5,
      expect: { rc: 3, stdout: 'ok$', stderr: '^$' },
      action: { type: 'orchestration', orchestration_id: 'child', version: 2, params: { x: 1 } },
      undo: { type: 'http', method: 'POST', url: 'https://h/x', headers: { a: 'b' }, body: { k: 1 } }
    }, {
      id: 'b',
      action: { type: 'shell', command: 'ls', env: { A: '1' }, cwd: '/tmp', shell: '/bin/bash' },
      undo: { type: 'http', url: 'https://h/x', body: 'raw' }
    }],
    archived: false,
    created_at: '2025-03-12T14:00:00.000Z',
    updated_at: '2025-03-12T14:00:00.000Z',
    created_by: 'me'
  }
  t.same(errorsOf(validateOrchestration, full), [])
  t.end()
})

t.test('invalid orchestrations are refused, with the right paths', t => {
  const cases: Array<[string, (b: any) => void, string]> = [
    ['bad name', b => { b.name = 'Deploy App' }, '/name pattern'],
    ['long name', b => { b.name = 'a'.repeat(101) }, '/name maxLength'],
    ['version 0', b => { b.version = 0 }, '/version minimum'],
    ['version 1.5', b => { b.version = 1.5 }, '/version type'],
    ['no steps', b => { b.steps = [] }, '/steps minItems'],
    ['missing steps', b => { delete b.steps }, ' required'],
    ['unknown top-level field', b => { b.colour = 'red' }, ' additionalProperties'],
    ['bad param name', b => { b.params = { 'bad-name': { type: 'string' } } }, '/params propertyNames'],
    ['bad param type', b => { b.params.branch.type = 'date' }, '/params/branch/type enum'],
    ['step without action', b => { delete b.steps[0].action }, '/steps/0 required'],
    ['bad step id', b => { b.steps[0].id = '-x' }, '/steps/0/id pattern'],
    ['repeated after', b => { b.steps[1].after = ['checkout', 'checkout'] }, '/steps/1/after uniqueItems'],
    ['empty target', b => { b.steps[2].target = [] }, '/steps/2/target minItems'],
    ['timeout too long', b => { b.steps[1].timeout_s = 86401 }, '/steps/1/timeout_s maximum'],
    ['too many retries', b => { b.steps[1].retries = 101 }, '/steps/1/retries maximum'],
    ['rc out of range', b => { b.steps[0].expect = { rc: 256 } }, '/steps/0/expect/rc maximum'],
    ['unknown action type', b => { b.steps[0].action.type = 'ssh' }, '/steps/0/action discriminator'],
    ['action without type', b => { delete b.steps[0].action.type }, '/steps/0/action discriminator'],
    ['shell without command', b => { delete b.steps[0].action.command }, '/steps/0/action required'],
    ['empty command', b => { b.steps[0].action.command = '' }, '/steps/0/action/command minLength'],
    ['http field on shell', b => { b.steps[0].action.url = 'http://x' }, '/steps/0/action additionalProperties'],
    ['bad url', b => { b.steps[2].action.url = 'not a url' }, '/steps/2/action/url format'],
    ['bad method', b => { b.steps[2].action.method = 'FETCH' }, '/steps/2/action/method enum'],
    ['bad status', b => { b.steps[2].action.expect_status = [99] }, '/steps/2/action/expect_status/0 minimum'],
    ['numeric body', b => { b.steps[2].action.body = 5 }, '/steps/2/action/body anyOf'],
    ['bad undo', b => { b.steps[1].undo = { type: 'orchestration', orchestration_id: 'Bad!' } }, '/steps/1/undo/orchestration_id pattern']
  ]
  for (const [label, mutate, expected] of cases) {
    const body = contractExample()
    mutate(body)
    t.ok(errorsOf(validateOrchestration, body).includes(expected), label, { errors: errorsOf(validateOrchestration, body) })
  }
  t.end()
})

t.test('descriptions and read-only fields feed the data dictionary', t => {
  const props = orchestrationSchema.properties as Record<string, Record<string, unknown>>
  for (const [name, p] of Object.entries(props)) t.type(p.description, 'string', `${name} has a description`)
  t.same(Object.keys(props).filter(k => props[k].readOnly === true), ['archived', 'created_at', 'updated_at', 'created_by'])
  t.match(props.name, { type: 'string', maxLength: 100, pattern: '^[a-z0-9][a-z0-9._-]*$' })
  t.match(props.version, { type: 'integer', minimum: 1 })
  t.end()
})

t.test('api key bodies', t => {
  const ok = [
    { name: 'ci', scopes: ['executions:launch:deploy-*', 'orchestrations:read'] },
    { name: 'root', scopes: ['admin'], rate_limits: { 'requests/sec': 100, burst: 500, quota: '10k/day' } },
    { name: 'q', scopes: ['audit:read'], rate_limits: { quota: '1.5M/month' } },
    { name: 'q', scopes: ['audit:read'], rate_limits: { 'requests/sec': 0.5 } }
  ]
  for (const body of ok) t.same(errorsOf(validateApiKey, body), [], JSON.stringify(body))
  const bad: Array<[unknown, string]> = [
    [{ scopes: ['admin'] }, ' required'],
    [{ name: '', scopes: ['admin'] }, '/name minLength'],
    [{ name: 'x', scopes: [] }, '/scopes minItems'],
    [{ name: 'x', scopes: ['admin', 'admin'] }, '/scopes uniqueItems'],
    [{ name: 'x', scopes: ['executions:delete'] }, '/scopes/0 pattern'],
    [{ name: 'x', scopes: ['admin'], rate_limits: { 'requests/sec': 0 } }, '/rate_limits/requests~1sec exclusiveMinimum'],
    [{ name: 'x', scopes: ['admin'], rate_limits: { burst: 0 } }, '/rate_limits/burst minimum'],
    [{ name: 'x', scopes: ['admin'], rate_limits: { quota: '10k/week' } }, '/rate_limits/quota pattern'],
    [{ name: 'x', scopes: ['admin'], rate_limits: { rps: 1 } }, '/rate_limits additionalProperties']
  ]
  for (const [body, expected] of bad) {
    t.ok(errorsOf(validateApiKey, body).includes(expected), JSON.stringify(body), { errors: errorsOf(validateApiKey, body) })
  }
  t.end()
})

t.test('token request bodies', t => {
  t.ok(validateToken({ api_key: 'secret' }))
  t.notOk(validateToken({}))
  t.notOk(validateToken({ api_key: '' }))
  t.notOk(validateToken({ api_key: 'x'.repeat(501) }))
  t.notOk(validateToken({ api_key: 'x', extra: 1 }))
  t.end()
})
