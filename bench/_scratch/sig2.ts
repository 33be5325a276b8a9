import { appendFileSync } from 'node:fs'
const log = (m: string) => appendFileSync('/tmp/sig.log', `${Date.now() % 100000} ${process.pid} ${m}\n`)
log('start')
process.on('SIGINT', s => { log('got ' + s) })
process.on('exit', c => log('exit ' + c))
// busy: 40 ms synchronous chunks
setInterval(() => { const t = Date.now(); while (Date.now() - t < 40) {} }, 1)
