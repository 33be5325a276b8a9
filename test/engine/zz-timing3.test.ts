import t from 'tap'
import { pino } from 'pino'
import { loadConfig } from '../../src/config.ts'
import { startNode } from '../../src/node.ts'
import { startTestNode } from '../helpers/node.ts'
import { startAgent } from '../helpers/agents.ts'
import { DATABASE_URL, NATS_URL, freshNamespace } from '../helpers/services.ts'
let at = Date.now()
const lap = (what: string) => { console.error(what, Date.now() - at); at = Date.now() }
const ns = freshNamespace()
const n = await startTestNode({ DM_NAMESPACE: ns, DM_ROLES: 'api,projector,engine,agent', DM_AGENT_NAME: 'x', DM_HEARTBEAT_MS: '200', DM_AGENT_TIMEOUT_MS: '1500' })
lap('node')
const a = await startAgent(n.namespace, 'w1', ['p'])
lap('agent')
const w = setTimeout(() => { console.error('HANG'); process.exit(3) }, 15000); w.unref()
await a.stop(); await n.teardown()
lap('teardown')
t.pass()
