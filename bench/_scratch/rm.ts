import { connect } from '@nats-io/transport-node'
import { cleanupNamespace } from '/work/main/bench/cleanup.ts'
const nc = await connect({ servers: '127.0.0.1:4222' })
for (const ns of process.argv.slice(2)) console.log(await cleanupNamespace(ns, nc, 'postgres://127.0.0.1:5432/dimensigon_bench', 'none'))
await nc.close()
