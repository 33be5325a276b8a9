import t from 'tap'
import { SCOPES, SCOPE_PATTERN, globToRegExp, grants, nameFilter } from '../../domain/api-key/scopes.ts'

t.test('SCOPES lists the contract scopes', t => {
  t.same([...SCOPES], [
    'orchestrations:read', 'orchestrations:write', 'executions:read', 'executions:launch',
    'executions:cancel', 'vault:read', 'vault:write', 'webhooks:manage', 'api-keys:manage',
    'audit:read', 'servers:read', 'admin'
  ])
  t.end()
})

t.test('SCOPE_PATTERN', t => {
  const re = new RegExp(SCOPE_PATTERN, 'u') // ajv compiles patterns with the u flag
  for (const ok of [...SCOPES, 'executions:launch:deploy-*', 'orchestrations:read:app-?.v1', 'vault:read:*']) {
    t.ok(re.test(ok), ok)
  }
  for (const bad of ['', 'admin:all', 'orchestrations', 'orchestrations:delete', 'foo:read',
    'executions:launch:', 'executions:launch:a b', 'executions:launch:a:b', ' admin', 'ADMIN']) {
    t.notOk(re.test(bad), JSON.stringify(bad))
  }
  t.end()
})

t.test('globToRegExp', t => {
  t.ok(globToRegExp('deploy-*').test('deploy-app'))
  t.ok(globToRegExp('deploy-*').test('deploy-'))
  t.notOk(globToRegExp('deploy-*').test('redeploy-app'), 'anchored at the start')
  t.notOk(globToRegExp('*-app').test('deploy-app2'), 'anchored at the end')
  t.ok(globToRegExp('app-?').test('app-1'))
  t.notOk(globToRegExp('app-?').test('app-12'))
  t.ok(globToRegExp('a.b').test('a.b'))
  t.notOk(globToRegExp('a.b').test('axb'), 'dot is literal')
  t.ok(globToRegExp('a+(b)[c]$^|{d}\\').test('a+(b)[c]$^|{d}\\'), 'regex characters are literal')
  t.ok(globToRegExp('*').test(''))
  t.end()
})

t.test('grants', t => {
  t.ok(grants(['admin'], 'vault:write'), 'admin grants all')
  t.ok(grants(['admin'], 'executions:launch', 'anything'))
  t.ok(grants(['executions:launch'], 'executions:launch'))
  t.ok(grants(['executions:launch'], 'executions:launch', 'deploy-app'), 'unrestricted scope, any name')
  t.notOk(grants(['executions:read'], 'executions:launch'))
  t.notOk(grants([], 'executions:read'))
  t.notOk(grants(['orchestrations:write'], 'orchestrations:read'), 'write does not imply read')
  t.ok(grants(['executions:launch:deploy-*'], 'executions:launch', 'deploy-app'))
  t.notOk(grants(['executions:launch:deploy-*'], 'executions:launch', 'backup-db'))
  t.notOk(grants(['executions:launch:deploy-*'], 'executions:launch'), 'a narrowed scope needs a name')
  t.notOk(grants(['executions:read:deploy-*'], 'executions:launch', 'deploy-app'))
  t.ok(grants(['executions:launch:backup-*', 'executions:launch:deploy-*'], 'executions:launch', 'deploy-app'))
  t.end()
})

t.test('nameFilter', t => {
  t.equal(nameFilter(['vault:read'], 'executions:read'), null, 'not granted at all')
  t.equal(nameFilter([], 'executions:read'), null)
  const all = nameFilter(['executions:read'], 'executions:read')
  t.ok(all?.('whatever'))
  t.ok(nameFilter(['admin'], 'executions:read')?.('x'))
  t.ok(nameFilter(['executions:read:a-*', 'executions:read'], 'executions:read')?.('b'), 'unrestricted wins')
  const some = nameFilter(['executions:read:deploy-*', 'executions:read:db-?', 'vault:read'], 'executions:read')
  t.ok(some?.('deploy-app'))
  t.ok(some?.('db-1'))
  t.notOk(some?.('db-10'))
  t.notOk(some?.('backup'))
  t.end()
})
