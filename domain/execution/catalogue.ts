// Catalogue of run and server events, for the data dictionary.
import type { EventDescription } from '../catalogue.ts'

const REF = ['execution_id', 'step_id', 'server', 'attempt', 'kind']

export const EXECUTION_EVENT_CATALOGUE: EventDescription[] = [
  {
    type: 'execution.launched',
    description: 'An orchestration was launched: definition snapshot, params and the servers of each step',
    fields: ['execution_id', 'orchestration_id', 'version', 'params', 'targets', 'steps', 'stop_on_error', 'undo_on_error', 'plan', 'parent', 'launched_at', 'launched_by']
  },
  { type: 'execution.step_dispatched', description: 'The engine sent an attempt (or an undo) of a step to a server', fields: ['execution_id', 'step_id', 'server', 'attempt', 'kind', 'not_before', 'dispatched_at'] },
  { type: 'execution.step_skipped', description: 'A step run will not run (a step it comes after failed, or the run stopped)', fields: ['execution_id', 'step_id', 'server', 'reason'] },
  { type: 'execution.step_cancelled', description: 'A step run that had not started was cancelled', fields: ['execution_id', 'step_id', 'server'] },
  { type: 'execution.step_lost', description: 'The agent running an attempt vanished; the attempt failed', fields: [...REF, 'reason', 'at'] },
  { type: 'execution.cancel_requested', description: 'Someone asked to cancel the run', fields: ['execution_id', 'requested_by', 'requested_at'] },
  { type: 'execution.completed', description: 'The run ended: succeeded, failed or cancelled, with the outcome of compensation', fields: ['execution_id', 'status', 'undo_status', 'completed_at'] },
  { type: 'step_run.started', description: 'An agent started an attempt', fields: [...REF, 'instance', 'started_at'] },
  { type: 'step_run.output', description: 'Output of an attempt (secrets replaced by ***)', fields: [...REF, 'stream', 'data'] },
  { type: 'step_run.finished', description: 'An attempt ended, with its exit code and output tails', fields: [...REF, 'status', 'rc', 'error', 'stdout_tail', 'stderr_tail', 'started_at', 'finished_at', 'duration_ms'] },
  { type: 'server.started', description: 'An agent started and registered its server and groups', fields: ['name', 'groups', 'instance', 'hostname', 'started_at'] }
]
