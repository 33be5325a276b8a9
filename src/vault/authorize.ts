import type { ExecutionLaunched } from '../../domain/execution/events.ts'
import { vaultRefs } from '../../domain/execution/template.ts'
import type { EventStore } from '../event-store.ts'
import type { ResolveRequest } from './resolver.ts'

/**
 * Secrets go only to a run that needs them: the execution must exist, not have ended, and its
 * steps (or undos) must name every requested secret. Read from the log, so it is never stale.
 */
export function authorizeForExecution (store: EventStore) {
  return async (req: ResolveRequest): Promise<string | null> => {
    const { events } = await store.load({ type: 'execution', id: req.execution_id })
    const launched = events.find(e => e.type === 'execution.launched')?.data as ExecutionLaunched | undefined
    if (launched == null) return `execution ${req.execution_id} does not exist`
    if (events.some(e => e.type === 'execution.completed')) return `execution ${req.execution_id} has ended`
    const used = new Set(launched.steps.flatMap(s => [...vaultRefs(s.action), ...vaultRefs(s.undo ?? {})]))
    const unused = req.names.filter(n => !used.has(n))
    return unused.length > 0 ? `execution ${req.execution_id} does not use ${unused.join(', ')}` : null
  }
}
