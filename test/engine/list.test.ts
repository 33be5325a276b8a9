import t from 'tap'
import { startEngineCluster } from '../helpers/agents.ts'
import { sleep, waitFor } from '../helpers/wait.ts'

const c = await startEngineCluster()
t.teardown(c.teardown)

const sh = (command: string) => ({ type: 'shell', command })
const list = async (query: string): Promise<any> => {
  const res = await c.api('GET', `/api/v1.0/executions${query}`)
  if (res.statusCode !== 200) throw new Error(`${query}: ${res.statusCode} ${res.body}`)
  return res.json()
}
const ids = (page: any): string[] => page.items.map((i: any) => i.execution_id)

t.test('progress rises to 100 and never goes back', async t => {
  await c.define({
    name: 'progressive',
    steps: [
      { id: 'a', action: sh('echo a') },
      { id: 'b', after: ['a'], action: sh('echo b') },
      { id: 'c', after: ['b'], action: sh('sleep 0.6') },
      { id: 'd', after: ['c'], action: sh('sleep 0.6') }
    ]
  })
  const id = await c.launch({ orchestration_id: 'progressive', targets: ['local'] })
  const seen: number[] = []
  let d: any
  for (;;) {
    d = await c.get(id)
    seen.push(d.progress)
    if (['succeeded', 'failed', 'cancelled'].includes(d.status)) break
    await sleep(50)
  }
  t.equal(d.status, 'succeeded')
  t.equal(d.progress, 100)
  t.same([...seen].sort((x, y) => x - y), seen, `never decreases: ${[...new Set(seen)].join(' → ')}`)
  t.ok(seen.some(p => p > 0 && p < 100), 'intermediate values are seen')
  t.ok(seen.every(p => [0, 25, 50, 75, 100].includes(p)), 'share of four step runs')
})

t.test('list filters (status, orchestration_id, since) and cursor pagination', async t => {
  await c.define({ name: 'list-ok', steps: [{ id: 'x', action: sh('true') }] })
  await c.define({ name: 'list-bad', steps: [{ id: 'x', action: sh('false') }] })
  await c.define({ name: 'list-slow', steps: [{ id: 'x', action: sh('sleep 30') }] })
  const early = [await c.launch({ orchestration_id: 'list-ok', targets: ['local'] }), await c.launch({ orchestration_id: 'list-bad', targets: ['local'] })]
  await sleep(20)
  const since = new Date().toISOString()
  await sleep(20)
  const late = [
    await c.launch({ orchestration_id: 'list-ok', targets: ['local'] }),
    await c.launch({ orchestration_id: 'list-ok', targets: ['local'] }),
    await c.launch({ orchestration_id: 'list-bad', targets: ['local'] })
  ]
  for (const id of [...early, ...late]) await c.finished(id)
  const slow = await c.launch({ orchestration_id: 'list-slow', targets: ['local'] })
  await waitFor(async () => (await c.get(slow)).status === 'running', { what: 'the slow run to run' })
  t.teardown(async () => { await c.api('POST', `/api/v1.0/executions/${slow}/cancel`) })
  const mine = new Set([...early, ...late, slow])

  const all = await list('?limit=100')
  const ours = all.items.filter((i: any) => mine.has(i.execution_id))
  t.equal(ours.length, 6)
  t.same(ours.map((i: any) => i.execution_id), [slow, ...[...late].reverse(), ...[...early].reverse()], 'newest first')
  t.match(ours[1], { orchestration_id: 'list-bad', version: 1, status: 'failed', progress: 100, targets: ['local'], params: {}, parent_execution_id: null, launched_at: String, launched_by: String, finished_at: String })

  t.same(ids(await list('?orchestration_id=list-ok')).sort(), [early[0], late[0], late[1]].sort(), 'by orchestration')
  t.same(ids(await list('?status=failed')).sort(), [early[1], late[2]].sort(), 'by status failed')
  t.same(ids(await list('?status=running')), [slow], 'by status running')
  const succeeded = await list('?status=succeeded&orchestration_id=list-ok')
  t.equal(succeeded.items.length, 3, 'filters combine')
  t.ok(succeeded.items.every((i: any) => i.status === 'succeeded' && i.orchestration_id === 'list-ok'))
  t.same(ids(await list(`?since=${encodeURIComponent(since)}&orchestration_id=list-ok`)).sort(), [late[0], late[1]].sort(), 'since')
  t.same(ids(await list(`?since=${encodeURIComponent(since)}&status=failed`)), [late[2]], 'since and status')
  t.same((await list(`?since=${encodeURIComponent(new Date(Date.now() + 60_000).toISOString())}`)).items, [], 'since in the future')

  // pages of 2 through everything: no duplicates, no gaps, a null cursor at the end
  const pages: string[][] = []
  let cursor: string | null = null
  do {
    const page = await list(`?limit=2${cursor != null ? `&cursor=${encodeURIComponent(cursor)}` : ''}`)
    t.ok(page.items.length <= 2)
    pages.push(ids(page))
    cursor = page.next_cursor
    if (pages.length > 20) break
  } while (cursor != null)
  t.same(pages.flat(), ids(all), 'pages join up to the whole list')
  t.ok(pages.slice(0, -1).every(p => p.length === 2), 'full pages until the last')

  const first = await list('?orchestration_id=list-ok&limit=2')
  t.equal(first.items.length, 2)
  t.type(first.next_cursor, 'string')
  const second = await list(`?orchestration_id=list-ok&limit=2&cursor=${encodeURIComponent(first.next_cursor)}`)
  t.equal(second.items.length, 1)
  t.equal(second.next_cursor, null)
  t.same([...ids(first), ...ids(second)], [late[1], late[0], early[0]], 'filtered pages in order')

  for (const bad of ['?status=exploded', '?since=yesterday', '?limit=0', '?cursor=%%%not-a-cursor']) {
    const res = await c.api('GET', `/api/v1.0/executions${bad}`)
    t.equal(res.statusCode, 400, `${bad} → 400`)
    t.match(res.headers['content-type'], /^application\/problem\+json/)
  }
  t.equal((await c.api('GET', '/api/v1.0/executions/00000000-0000-4000-8000-000000000000')).statusCode, 404, 'unknown execution')
})
