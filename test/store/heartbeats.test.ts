import t from 'tap'
import { Heartbeats } from '../../src/heartbeats.ts'
import { freshNamespace, openServices } from '../helpers/services.ts'

const services = await openServices()
t.teardown(services.teardown)
const { nc, namespace } = services

const open = async (ns = namespace): Promise<Heartbeats> => await Heartbeats.open(nc, ns, { intervalMs: 20, timeoutMs: 1_000 })

t.test('watching an empty bucket is ready at once', async t => {
  const empty = freshNamespace()
  t.teardown(async () => { await services.store.jsm.streams.delete(`KV_${empty}_heartbeats`).catch(() => {}) })
  const hb = await open(empty)
  await hb.watch()
  t.equal(hb.last('nobody'), undefined)
  t.notOk(hb.isAlive('nobody'))
})

t.test('watches opened while agents beat are ready and know every agent', async t => {
  // a watch's own "initial values done" count is off by one on NATS 2.9 when it is created while
  // entries are being written; watch() must not wait for it (that hung node starts)
  const writer = await open()
  const agents = ['web-1', 'web-2', 'db.1']
  let beating = true
  const beats = agents.map(async (name, i) => {
    while (beating) { await writer.beat(name, `instance-${i}`); await new Promise(resolve => setTimeout(resolve, 10)) }
  })
  await new Promise(resolve => setTimeout(resolve, 50))
  try {
    for (let i = 0; i < 25; i++) {
      const reader = await open()
      let timer: NodeJS.Timeout | undefined
      const ready = await Promise.race([
        reader.watch().then(() => true),
        new Promise<boolean>(resolve => { timer = setTimeout(() => resolve(false), 3_000) })
      ])
      clearTimeout(timer)
      if (!ready) { t.fail(`watch ${i} was not ready within 3 s`); break }
      for (const [k, name] of agents.entries()) {
        t.equal(reader.last(name)?.instance, `instance-${k}`, `watch ${i} knows ${name}`)
        t.ok(reader.isAlive(name, `instance-${k}`))
      }
      t.notOk(reader.isAlive('web-1', 'another-instance'), 'a beat of another instance does not count')
    }
  } finally {
    beating = false
    await Promise.all(beats)
  }
})

t.test('an agent that stops beating is no longer alive once the timeout passes', async t => {
  const hb = await open()
  await hb.beat('quiet-1', 'i1')
  await hb.watch()
  t.ok(hb.isAlive('quiet-1', 'i1'))
  t.notOk(hb.isAlive('quiet-1', 'i1', Date.now() + 1_500))
})
