// Read-only resources: what the API answers, stated for the data dictionary.

export const stepRunSchema = {
  type: 'object',
  description: 'One step on one server within an execution',
  properties: {
    step_id: { type: 'string', readOnly: true, description: 'The step id, as in the orchestration version run' },
    server: { type: 'string', readOnly: true, description: 'The server it runs on', relationship: { resource: 'servers', field: 'name' } },
    status: { type: 'string', enum: ['pending', 'running', 'succeeded', 'failed', 'skipped', 'cancelled', 'undone'], readOnly: true, description: 'Where the step run is' },
    attempt: { type: 'integer', minimum: 0, readOnly: true, description: 'Latest attempt (1 = first)' },
    rc: { type: 'integer', readOnly: true, description: 'Exit code (HTTP status for http actions)' },
    error: { type: 'string', readOnly: true, description: 'Why it failed' },
    stdout: { type: 'string', readOnly: true, description: 'Last 4 KiB of stdout' },
    stderr: { type: 'string', readOnly: true, description: 'Last 4 KiB of stderr' },
    started_at: { type: 'string', format: 'date-time', readOnly: true, description: 'Start of the latest attempt' },
    finished_at: { type: 'string', format: 'date-time', readOnly: true, description: 'End of the latest attempt' },
    duration_ms: { type: 'integer', minimum: 0, readOnly: true, description: 'Duration of the latest attempt' },
    undo_status: { type: 'string', enum: ['running', 'succeeded', 'failed'], readOnly: true, description: 'Outcome of its undo, when it ran' }
  }
}

export const serverSchema = {
  type: 'object',
  description: 'A server where an agent runs',
  properties: {
    name: { type: 'string', readOnly: true, description: 'Server name (DM_AGENT_NAME)' },
    groups: { type: 'array', items: { type: 'string' }, readOnly: true, description: 'Groups it answers to as a target' },
    status: { type: 'string', enum: ['online', 'offline'], readOnly: true, description: 'Online while its heartbeats arrive' },
    last_seen: { type: 'string', format: 'date-time', readOnly: true, description: 'Last heartbeat' },
    hostname: { type: 'string', readOnly: true, description: 'Host name of the machine' },
    registered_at: { type: 'string', format: 'date-time', readOnly: true, description: 'First registration' },
    started_at: { type: 'string', format: 'date-time', readOnly: true, description: 'Start of its current agent process' }
  }
}
