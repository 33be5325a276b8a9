import { appendFileSync } from 'node:fs'
const log = (m: string) => appendFileSync('/tmp/sig.log', `${Date.now() % 100000} ${process.pid} ${m}\n`)
log('start')
process.on('SIGINT', s => { log('got ' + s); setTimeout(() => { log('cleanup done'); process.exit(130) }, 3000) })
process.on('exit', c => log('exit ' + c))
setInterval(() => {}, 1000)
