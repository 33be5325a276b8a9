import t from 'tap'
import { startTestNode } from '../helpers/node.ts'
const t0 = Date.now()
const node = await startTestNode()
t.teardown(async () => { const t1 = Date.now(); await node.teardown(); console.error('teardown', Date.now() - t1); process.on('exit', () => console.error('exit', Date.now() - t0)) })
t.pass('x')
console.error('started', Date.now() - t0)
