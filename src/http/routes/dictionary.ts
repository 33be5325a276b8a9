import type { FastifyInstance } from 'fastify'
import { dictionaryIndex, RESOURCES, resourceDictionary } from '../dictionary.ts'
import type { AppDeps } from '../context.ts'
import { problem } from '../problem.ts'

/** `/api/v2/data-dictionary`: what exists and the rules of every field, from the validating schemas. */
export function dictionaryRoutes (_deps: AppDeps) {
  return async function (app: FastifyInstance): Promise<void> {
    app.get('/', async (req) => dictionaryIndex(req.url.split('?')[0].replace(/\/$/, '')))
    app.get('/:resource', {
      schema: { params: { type: 'object', properties: { resource: { type: 'string', maxLength: 100 } }, required: ['resource'] } }
    }, async (req) => {
      const { resource } = req.params as { resource: string }
      const fields = resourceDictionary(resource)
      if (fields == null) throw problem(404, `no resource ${resource}; known: ${[...RESOURCES.map(r => r.name), 'events'].join(', ')}`)
      return fields
    })
  }
}
