// CONTRACT §11: the data dictionary is generated from the schemas that validate requests, so every
// rule it states is enforced. This test reads the dictionary over HTTP (not the schema modules),
// walks every rule of every writable resource, and proves the API enforces each one: a body that
// breaks exactly that rule (and nothing else) is refused with 400 problem+json naming the field's
// JSON Pointer, while valid values for the same fields (samples, boundaries, enum members,
// defaults) are accepted, so the walk cannot pass vacuously.
import t from 'tap'
import { ADMIN_SECRET, startTestNode } from '../helpers/node.ts'
import { EVENT_CATALOGUE } from '../../domain/index.ts'

type Rules = Record<string, any>

const node = await startTestNode()
t.teardown(node.teardown)

const PROBLEM_JSON = /^application\/problem\+json/

/** Every word a rules object may use; a new one must be taught to the walker below first. */
const KNOWN_WORDS = new Set(['type', 'const', 'minimum', 'maximum', 'exclusiveMinimum', 'exclusiveMaximum', 'minLength',
  'maxLength', 'pattern', 'enum', 'format', 'default', 'readOnly', 'description', 'minItems', 'maxItems', 'uniqueItems',
  'relationship', 'required', 'properties', 'additionalProperties', 'propertyNames', 'items', 'oneOf', 'anyOf', 'discriminator'])

const get = async (url: string) => await node.request({ method: 'GET', url })

// ---------------------------------------------------------------------------------------------
// The dictionary itself

t.test('GET /api/v2/data-dictionary lists the resources; /api/v2.0 is the same', async t => {
  const v2 = await get('/api/v2/data-dictionary')
  t.equal(v2.statusCode, 200, v2.body)
  t.match(v2.headers['content-type'], /^application\/json/)
  const index = v2.json()
  const names = index.resources.map((r: any) => r.name)
  for (const name of ['orchestrations', 'api-keys', 'tokens']) t.ok(names.includes(name), `lists ${name}`)
  for (const r of index.resources) {
    t.type(r.description, 'string', `${r.name} has a description`)
    t.equal(r.href, `/api/v2/data-dictionary/${r.name}`)
    t.ok(Array.isArray(r.endpoints) && r.endpoints.length > 0, `${r.name} names its endpoints`)
    const fields = await get(r.href)
    t.equal(fields.statusCode, 200, `${r.href} resolves`)
    t.ok(Object.keys(fields.json()).length > 0, `${r.name} has fields`)
  }
  t.equal(index.events?.href, '/api/v2/data-dictionary/events')

  const v20 = await get('/api/v2.0/data-dictionary')
  t.equal(v20.statusCode, 200)
  const strip = (body: string) => JSON.parse(body.replaceAll('/api/v2.0/data-dictionary', '/api/v2/data-dictionary'))
  t.same(strip(v20.body), index, 'same index under /api/v2.0 (hrefs point at the same prefix)')
  t.equal(v20.json().resources[0].href, `/api/v2.0/data-dictionary/${index.resources[0].name}`)
  for (const name of [...names, 'events']) {
    t.same((await get(`/api/v2.0/data-dictionary/${name}`)).json(), (await get(`/api/v2/data-dictionary/${name}`)).json(), `same ${name} under /api/v2.0`)
  }
})

t.test('every endpoint the index names is routed', async t => {
  const index = (await get('/api/v2/data-dictionary')).json()
  for (const r of index.resources) {
    for (const endpoint of r.endpoints as string[]) {
      const [method, path] = endpoint.split(' ')
      // a placeholder id: the answer may be 4xx (not found, invalid), but never "no route"
      const res = await node.request({ method, url: path.replace(/:[a-z_]+/g, 'no-such-thing'), ...(method === 'POST' || method === 'PATCH' ? { body: {} } : {}) })
      t.not(res.statusCode, 500, endpoint)
      t.notOk(res.statusCode === 404 && /^no route/.test(res.json().detail ?? ''), `${endpoint} exists`)
    }
  }
})

t.test('orchestrations: the shape of the CONTRACT §11 example', async t => {
  const res = await get('/api/v2/data-dictionary/orchestrations')
  t.equal(res.statusCode, 200)
  const d = res.json()
  t.match(d.name, { type: 'string', required: true, maxLength: 100, pattern: '^[a-z0-9][a-z0-9._-]*$' })
  t.match(d.version, { type: 'integer', minimum: 1 })
  t.notOk(d.version.required, 'version is optional')
  t.match(d.steps, { type: 'array', required: true, items: { type: 'object', properties: { id: { type: 'string', required: true }, action: { required: true } } } })
  for (const f of Object.values(d) as Rules[]) t.type(f.description, 'string', 'every field is described')
  for (const f of ['archived', 'created_at', 'updated_at', 'created_by']) t.equal(d[f]?.readOnly, true, `${f} is readOnly`)
  // an orchestration action refers to another orchestration by name
  const branch = d.steps.items.properties.action.oneOf.find((b: Rules) => b.properties?.type?.const === 'orchestration')
  t.same(branch?.properties.orchestration_id.relationship, { resource: 'orchestrations', field: 'name' })
  t.equal(d.steps.items.properties.action.discriminator?.propertyName, 'type')
  const index = (await get('/api/v2/data-dictionary')).json()
  const rels = index.resources.find((r: any) => r.name === 'orchestrations').relationships
  t.ok(rels.some((r: any) => r.field === '/steps/*/action/orchestration_id' && r.resource === 'orchestrations' && r.references === 'name'),
    'the index lists the relationship of steps[].action.orchestration_id')
})

t.test('every relationship points at a resource and field the dictionary knows', async t => {
  const index = (await get('/api/v2/data-dictionary')).json()
  let n = 0
  for (const r of index.resources) {
    for (const rel of r.relationships as Array<{ field: string, resource: string, references: string }>) {
      const target = await get(`/api/v2/data-dictionary/${rel.resource}`)
      t.equal(target.statusCode, 200, `${r.name}${rel.field} → ${rel.resource}`)
      t.ok(target.json()[rel.references] != null, `${rel.resource} has the field ${rel.references}`)
      n++
    }
  }
  t.ok(n >= 2, `relationships checked: ${n}`)
})

t.test('events: the stream\'s event catalogue, covering what the log holds', async t => {
  const res = await get('/api/v2/data-dictionary/events')
  t.equal(res.statusCode, 200)
  const events = res.json()
  t.same(Object.keys(events).sort(), EVENT_CATALOGUE.map(e => e.type).sort())
  for (const [type, rules] of Object.entries(events) as Array<[string, Rules]>) {
    t.type(rules.description, 'string', `${type} is described`)
    t.ok(Object.keys(rules.properties ?? {}).length > 0, `${type} lists its fields`)
  }
  // events this test's own writes put in the log are all in the catalogue
  const created = await node.request({ method: 'POST', url: '/api/v1.0/orchestrations', body: { name: 'catalogue-probe', steps: [{ id: 'a', action: { type: 'shell', command: 'true' } }] } })
  t.equal(created.statusCode, 201, 'an orchestration is created')
  t.equal((await node.request({ method: 'DELETE', url: '/api/v1.0/orchestrations/catalogue-probe' })).statusCode, 200)
  const audit = await get('/api/v1.0/audit?limit=500')
  t.equal(audit.statusCode, 200, 'the audit log reads')
  const seen = new Set<string>(audit.json().items.map((e: any) => e.type))
  t.ok(seen.has('orchestration.version_created') && seen.has('orchestration.archived') && seen.has('api_key.created'))
  for (const type of seen) t.ok(events[type] != null, `${type} (seen in the log) is in the catalogue`)
})

t.test('an unknown resource is a 404 problem', async t => {
  for (const url of ['/api/v2/data-dictionary/no-such-resource', '/api/v2.0/data-dictionary/no-such-resource']) {
    const res = await get(url)
    t.equal(res.statusCode, 404)
    t.match(res.headers['content-type'], PROBLEM_JSON)
    t.match(res.json(), { type: String, title: String, status: 404, detail: /no-such-resource/ })
  }
})

// ---------------------------------------------------------------------------------------------
// The walk: sample values, violations and valid variants, generated from the rules alone

const OMIT = Symbol('omit')

interface Case {
  /** bad: must be refused with 400 naming `path`; good: must be accepted */
  kind: 'bad' | 'good'
  rule: string
  /** where in the body, as a dotted label for messages */
  label: string
  /** JSON Pointer of the field the rule is about */
  path: string
  /** the replacement of the node being walked (OMIT: leave the property out) */
  node: unknown
}

const esc = (k: string): string => k.replace(/~/g, '~0').replace(/\//g, '~1')
const clone = <T>(v: T): T => structuredClone(v)
const strLen = (s: string): number => [...s].length // JSON Schema counts code points

function stringFits (r: Rules, s: string): boolean {
  if (r.minLength != null && strLen(s) < r.minLength) return false
  if (r.maxLength != null && strLen(s) > r.maxLength) return false
  if (r.pattern != null && !new RegExp(r.pattern, 'u').test(s)) return false
  if (r.enum != null && !r.enum.includes(s)) return false
  return true
}

function sampleString (r: Rules, i: number): string {
  if (r.format === 'uri') return `http://example.com/s${i}`
  if (r.format === 'date-time') return '2025-01-01T00:00:00.000Z'
  if (r.format != null) throw new Error(`the walker knows no sample for format ${r.format}`)
  const candidates = [`s${i}`, 'admin', 'orchestrations:read', 'audit:read', 'servers:read', '10k/day', '5/hour', `x${i}`, 'a']
  const fitting = candidates.filter(c => stringFits(r, c))
  if (fitting.length === 0) throw new Error(`the walker finds no sample for ${JSON.stringify(r)}`)
  // different indices give different values where the rules allow it (unique items, step ids)
  return fitting[0] === `s${i}` ? fitting[0] : fitting[i % fitting.length]
}

/** A string of exactly `len` code points satisfying the other string rules, or undefined. */
function stringOfLength (r: Rules, len: number, i = 0): string | undefined {
  const base = len === 0 ? '' : sampleString({ ...r, maxLength: undefined, minLength: undefined }, i)
  for (const pad of ['a', '0', 'x', '-']) {
    const s = strLen(base) > len ? [...base].slice(0, len).join('') : base + pad.repeat(len - strLen(base))
    if (stringFits({ ...r, minLength: undefined, maxLength: undefined }, s)) return s
  }
  return undefined
}

/** A valid value of these rules; `i` varies it (the index of an array item). */
function sample (r: Rules, i = 0): unknown {
  if ('const' in r) return r.const
  if (r.enum != null) return clone(r.enum[0])
  if (r.oneOf != null) return sample({ ...r.oneOf[0] }, i)
  if (r.anyOf != null) return sample(r.anyOf[0], i)
  switch (r.type) {
    case 'string': return sampleString(r, i)
    case 'integer':
    case 'number': {
      const step = r.type === 'integer' ? 1 : 0.5
      const lo = r.minimum ?? (r.exclusiveMinimum != null ? r.exclusiveMinimum + step : undefined)
      const hi = r.maximum ?? (r.exclusiveMaximum != null ? r.exclusiveMaximum - step : undefined)
      return lo ?? (hi != null ? Math.min(hi, 1) : 1)
    }
    case 'boolean': return true
    case 'array': return Array.from({ length: r.minItems ?? 0 }, (_, k) => sample(r.items ?? {}, k))
    case 'object': {
      const out: Record<string, unknown> = {}
      for (const [k, sub] of Object.entries((r.properties ?? {}) as Record<string, Rules>)) {
        if (sub.required === true && sub.readOnly !== true) out[k] = sample(sub, i)
      }
      return out
    }
    case undefined: return `x${i}`
    default: throw new Error(`the walker knows no sample for type ${r.type}`)
  }
}

/** A value of none of these JSON types. */
function notOfTypes (types: string[]): unknown {
  const candidates: Array<[string[], unknown]> = [
    [['integer', 'number'], 12345], [['integer', 'number'], 1.5], [['string'], 'not-a-number'], [['boolean'], true],
    [['array'], ['x']], [['object'], { x: 1 }]
  ]
  // 1.5 is a number but not an integer: the sharper test for `integer`
  if (types.length === 1 && types[0] === 'integer') return 1.5
  for (const [is, v] of candidates) if (!is.some(x => types.includes(x) || (x === 'integer' && types.includes('number')))) return v
  throw new Error(`no value outside ${types.join(', ')}`)
}

const stats = { skippedReadOnly: [] as string[] }

/**
 * Cases for one node of the dictionary: `r` its rules, `v` a valid value of it, `path` its JSON
 * Pointer. Each case carries the node's replacement; the caller composes it into its own value.
 */
function walk (r: Rules, v: any, path: string, label: string, opts: { branch?: boolean } = {}): Case[] {
  for (const word of Object.keys(r)) {
    if (!KNOWN_WORDS.has(word)) throw new Error(`${label}: the dictionary uses "${word}", which this walker does not know yet`)
  }
  const cases: Case[] = []
  const bad = (rule: string, node: unknown, at = path): void => { cases.push({ kind: 'bad', rule, label, path: at, node }) }
  const good = (rule: string, node: unknown): void => { cases.push({ kind: 'good', rule, label, path, node }) }

  // a oneOf branch repeats the object type of its parent; that rule is walked once, on the parent
  if (r.type != null && opts.branch !== true) bad(`type ${r.type}`, notOfTypes([r.type]))
  if ('const' in r) {
    bad('const', typeof r.const === 'string' ? `not-${r.const}` : { not: r.const })
    good('const', r.const)
  }
  if (r.enum != null) {
    bad('enum', typeof r.enum[0] === 'string' ? 'not-in-the-enum' : -987654)
    for (const member of r.enum) good(`enum member ${JSON.stringify(member)}`, member)
  }
  const step = r.type === 'integer' ? 1 : 0.5
  if (r.minimum != null) { bad('minimum', r.minimum - step); good('minimum (boundary)', r.minimum) }
  if (r.maximum != null) { bad('maximum', r.maximum + step); good('maximum (boundary)', r.maximum) }
  if (r.exclusiveMinimum != null) { bad('exclusiveMinimum', r.exclusiveMinimum); good('exclusiveMinimum (just above)', r.exclusiveMinimum + step) }
  if (r.exclusiveMaximum != null) { bad('exclusiveMaximum', r.exclusiveMaximum); good('exclusiveMaximum (just below)', r.exclusiveMaximum - step) }
  if (r.minLength != null && r.minLength > 0) {
    bad('minLength', 'a'.repeat(r.minLength - 1))
    const s = stringOfLength(r, r.minLength)
    if (s != null) good('minLength (boundary)', s)
  }
  if (r.maxLength != null) {
    const over = stringOfLength(r, r.maxLength + 1) ?? 'a'.repeat(r.maxLength + 1)
    bad('maxLength', over)
    const s = stringOfLength(r, r.maxLength)
    if (s != null) good('maxLength (boundary)', s)
  }
  if (r.pattern != null) {
    const failing = ['-bad value!', '!', ' ', 'UPPER case ~', '💥'].find(s => !new RegExp(r.pattern, 'u').test(s) &&
      (r.minLength == null || strLen(s) >= r.minLength) && (r.maxLength == null || strLen(s) <= r.maxLength))
    if (failing == null) throw new Error(`${label}: no string fails ${r.pattern}`)
    bad('pattern', failing)
    good('pattern', v)
  }
  if (r.format != null) {
    bad(`format ${r.format}`, r.format === 'uri' ? 'not a uri' : r.format === 'date-time' ? 'yesterday at noon' : (() => { throw new Error(`unknown format ${r.format}`) })())
    good(`format ${r.format}`, v)
  }
  if ('default' in r) good('default', clone(r.default))
  if (r.type === 'array') {
    const items: Rules = r.items ?? {}
    if (r.minItems != null && r.minItems > 0) bad('minItems', (v as unknown[]).slice(0, r.minItems - 1))
    if (r.maxItems != null) {
      bad('maxItems', Array.from({ length: r.maxItems + 1 }, (_, k) => sample(items, k)))
      good('maxItems (boundary)', Array.from({ length: r.maxItems }, (_, k) => sample(items, k)))
    }
    if (r.uniqueItems === true) {
      const arr = v as unknown[]
      const one = sample(items, 0)
      bad('uniqueItems', arr.length > 0 ? [...arr, clone(arr[0])] : [one, clone(one)])
      // (no distinct-items counterpart here: for `after` distinct ids would be unknown steps, a 422)
    }
    if (r.items != null) {
      // rules of the items: walked on one more item appended to the valid array
      const k = (v as unknown[]).length
      const item = sample(items, k)
      good('an item', [...(v as unknown[]), item])
      for (const c of walk(items, item, `${path}/${k}`, `${label}[]`)) cases.push({ ...c, node: [...(v as unknown[]), c.node] })
    }
  }
  if (r.anyOf != null) {
    bad('anyOf', notOfTypes(r.anyOf.map((b: Rules) => b.type)))
    r.anyOf.forEach((b: Rules, k: number) => good(`anyOf branch ${k} (${b.type})`, sample(b, 0)))
  }
  if (r.oneOf != null) {
    const tag: string | undefined = r.discriminator?.propertyName
    if (tag == null) throw new Error(`${label}: oneOf without a discriminator is not walked`)
    for (const b of r.oneOf as Rules[]) {
      const kind = b.properties?.[tag]?.const
      const bv: any = v?.[tag] === kind ? v : sample(b, 0)
      good(`oneOf branch ${kind}`, bv)
      cases.push(...walk(b, bv, path, `${label}<${kind}>`, { branch: true }))
    }
  }
  if (r.properties != null) {
    for (const [k, sub] of Object.entries(r.properties as Record<string, Rules>)) {
      if (sub.readOnly === true) {
        // readOnly fields are set by the server and only appear in answers (a request may echo them
        // back and they are ignored), so there is no request rule to break: skipped on purpose.
        stats.skippedReadOnly.push(`${label}.${k}`)
        continue
      }
      const kv = v?.[k] ?? sample(sub, 0)
      if (sub.required === true) bad('required', omitting(v, k), `${path}/${esc(k)}`)
      else cases.push({ kind: 'good', rule: 'present', label: `${label}.${k}`, path: `${path}/${esc(k)}`, node: { ...v, [k]: kv } })
      for (const c of walk(sub, kv, `${path}/${esc(k)}`, `${label}.${k}`)) {
        cases.push({ ...c, node: c.node === OMIT ? omitting(v, k) : { ...v, [k]: c.node } })
      }
    }
  }
  if (r.additionalProperties === false) bad('additionalProperties: false', { ...v, zz_unknown_field: 1 }, `${path}/zz_unknown_field`)
  if (r.additionalProperties != null && typeof r.additionalProperties === 'object') {
    const ap: Rules = r.additionalProperties
    const key = r.propertyNames?.pattern != null ? sampleString({ pattern: r.propertyNames.pattern }, 0) : 'some_key'
    const mv = sample(ap, 0)
    good('a map entry', { ...v, [key]: mv })
    for (const c of walk(ap, mv, `${path}/${esc(key)}`, `${label}{${key}}`)) {
      cases.push({ ...c, node: c.node === OMIT ? v : { ...v, [key]: c.node } })
    }
    if (r.propertyNames?.pattern != null) {
      const badKey = ['1-bad key', '-', ' '].find(s => !new RegExp(r.propertyNames.pattern, 'u').test(s))!
      // ajv reports a bad property name at the map itself
      bad('propertyNames pattern', { ...v, [badKey]: mv })
    }
  } else if (r.propertyNames != null) {
    throw new Error(`${label}: propertyNames without additionalProperties is not walked`)
  }
  return cases
}

function omitting (v: any, k: string): Record<string, unknown> {
  const out = { ...v }
  delete out[k]
  return out
}

interface Writable {
  resource: string
  url: string
  token?: string | null
  /** a valid body to start from (optional fields left out) */
  base: (fields: Record<string, Rules>) => Record<string, unknown>
  /** called on every good body right before it is sent */
  prepare?: (body: any, c: Case) => any
  accepted: (status: number, body: any) => boolean
}

let serial = 0
const WRITABLE: Writable[] = [
  {
    resource: 'orchestrations',
    url: '/api/v1.0/orchestrations',
    base: fields => sample({ type: 'object', properties: fields }) as Record<string, unknown>,
    // a fresh name for every accepted body, so versions never collide (409); unless the name is
    // the field under test, whose values are distinct anyway
    prepare: (body, c) => c.path === '/name' ? body : { ...body, name: `ok-${++serial}` },
    accepted: status => status === 201
  },
  {
    resource: 'api-keys',
    url: '/api/v1.0/api-keys',
    base: fields => sample({ type: 'object', properties: fields }) as Record<string, unknown>,
    accepted: status => status === 201
  },
  {
    resource: 'tokens',
    url: '/api/v1.0/auth/token',
    token: null,
    base: () => ({ api_key: ADMIN_SECRET }),
    // a well-formed but unknown key passes validation and is then refused as unknown (401)
    accepted: (status, body) => status === 200 || (status === 401 && body.api_key !== ADMIN_SECRET)
  }
]

const walked: Record<string, number> = {}

for (const w of WRITABLE) {
  t.test(`${w.resource}: every rule of the dictionary is enforced by POST ${w.url}`, async t => {
    const res = await get(`/api/v2/data-dictionary/${w.resource}`)
    t.equal(res.statusCode, 200)
    const fields = res.json() as Record<string, Rules>
    const base = w.base(fields)
    const post = async (body: unknown) => await node.request({ method: 'POST', url: w.url, body, ...(w.token !== undefined ? { token: w.token } : {}) })

    const first = await post(w.prepare?.(clone(base), { kind: 'good', rule: 'base', label: '', path: '', node: base }) ?? base)
    t.ok(w.accepted(first.statusCode, base), `the base body is accepted: ${first.statusCode} ${first.body.slice(0, 300)}`)

    // The resource's dictionary is the map of the top-level object's fields. Unknown top-level
    // fields are refused too, although the map itself does not say so.
    const cases = walk({ type: 'object', properties: fields }, base, '', w.resource, { branch: true })
    const extra = await post({ ...base, zz_unknown_field: 1 })
    t.equal(extra.statusCode, 400, 'an unknown top-level field is refused')

    const bads = cases.filter(c => c.kind === 'bad')
    const goods = cases.filter(c => c.kind === 'good')
    for (const c of bads) {
      const r = await post(c.node)
      const body = r.headers['content-type']?.startsWith('application/problem+json') === true ? r.json() : undefined
      const paths: string[] = Array.isArray(body?.errors) ? body.errors.map((e: any) => e.path) : []
      t.ok(r.statusCode === 400 && body != null && paths.includes(c.path) && paths.every(p => p === c.path),
        `${c.label} ${c.rule}: 400 naming ${c.path}`,
        { status: r.statusCode, errors: body?.errors ?? r.body.slice(0, 500), sent: JSON.stringify(c.node).slice(0, 500) })
    }
    for (const c of goods) {
      const body = w.prepare?.(c.node, c) ?? c.node
      const r = await post(body)
      t.ok(w.accepted(r.statusCode, body), `${c.label} ${c.rule}: accepted`,
        { status: r.statusCode, answer: r.body.slice(0, 500), sent: JSON.stringify(body).slice(0, 500) })
    }
    walked[w.resource] = bads.length
    t.ok(goods.length >= 2, `valid variants sent: ${goods.length}`)
    t.comment(`${w.resource}: ${bads.length} rules walked, ${goods.length} valid variants`)
  })
}

t.test('the walk would notice a rule the API does not enforce', async t => {
  // guard against a checker that passes whatever happens: state a rule the schemas do not have
  // (description at most 5 characters) and the case generated for it is not refused
  const fields = (await get('/api/v2/data-dictionary/orchestrations')).json() as Record<string, Rules>
  const tampered = { ...fields, description: { ...fields.description, maxLength: 5 } }
  const base = sample({ type: 'object', properties: tampered }) as Record<string, unknown>
  const skipped = stats.skippedReadOnly.length
  const c = walk({ type: 'object', properties: tampered }, base, '', 'tampered', { branch: true })
    .find(c => c.kind === 'bad' && c.path === '/description' && c.rule === 'maxLength')
  stats.skippedReadOnly.length = skipped
  t.ok(c != null, 'a case is generated for the invented rule')
  const res = await node.request({ method: 'POST', url: '/api/v1.0/orchestrations', body: { ...(c!.node as object), name: 'tampered-1' } })
  t.equal(res.statusCode, 201, 'the API does not enforce the invented rule, so the walk would have reported it')
})

t.test('the walk covered the dictionary', async t => {
  const total = Object.values(walked).reduce((a, b) => a + b, 0)
  t.comment(`rules walked: ${JSON.stringify(walked)} = ${total}; readOnly fields skipped: ${stats.skippedReadOnly.join(', ')}`)
  t.ok(walked.orchestrations > 80, `orchestrations: ${walked.orchestrations} rules`)
  t.ok(walked['api-keys'] > 12, `api-keys: ${walked['api-keys']} rules`)
  t.ok(walked.tokens >= 4, `tokens: ${walked.tokens} rules`)
  t.ok(total > 100, `total rules walked: ${total}`)
  t.ok(stats.skippedReadOnly.includes('orchestrations.created_at') && stats.skippedReadOnly.includes('api-keys.api_key'), 'readOnly fields are skipped')
})
