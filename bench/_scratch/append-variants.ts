import { randomUUID } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { execSync } from 'node:child_process'
const natsPid = execSync('pgrep -x nats-server').toString().trim().split('\n')[0]
const natsCpu = () => { const f = readFileSync(`/proc/${natsPid}/stat`, 'utf8').split(') ')[1].split(' '); return (Number(f[11]) + Number(f[12])) / 100 }
const only = (process.env.ONLY ?? '').split(',').filter(Boolean)
import { connect } from '@nats-io/transport-node'
import { jetstream, jetstreamManager, StorageType } from '@nats-io/jetstream'
import { EventStore } from '/work/main/src/event-store.ts'
import { workerPool } from '/work/main/bench/pool.ts'
import { appendMeta, orchestrationRef, versionCreated, typicalEnvelopeBytes } from '/work/main/bench/payload.ts'

const N = Number(process.argv[2] ?? 20000), C = Number(process.argv[3] ?? 256)
const nc = await connect({ servers: '127.0.0.1:4222' })
const jsm = await jetstreamManager(nc); const js = jetstream(nc)
const ns = 'bx_' + randomUUID().slice(0, 8)
const payload = new Uint8Array(typicalEnvelopeBytes().envelope).fill(97)
const streams: string[] = []
async function mk (name: string, dup?: number) {
  await jsm.streams.add({ name, subjects: [`${name}.>`], storage: StorageType.File, num_replicas: 1, ...(dup ? { duplicate_window: dup } : {}) }); streams.push(name); return name
}
let round = 0
const variants: Record<string, () => Promise<(i: number) => Promise<void>>> = {
  raw: async () => { const s = await mk(`${ns}_raw${round}`); return async i => { await js.publish(`${s}.o.p${i}`, payload) } },
  msgID: async () => { const s = await mk(`${ns}_mid${round}`, 600e9); return async i => { await js.publish(`${s}.o.p${i}`, payload, { msgID: randomUUID() + ':0' }) } },
  expect0: async () => { const s = await mk(`${ns}_exp${round}`); return async i => { await js.publish(`${s}.o.p${i}`, payload, { expect: { lastSubjectSequence: 0 } }) } },
  both: async () => { const s = await mk(`${ns}_both${round}`, 600e9); return async i => { await js.publish(`${s}.o.p${i}`, payload, { msgID: randomUUID() + ':0', expect: { lastSubjectSequence: 0 } }) } },
  store: async () => { const st = await EventStore.open(nc, `${ns}_st${round}`); streams.push(st.stream); return async i => { const ref = orchestrationRef(i); await st.append(ref, { version: 0, lastSeq: 0 }, [versionCreated(ref)], appendMeta(i)) } },
}
const res: Record<string, number[]> = {}
try {
  for (round = 0; round < Number(process.env.ROUNDS ?? 3); round++) {
    for (const [name, make] of Object.entries(variants)) {
      if (only.length > 0 && !only.includes(name)) continue
      const fn = await make()
      await workerPool(1000, C, async i => fn(N + i))
      const n0 = natsCpu(); const cpu0 = process.cpuUsage(); const t0 = performance.now()
      await workerPool(N, C, fn)
      const s = (performance.now() - t0) / 1000; const cpu = process.cpuUsage(cpu0)
      ;(res[name] ??= []).push(N / s)
      console.log(name, round, Math.round(N / s), 'msg/s', 'node cpu', ((cpu.user + cpu.system) / 1e6 / s * 100).toFixed(0) + '%', 'nats cpu', ((natsCpu() - n0) / s * 100).toFixed(0) + '%', 'load', (await import('node:os')).loadavg()[0].toFixed(1))
    }
  }
} finally {
  for (const s of streams) await jsm.streams.delete(s).catch(() => {})
  await nc.close()
}
for (const [k, v] of Object.entries(res)) console.log(k, v.map(Math.round).join(' '), 'median', Math.round(v.sort((a, b) => a - b)[Math.floor(v.length / 2)]))
