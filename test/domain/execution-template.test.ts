// Placeholders in actions and secrets in output (domain/execution/template.ts).
import t from 'tap'
import { render, vaultRefs, redact } from '../../domain/execution/template.ts'

const ctx = {
  params: { branch: 'main', replicas: 3, dry_run: false, hosts: ['a', 'b'], labels: { tier: 'web' }, nothing: null, 'app.name': 'shop' },
  vault: { db_password: 's3cr3t', 'api-token': 'tok' }
}

t.test('render fills params and vault placeholders in every string of an action', t => {
  const action = {
    type: 'shell',
    command: 'git checkout {{params.branch}} && deploy --password={{vault.db_password}}',
    env: { TOKEN: '{{ vault.api-token }}', APP: '{{params.app.name}}' },
    args: ['{{params.branch}}', 'x{{params.branch}}y{{params.branch}}'],
    timeout_s: 60,
    verbose: true,
    cwd: null
  }
  t.same(render(action, ctx), {
    type: 'shell',
    command: 'git checkout main && deploy --password=s3cr3t',
    env: { TOKEN: 'tok', APP: 'shop' },
    args: ['main', 'xmainymain'],
    timeout_s: 60,
    verbose: true,
    cwd: null
  })
  t.equal(action.command, 'git checkout {{params.branch}} && deploy --password={{vault.db_password}}', 'the input is left as it is')
  t.equal(render('no placeholders {{here}} or {{ other.x }}', ctx), 'no placeholders {{here}} or {{ other.x }}')
  t.end()
})

t.test('render JSON-encodes params that are not strings', t => {
  t.equal(render('n={{params.replicas}} d={{params.dry_run}} h={{params.hosts}} l={{params.labels}} z={{params.nothing}}', ctx),
    'n=3 d=false h=["a","b"] l={"tier":"web"} z=null')
  t.end()
})

t.test('render inserts values verbatim, never as further placeholders or replacement patterns', t => {
  const params = { a: '{{vault.db_password}}', b: '$& $1 $$' }
  t.equal(render('{{params.a}} {{params.b}}', { params, vault: ctx.vault }), '{{vault.db_password}} $& $1 $$')
  t.end()
})

t.test('render throws on an unknown name, naming it', t => {
  t.throws(() => render({ command: 'echo {{params.nope}}' }, ctx), { message: '{{params.nope}} is not defined' })
  t.throws(() => render(['ok', '{{ vault.missing }}'], ctx), { message: '{{vault.missing}} is not defined' })
  t.throws(() => render('{{vault.branch}}', ctx), { message: '{{vault.branch}} is not defined' }, 'params are not secrets')
  for (const name of ['constructor', 'toString', '__proto__', 'hasOwnProperty']) {
    t.throws(() => render(`{{params.${name}}}`, ctx), { message: `{{params.${name}}} is not defined` }, `not even ${name}`)
    t.throws(() => render(`{{vault.${name}}}`, ctx), { message: `{{vault.${name}}} is not defined` }, `not even ${name}`)
  }
  t.end()
})

t.test('vaultRefs names the secrets an action refers to, once each, sorted', t => {
  t.same(vaultRefs({
    command: 'login {{vault.user}} {{ vault.password }} {{params.branch}}',
    env: { A: '{{vault.api-token}}', B: '{{vault.user}}' },
    headers: [['Authorization', 'Bearer {{vault.api-token}}']],
    n: 3
  }), ['api-token', 'password', 'user'])
  t.same(vaultRefs({ command: 'echo {{params.x}}' }), [])
  t.same(vaultRefs('{{vault.a.b}}'), ['a.b'])
  t.same(vaultRefs(null), [])
  t.end()
})

t.test('redact hides every occurrence of every secret', t => {
  t.equal(redact('user s3cr3t said s3cr3t twice; tok too', ['s3cr3t', 'tok']), 'user *** said *** twice; *** too')
  t.equal(redact('nothing to hide', ['s3cr3t']), 'nothing to hide')
  t.equal(redact('as is', []), 'as is')
  t.equal(redact('empty secrets are ignored', ['']), 'empty secrets are ignored')
  t.end()
})

t.test('redact replaces the longest secrets first, so overlapping ones leave nothing behind', t => {
  t.equal(redact('pass=abcdef', ['abc', 'abcdef']), 'pass=***')
  t.equal(redact('pass=abcdef', ['abcdef', 'abc']), 'pass=***')
  t.equal(redact('abcdef and abc', ['abc', 'cdef', 'abcdef']), '*** and ***')
  t.end()
})
