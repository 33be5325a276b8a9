import t from 'tap'
import { startTestNode } from '../helpers/node.ts'

const node = await startTestNode()
t.teardown(node.teardown)

const example = {
  name: 'deploy-app',
  version: 1,
  description: 'Build and roll out the app',
  params: { branch: { type: 'string', default: 'main' } },
  stop_on_error: true,
  undo_on_error: true,
  steps: [
    { id: 'checkout', action: { type: 'shell', command: 'git fetch && git checkout {{params.branch}}' } },
    { id: 'build', after: ['checkout'], timeout_s: 600, retries: 2, action: { type: 'shell', command: 'make build' }, undo: { type: 'shell', command: 'make clean' } },
    { id: 'smoke', after: ['build'], target: ['web-1'], action: { type: 'http', method: 'GET', url: 'http://localhost:8080/health', expect_status: [200] }, continue_on_error: true }
  ]
}

t.test('the contract example creates version 1 and reads back', async t => {
  const res = await node.request({ method: 'POST', url: '/api/v1.0/orchestrations', body: example })
  t.equal(res.statusCode, 201, res.body)
  const got = await node.request({ method: 'GET', url: '/api/v1.0/orchestrations/deploy-app' })
  t.equal(got.statusCode, 200)
  t.match(got.json(), { name: 'deploy-app', version: 1, steps: example.steps, archived: false })
  const again = await node.request({ method: 'POST', url: '/api/v1.0/orchestrations', body: example })
  t.equal(again.statusCode, 200, 'same definition again is idempotent')
  const different = await node.request({ method: 'POST', url: '/api/v1.0/orchestrations', body: { ...example, description: 'other' } })
  t.equal(different.statusCode, 409)
  t.equal(different.headers['content-type'], 'application/problem+json; charset=utf-8')
})

const problemJson = /^application\/problem\+json/
const shell = (id: string, extra: Record<string, unknown> = {}) => ({ id, action: { type: 'shell', command: `echo ${id}` }, ...extra })
const post = async (body: unknown) => await node.request({ method: 'POST', url: '/api/v1.0/orchestrations', body })
const get = async (url: string) => await node.request({ method: 'GET', url })
const sleep = async (ms: number) => await new Promise(resolve => setTimeout(resolve, ms))

t.test('versions: omitted → next; identical → 200; different → 409; lower → 409', async t => {
  const first = await post({ name: 'ver', steps: [shell('a')] })
  t.equal(first.statusCode, 201)
  t.equal(first.json().version, 1, 'no version: 1 first')
  t.equal(first.headers.location, '/api/v1.0/orchestrations/ver?version=1')
  const second = await post({ name: 'ver', description: 'two', steps: [shell('a'), shell('b', { after: ['a'] })] })
  t.equal(second.statusCode, 201)
  t.equal(second.json().version, 2, 'then the next')
  t.match(second.json(), { name: 'ver', version: 2, description: 'two', archived: false, created_at: String, created_by: String })
  const jump = await post({ name: 'ver', version: 5, steps: [shell('c')] })
  t.equal(jump.statusCode, 201, 'an explicit higher version')
  t.equal(jump.json().version, 5)
  t.equal((await post({ name: 'ver', steps: [shell('d')] })).json().version, 6, 'next after the highest')

  const same = await post({ name: 'ver', version: 2, description: 'two', steps: [shell('a'), shell('b', { after: ['a'] })] })
  t.equal(same.statusCode, 200, 'identical again → 200')
  t.equal(same.json().version, 2)
  // stating the defaults is the same definition as leaving them out
  const sameWithDefaults = await post({ name: 'ver', version: 1, description: '', params: {}, stop_on_error: true, undo_on_error: false, steps: [shell('a')] })
  t.equal(sameWithDefaults.statusCode, 200, 'defaults stated or omitted are the same definition')
  // a GET answer posted back is idempotent
  const back = (await get('/api/v1.0/orchestrations/ver?version=2')).json()
  t.equal((await post(back)).statusCode, 200, 'a GET answer posted back → 200')

  const different = await post({ name: 'ver', version: 2, description: 'changed', steps: [shell('a')] })
  t.equal(different.statusCode, 409, 'same version, different definition → 409')
  t.match(different.headers['content-type'], problemJson)
  t.match(different.json(), { status: 409, title: String, type: String, detail: /ver/ })
  const lower = await post({ name: 'ver', version: 3, steps: [shell('x')] })
  t.equal(lower.statusCode, 409, 'a new version below the latest → 409')
  t.match(lower.json().detail, /latest/)
  const versions = (await get('/api/v1.0/orchestrations/ver/versions')).json()
  t.same(versions.items.map((v: any) => v.version), [1, 2, 5, 6], 'refused writes added nothing')
  t.equal((await get('/api/v1.0/orchestrations/ver')).json().version, 6, 'latest by default')
})

t.test('cycles and unknown `after` → 422 naming them', async t => {
  const cycle = await post({ name: 'cyc', steps: [shell('a', { after: ['c'] }), shell('b', { after: ['a'] }), shell('c', { after: ['b'] })] })
  t.equal(cycle.statusCode, 422)
  t.match(cycle.headers['content-type'], problemJson)
  const c = cycle.json()
  t.match(c, { type: String, title: String, status: 422, detail: String, errors: Array })
  t.ok(c.errors.some((e: any) => /cycle/.test(e.message) && /a/.test(e.message) && /b/.test(e.message) && /c/.test(e.message) && e.path.startsWith('/steps/')), JSON.stringify(c.errors))

  const unknown = await post({ name: 'unk', steps: [shell('a'), shell('b', { after: ['a', 'ghost'] })] })
  t.equal(unknown.statusCode, 422)
  t.ok(unknown.json().errors.some((e: any) => e.path === '/steps/1/after/1' && /ghost/.test(e.message)), JSON.stringify(unknown.json().errors))

  const self = await post({ name: 'self', steps: [shell('a', { after: ['a'] })] })
  t.equal(self.statusCode, 422)
  t.ok(self.json().errors.some((e: any) => e.path === '/steps/0/after/0'))

  const dup = await post({ name: 'dup', steps: [shell('a'), shell('a')] })
  t.equal(dup.statusCode, 422)
  t.ok(dup.json().errors.some((e: any) => e.path === '/steps/1/id' && /duplicate/.test(e.message)))

  for (const name of ['cyc', 'unk', 'self', 'dup']) t.equal((await get(`/api/v1.0/orchestrations/${name}`)).statusCode, 404, `${name} was not created`)
})

t.test('list: pagination, order, name glob, version and versions', async t => {
  const names = ['page-g', 'page-a', 'page-e', 'page-c', 'page-b', 'page-f', 'page-d']
  for (const name of names) t.equal((await post({ name, description: `about ${name}`, steps: [shell('a'), shell('b')] })).statusCode, 201)
  const all = (await get('/api/v1.0/orchestrations?limit=500')).json()
  t.equal(all.next_cursor, null)
  const allNames: string[] = all.items.map((i: any) => i.name)
  t.same(allNames, [...allNames].sort(), 'ordered by name')
  t.match(all.items.find((i: any) => i.name === 'page-a'), { name: 'page-a', version: 1, description: 'about page-a', steps: 2, archived: false })

  for (const limit of [1, 2, 3, 7]) {
    const seen: string[] = []
    let cursor: string | null = null
    let pages = 0
    do {
      const res = await get(`/api/v1.0/orchestrations?limit=${limit}&name=page-*${cursor != null ? `&cursor=${encodeURIComponent(cursor)}` : ''}`)
      t.equal(res.statusCode, 200)
      const body = res.json()
      t.ok(body.items.length <= limit, 'at most limit items')
      seen.push(...body.items.map((i: any) => i.name))
      cursor = body.next_cursor
      pages++
    } while (cursor != null && pages < 20)
    t.same(seen, [...names].sort(), `limit=${limit}: complete, ordered, no duplicates`)
    t.equal(pages, Math.ceil(names.length / limit), `limit=${limit}: no empty last page`)
  }
  // unfiltered paging covers the same as the big page
  const seen: string[] = []
  let cursor: string | null = null
  for (let i = 0; i < 50; i++) {
    const body: any = (await get(`/api/v1.0/orchestrations?limit=2${cursor != null ? `&cursor=${encodeURIComponent(cursor)}` : ''}`)).json()
    seen.push(...body.items.map((x: any) => x.name))
    cursor = body.next_cursor
    if (cursor == null) break
  }
  t.same(seen, allNames, 'unfiltered pages add up to the whole list')

  t.same((await get('/api/v1.0/orchestrations?name=page-?')).json().items.map((i: any) => i.name), [...names].sort(), '? matches one character')
  t.same((await get('/api/v1.0/orchestrations?name=page-c')).json().items.map((i: any) => i.name), ['page-c'], 'an exact name')
  t.same((await get('/api/v1.0/orchestrations?name=*-d')).json().items.map((i: any) => i.name), ['page-d'], 'a leading *')
  t.same((await get('/api/v1.0/orchestrations?name=nothing-*')).json().items, [], 'no match')
  t.same((await get('/api/v1.0/orchestrations?name=page.a')).json().items, [], '. is literal')

  // ?version=N and /versions
  t.equal((await post({ name: 'page-a', description: 'second', steps: [shell('z')] })).json().version, 2)
  const v1 = await get('/api/v1.0/orchestrations/page-a?version=1')
  t.equal(v1.statusCode, 200)
  t.match(v1.json(), { name: 'page-a', version: 1, description: 'about page-a', steps: [{ id: 'a' }, { id: 'b' }] })
  t.match((await get('/api/v1.0/orchestrations/page-a')).json(), { version: 2, description: 'second', steps: [{ id: 'z' }] })
  t.equal((await get('/api/v1.0/orchestrations/page-a?version=3')).statusCode, 404, 'no version 3')
  t.equal((await get('/api/v1.0/orchestrations/no-such-thing')).statusCode, 404)
  t.equal((await get('/api/v1.0/orchestrations?name=page-a')).json().items[0].version, 2, 'the list shows the latest')
  const versions = await get('/api/v1.0/orchestrations/page-a/versions')
  t.equal(versions.statusCode, 200)
  t.match(versions.json().items, [{ name: 'page-a', version: 1, description: 'about page-a' }, { name: 'page-a', version: 2, description: 'second' }])
  t.equal(versions.json().items.length, 2)
  t.equal((await get('/api/v1.0/orchestrations/no-such-thing/versions')).statusCode, 404)
})

t.test('DELETE archives', async t => {
  t.equal((await post({ name: 'arch', steps: [shell('a')] })).statusCode, 201)
  t.equal((await post({ name: 'arch', steps: [shell('b')] })).statusCode, 201)
  const del = await node.request({ method: 'DELETE', url: '/api/v1.0/orchestrations/arch' })
  t.equal(del.statusCode, 200)
  t.match(del.json(), { name: 'arch', archived: true })
  const got = (await get('/api/v1.0/orchestrations/arch')).json()
  t.match(got, { name: 'arch', version: 2, archived: true })
  t.match((await get('/api/v1.0/orchestrations/arch?version=1')).json(), { version: 1, archived: true }, 'history stays')
  t.equal((await get('/api/v1.0/orchestrations/arch/versions')).json().items.length, 2)
  const names = async (q: string) => (await get(`/api/v1.0/orchestrations?limit=500${q}`)).json().items.map((i: any) => i.name)
  t.notOk((await names('')).includes('arch'), 'hidden from the list')
  t.ok((await names('&archived=all')).includes('arch'), 'shown with archived=all')
  t.same(await names('&archived=true'), ['arch'], 'only archived with archived=true')
  const again = await post({ name: 'arch', steps: [shell('c')] })
  t.equal(again.statusCode, 409, 'no new version once archived')
  t.match(again.headers['content-type'], problemJson)
  t.match(again.json().detail, /archived/)
  t.equal((await node.request({ method: 'DELETE', url: '/api/v1.0/orchestrations/arch' })).statusCode, 200, 'archiving again is idempotent')
  t.equal((await node.request({ method: 'DELETE', url: '/api/v1.0/orchestrations/never-was' })).statusCode, 404)
})

t.test('as_of rebuilds the state at a moment', async t => {
  const before = new Date().toISOString()
  await sleep(15)
  t.equal((await post({ name: 'hist', description: 'one', steps: [shell('a')] })).statusCode, 201)
  await sleep(15)
  const between = new Date().toISOString()
  await sleep(15)
  t.equal((await post({ name: 'hist', description: 'two', steps: [shell('b')] })).statusCode, 201)
  await sleep(15)
  const afterTwo = new Date().toISOString()
  await sleep(15)
  t.equal((await node.request({ method: 'DELETE', url: '/api/v1.0/orchestrations/hist' })).statusCode, 200)

  const at = async (time: string, extra = '') => await get(`/api/v1.0/orchestrations/hist?as_of=${encodeURIComponent(time)}${extra}`)
  const old = await at(between)
  t.equal(old.statusCode, 200)
  t.match(old.json(), { name: 'hist', version: 1, description: 'one', archived: false, steps: [{ id: 'a' }] })
  t.match((await at(afterTwo)).json(), { version: 2, description: 'two', archived: false }, 'after v2, before archival')
  t.match((await at(new Date().toISOString())).json(), { version: 2, archived: true }, 'now: archived')
  t.equal((await at(between, '&version=2')).statusCode, 404, 'version 2 did not exist yet')
  t.match((await at(afterTwo, '&version=1')).json(), { version: 1, description: 'one' })
  const none = await at(before)
  t.equal(none.statusCode, 404, 'before creation → 404')
  t.match(none.headers['content-type'], problemJson)
  // an offset time means the same moment
  const offset = new Date(Date.parse(between) + 2 * 3600_000).toISOString().replace('Z', '+02:00')
  t.equal((await at(offset)).json().version, 1, 'time zone offsets are understood')
})

t.test('read-your-writes across API nodes', async t => {
  const b = await startTestNode({ DM_NAMESPACE: node.namespace, DM_JWT_SECRET: node.config.jwtSecret!, DM_ROLES: 'api' })
  t.teardown(b.stop)
  for (let i = 0; i < 5; i++) {
    const name = `ryw-${i}`
    t.equal((await post({ name, steps: [shell('a')] })).statusCode, 201)
    const read = await b.request({ method: 'GET', url: `/api/v1.0/orchestrations/${name}` })
    t.equal(read.statusCode, 200, `node B sees ${name} at once`)
    t.equal((await post({ name, steps: [shell('b')] })).statusCode, 201)
    t.equal((await b.request({ method: 'GET', url: `/api/v1.0/orchestrations/${name}` })).json().version, 2, 'and its next version')
    t.ok((await b.request({ method: 'GET', url: `/api/v1.0/orchestrations?name=${name}` })).json().items.length === 1, 'and in the list')
  }
  // the other way round: B has no projector, A does
  const written = await b.request({ method: 'POST', url: '/api/v1.0/orchestrations', body: { name: 'ryw-from-b', steps: [shell('a')] } })
  t.equal(written.statusCode, 201)
  t.equal((await get('/api/v1.0/orchestrations/ryw-from-b')).statusCode, 200, 'A sees what B wrote')
  t.equal((await b.request({ method: 'GET', url: '/api/v1.0/orchestrations/ryw-from-b' })).statusCode, 200, 'B sees its own write')
  t.equal((await b.request({ method: 'DELETE', url: '/api/v1.0/orchestrations/ryw-0' })).statusCode, 200)
  t.equal((await get('/api/v1.0/orchestrations/ryw-0')).json().archived, true, 'A sees B\'s archival')
})

t.test('concurrent creates of one name get distinct versions without gaps', async t => {
  const answers = await Promise.all(Array.from({ length: 10 }, async (_, i) =>
    await post({ name: 'race', description: `writer ${i}`, steps: [shell(`s${i}`)] })))
  const statuses = answers.map(a => a.statusCode)
  t.ok(statuses.every(s => s === 201 || s === 409), `only 201 or 409: ${statuses.join(',')}`)
  const created = answers.filter(a => a.statusCode === 201).map(a => a.json())
  t.ok(created.length >= 1, `${created.length} created`)
  for (const a of answers.filter(a => a.statusCode === 409)) t.match(a.headers['content-type'], problemJson)
  const versions: number[] = created.map(c => c.version).sort((x, y) => x - y)
  t.same(versions, Array.from({ length: created.length }, (_, i) => i + 1), 'versions 1..k, each 201 its own')
  const stored = (await get('/api/v1.0/orchestrations/race/versions')).json().items
  t.same(stored.map((v: any) => v.version), versions, 'exactly those versions exist')
  for (const c of created) {
    const v = stored.find((s: any) => s.version === c.version)
    t.equal(v.description, c.description, `version ${c.version} holds what its 201 said`)
  }
  t.equal(new Set(stored.map((v: any) => v.description)).size, stored.length, 'no definition stored twice')
})
