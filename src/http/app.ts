import Fastify, { type FastifyInstance, type FastifyServerOptions } from 'fastify'
import { readFileSync } from 'node:fs'
import type { AppDeps } from './context.ts'
import { createAjv, inputProblem } from './validation.ts'
import { notFoundHandler, problem, sendProblem, toProblem } from './problem.ts'
import { authenticate } from '../auth/authenticate.ts'
import { healthRoutes } from './routes/health.ts'
import { tokenRoutes, apiKeyRoutes } from './routes/api-keys.ts'
import { orchestrationRoutes } from './routes/orchestrations.ts'
import { auditRoutes } from './routes/audit.ts'
import { dictionaryRoutes } from './routes/dictionary.ts'
import { executionRoutes } from './routes/executions.ts'
import { serverRoutes } from './routes/servers.ts'
import { vaultRoutes } from './routes/vault.ts'

export const BODY_LIMIT = 1024 * 1024

/** The HTTP API as a fastify instance, not listening yet (tests use `inject`). */
export async function buildApp (deps: AppDeps): Promise<FastifyInstance> {
  const opts: FastifyServerOptions & { https?: any } = {
    ...(deps.logger != null ? { loggerInstance: deps.logger } : { logger: false }),
    bodyLimit: BODY_LIMIT,
    requestIdHeader: 'x-request-id',
    // path params a little over the schemas' maxLength get a 400 naming the field; absurd ones a 414
    routerOptions: { maxParamLength: 500 },
    // a URL that cannot be decoded (`/%E0%A4%A`) is answered before routing: as a problem too
    frameworkErrors: (err, _req, reply) => sendProblem(reply as any, toProblem(err as any))
  }
  if (deps.config.tlsCert != null && deps.config.tlsKey != null) {
    opts.https = { cert: readFileSync(deps.config.tlsCert), key: readFileSync(deps.config.tlsKey) }
  }
  const app = Fastify(opts) as unknown as FastifyInstance
  const bodies = createAjv()
  const text = createAjv({ forQueryString: true })
  app.setValidatorCompiler(({ schema, httpPart }) => (httpPart === 'body' ? bodies : text).compile(schema))

  // Bodies are JSON: a text/plain body is a wrong content type (415), not a string to validate.
  app.removeContentTypeParser('text/plain')
  // `curl -d '{...}'` sends JSON labelled as a form: accept it as the JSON it is.
  app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string' }, (req, body, done) => {
    try {
      done(null, JSON.parse(body as string))
    } catch {
      done(problem(415, 'send the body as JSON with Content-Type: application/json'), undefined)
    }
  })

  app.setErrorHandler((err, req, reply) => {
    const p = toProblem(err as any)
    if (p.status >= 500 && p.status !== 503) req.log.error({ err }, 'request failed')
    return sendProblem(reply, p)
  })
  app.setNotFoundHandler(notFoundHandler)
  // before any schema: too-deep input and NUL characters are refused whatever the route
  app.addHook('preValidation', async (req) => {
    const found = inputProblem(req.params, '/params') ?? inputProblem(req.query, '/query') ?? inputProblem(req.body)
    if (found != null) throw problem(400, `the request is not valid: ${found.path || '/'} ${found.message}`, { errors: [found] })
  })
  app.addHook('onRequest', authenticate(deps))

  await app.register(healthRoutes(deps))
  await app.register(tokenRoutes(deps), { prefix: '/api/v1.0' })
  await app.register(apiKeyRoutes(deps), { prefix: '/api/v1.0/api-keys' })
  await app.register(orchestrationRoutes(deps), { prefix: '/api/v1.0/orchestrations' })
  await app.register(auditRoutes(deps), { prefix: '/api/v1.0/audit' })
  await app.register(executionRoutes(deps), { prefix: '/api/v1.0' })
  await app.register(serverRoutes(deps), { prefix: '/api/v1.0/servers' })
  if (deps.vault != null) await app.register(vaultRoutes({ ...deps, vault: deps.vault }), { prefix: '/api/v1.0/vault' })
  for (const prefix of ['/api/v2', '/api/v2.0']) await app.register(dictionaryRoutes(deps), { prefix: `${prefix}/data-dictionary` })
  return app
}
