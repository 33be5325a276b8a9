import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify'
import { DomainError, type Problem } from '../../domain/decider.ts'
import { ConcurrencyError } from '../event-store.ts'
import { isPgUnavailable } from '../db.ts'

/** An error that already knows its HTTP answer (RFC 9457 problem details). */
export class HttpProblem extends Error {
  constructor (
    readonly status: number,
    readonly title: string,
    readonly detail: string,
    readonly extra: { errors?: Problem[], headers?: Record<string, string>, [k: string]: unknown } = {}
  ) {
    super(detail)
  }
}

const TITLES: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  409: 'Conflict',
  413: 'Payload Too Large',
  414: 'URI Too Long',
  415: 'Unsupported Media Type',
  422: 'Unprocessable Content',
  429: 'Too Many Requests',
  500: 'Internal Server Error',
  503: 'Service Unavailable'
}

export function problem (status: number, detail: string, extra: HttpProblem['extra'] = {}): HttpProblem {
  return new HttpProblem(status, TITLES[status] ?? 'Error', detail, extra)
}

export function sendProblem (reply: FastifyReply, p: HttpProblem): FastifyReply {
  const { errors, headers, ...rest } = p.extra
  if (headers != null) reply.headers(headers)
  return reply.code(p.status).type('application/problem+json').send({
    type: `https://dimensigon.dev/problems/${p.status}`,
    title: p.title,
    status: p.status,
    detail: p.detail,
    ...(errors != null ? { errors } : {}),
    ...rest
  })
}

const NATS_DOWN = /ClosedConnection|ConnectionError|TimeoutError|NoResponders|RequestError|DrainingConnection|JetStreamNotEnabled/

/** Is this error "NATS cannot be reached right now"? */
export function isNatsUnavailable (err: any): boolean {
  if (err == null) return false
  const name = String(err.name ?? err.constructor?.name ?? '')
  if (NATS_DOWN.test(name)) return true
  return /no responders|connection closed|disconnect|timeout/i.test(String(err.message ?? '')) && !/statement timeout/i.test(String(err.message))
}

/** A property name as a JSON Pointer reference token (RFC 6901: `~` → `~0`, `/` → `~1`). */
function pointerToken (name: unknown): string {
  return String(name).replace(/~/g, '~0').replace(/\//g, '~1')
}

function ajvErrorsToProblems (validation: any[], context?: string): Problem[] {
  const prefix = context === 'querystring' ? '/query' : context === 'params' ? '/params' : ''
  return validation.map(e => {
    let path: string = prefix + (e.instancePath ?? '')
    let message: string = e.message ?? 'is invalid'
    if (e.keyword === 'required') path += `/${pointerToken(e.params.missingProperty)}`
    if (e.keyword === 'required') message = 'is required'
    if (e.keyword === 'additionalProperties') { path += `/${pointerToken(e.params.additionalProperty)}`; message = 'is not a known field' }
    // a missing or unknown discriminator tag is about that field (`/steps/0/action/type`), not the object
    if (e.keyword === 'discriminator' && typeof e.params?.tag === 'string') path += `/${pointerToken(e.params.tag)}`
    if (e.keyword === 'enum') message += `: ${(e.params.allowedValues ?? []).join(', ')}`
    return { path, message }
  })
}

/** Maps anything thrown while handling a request to a problem; only a genuine bug becomes a 500. */
export function toProblem (err: FastifyError & Record<string, any>): HttpProblem {
  if (err instanceof HttpProblem) return err
  if (Array.isArray(err.validation)) {
    const errors = ajvErrorsToProblems(err.validation, err.validationContext)
    return problem(400, `the request is not valid: ${errors.map(e => `${e.path || '/'} ${e.message}`).join('; ')}`, { errors })
  }
  if (err instanceof DomainError) {
    const status = err.kind === 'invalid' ? 422 : err.kind === 'not_found' ? 404 : 409
    return problem(status, err.message, err.problems.length > 0 ? { errors: err.problems } : {})
  }
  if (err instanceof ConcurrencyError) return problem(409, err.message)
  switch (err.code) {
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return problem(415, 'send the body as JSON with Content-Type: application/json')
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return problem(413, 'the request body is larger than the limit of 1 MiB')
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return problem(400, 'the request body is empty: send a JSON document')
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return problem(400, `the request body is not valid JSON: ${err.message}`)
  }
  if (err instanceof SyntaxError || err.statusCode === 400) return problem(400, `the request is malformed: ${err.message}`)
  if (isPgUnavailable(err)) return problem(503, 'Postgres is unreachable; retry shortly', { headers: { 'retry-after': '2' } })
  if (isNatsUnavailable(err)) return problem(503, 'NATS JetStream is unreachable; retry shortly', { headers: { 'retry-after': '2' } })
  if (typeof err.statusCode === 'number' && err.statusCode >= 400 && err.statusCode < 500) return problem(err.statusCode, err.message)
  return problem(500, 'an unexpected error happened; it has been logged')
}

export function notFoundHandler (req: FastifyRequest, reply: FastifyReply): void {
  sendProblem(reply, problem(404, `no route ${req.method} ${req.url.split('?')[0]}; see GET /api/v2/data-dictionary for what exists`))
}
