import { connect } from '@nats-io/transport-node'
import { jetstreamManager } from '@nats-io/jetstream'
import pg from 'pg'
const nc = await connect({ servers: '127.0.0.1:4222' }); const jsm = await jetstreamManager(nc)
for await (const s of jsm.streams.names()) if (/^(bench|bx)_/.test(s)) console.log('stream', s)
await nc.close()
const c = new pg.Client({ host: '127.0.0.1', user: 'root', database: 'dimensigon_bench' }); await c.connect()
console.log((await c.query("select nspname from pg_namespace where nspname like 'bench%' or nspname like 'bx%'")).rows)
await c.end()
