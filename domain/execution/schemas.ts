// JSON Schemas of launch requests and of executions as the API shows them (data dictionary source).
import { ORCHESTRATION_NAME_PATTERN } from '../orchestration/schemas.ts'

export const launchSchema = {
  type: 'object',
  description: 'A request to run an orchestration on servers',
  properties: {
    orchestration_id: {
      type: 'string', pattern: ORCHESTRATION_NAME_PATTERN, maxLength: 100,
      description: 'Name of the orchestration to run', relationship: { resource: 'orchestrations', field: 'name' }
    },
    version: { type: 'integer', minimum: 1, description: 'Version to run (default: latest)' },
    targets: {
      type: 'array', maxItems: 1000, uniqueItems: true,
      items: { type: 'string', minLength: 1, maxLength: 200, relationship: { resource: 'servers', field: 'name' } },
      description: 'Server names or groups (all = every registered server); steps without their own target run there'
    },
    params: { type: 'object', description: 'Values of the declared params' },
    execution_id: { type: 'string', readOnly: true, description: 'Id of the execution' },
    status: { type: 'string', enum: ['pending', 'running', 'succeeded', 'failed', 'cancelled'], readOnly: true, description: 'Where the run is' },
    progress: { type: 'integer', minimum: 0, maximum: 100, readOnly: true, description: 'Share of step runs finished' },
    undo_status: { type: 'string', enum: ['running', 'succeeded', 'failed'], readOnly: true, description: 'Outcome of compensation, when it ran' },
    launched_at: { type: 'string', format: 'date-time', readOnly: true, description: 'When it was launched' },
    launched_by: { type: 'string', readOnly: true, description: 'Who launched it' },
    finished_at: { type: 'string', format: 'date-time', readOnly: true, description: 'When it ended' }
  },
  required: ['orchestration_id'],
  additionalProperties: false
}

export const EXECUTION_READ_ONLY = ['execution_id', 'status', 'progress', 'undo_status', 'launched_at', 'launched_by', 'finished_at'] as const
