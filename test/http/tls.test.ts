import t from 'tap'
import { execFile } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { request } from 'node:https'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { startTestNode } from '../helpers/node.ts'

const run = promisify(execFile)
const dir = await mkdtemp(join(tmpdir(), 'dm-tls-'))
t.teardown(async () => await rm(dir, { recursive: true, force: true }))
await run('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=localhost', '-days', '1',
  '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem')])

const node = await startTestNode({ DM_TLS_CERT: join(dir, 'cert.pem'), DM_TLS_KEY: join(dir, 'key.pem') }, { listen: true })
t.teardown(node.teardown)

/** an HTTPS request that accepts the self-signed certificate */
async function get (url: string, headers: Record<string, string> = {}): Promise<{ status: number, body: string, authorized: boolean, cn?: string }> {
  return await new Promise((resolve, reject) => {
    const req = request(url, { rejectUnauthorized: false, agent: false, headers }, res => {
      const socket = res.socket as any
      const cn: string | undefined = socket.getPeerCertificate?.()?.subject?.CN
      const authorized: boolean = socket.authorized
      let body = ''
      res.setEncoding('utf8')
      res.on('data', chunk => { body += chunk })
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, authorized, cn }))
    })
    req.on('error', reject)
    req.end()
  })
}

t.test('the API speaks HTTPS with the given certificate', async t => {
  const url = node.node.url!
  t.match(url, /^https:\/\/127\.0\.0\.1:\d+$/, 'the node reports an https URL')
  const health = await get(`${url}/healthcheck`)
  t.equal(health.status, 200)
  t.match(JSON.parse(health.body), { status: 'ok', nats: 'up', postgres: 'up' })
  t.equal(health.cn, 'localhost', 'served with our certificate')
  t.equal(health.authorized, false, 'which no CA vouches for')
  const authed = await get(`${url}/api/v1.0/orchestrations`, { authorization: `Bearer ${node.adminToken}` })
  t.equal(authed.status, 200, 'authenticated routes over TLS')
  t.equal((await get(`${url}/api/v1.0/orchestrations`)).status, 401)
  // plain HTTP on the TLS port is not served
  const port = new URL(url).port
  const plain = await fetch(`http://127.0.0.1:${port}/healthcheck`).then(r => r.status, () => 'refused')
  t.not(plain, 200, `plain HTTP is not served (${plain})`)
  // and a client that checks certificates refuses a self-signed one
  const strict = await fetch(`${url}/healthcheck`).then(() => 'accepted', (err: any) => String(err?.cause?.code ?? err))
  t.match(strict, /SELF_SIGNED|CERT|certificate/i, 'a verifying client refuses the self-signed certificate')
})
