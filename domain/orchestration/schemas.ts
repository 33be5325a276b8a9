// JSON Schemas of an orchestration definition (CONTRACT §4). They validate request bodies and,
// through their `description`s, are the data dictionary: one source of truth for both.

export const ORCHESTRATION_NAME_PATTERN = '^[a-z0-9][a-z0-9._-]*$'
export const STEP_ID_PATTERN = '^[A-Za-z0-9][A-Za-z0-9_.-]*$'
export const PARAM_NAME_PATTERN = '^[A-Za-z_][A-Za-z0-9_]*$'
/** Versions are stored as 32-bit integers by the read models: a larger one could never be projected. */
export const MAX_VERSION = 2147483647

const stringMap = (description: string) => ({
  type: 'object',
  description,
  additionalProperties: { type: 'string' }
})

export const shellActionSchema = {
  type: 'object',
  description: 'Runs a command in a shell on each target server',
  properties: {
    type: { const: 'shell', description: 'Action kind' },
    command: { type: 'string', minLength: 1, description: 'Command line; {{params.x}} and {{vault.x}} are filled in at run time' },
    env: stringMap('Extra environment variables'),
    cwd: { type: 'string', description: 'Working directory' },
    shell: { type: 'string', description: 'Shell executable (default /bin/sh)' }
  },
  required: ['type', 'command'],
  additionalProperties: false
}

export const httpActionSchema = {
  type: 'object',
  description: 'Sends an HTTP request from each target server',
  properties: {
    type: { const: 'http', description: 'Action kind' },
    method: {
      type: 'string',
      enum: ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD', 'OPTIONS'],
      default: 'GET',
      description: 'HTTP method'
    },
    url: { type: 'string', format: 'uri', description: 'Absolute URL to call; {{params.x}} and {{vault.x}} in it are filled in at run time' },
    headers: stringMap('Request headers'),
    body: {
      description: 'Request body: a string is sent as is, an object as JSON',
      // anyOf rather than a type array: ajv strict mode refuses union types
      anyOf: [{ type: 'string' }, { type: 'object' }]
    },
    expect_status: {
      type: 'array',
      description: 'Status codes that count as success (default: any 2xx)',
      items: { type: 'integer', minimum: 100, maximum: 599 }
    }
  },
  required: ['type', 'url'],
  additionalProperties: false
}

export const orchestrationActionSchema = {
  type: 'object',
  description: 'Runs another orchestration as a nested run',
  properties: {
    type: { const: 'orchestration', description: 'Action kind' },
    orchestration_id: {
      type: 'string',
      pattern: ORCHESTRATION_NAME_PATTERN,
      maxLength: 100,
      description: 'Name of the orchestration to run',
      relationship: { resource: 'orchestrations', field: 'name' }
    },
    version: { type: 'integer', minimum: 1, maximum: MAX_VERSION, description: 'Version to run (default: latest)' },
    params: { type: 'object', description: 'Params for the nested run' }
  },
  required: ['type', 'orchestration_id'],
  additionalProperties: false
}

export const actionSchema = {
  type: 'object',
  description: 'What a step does, chosen by `type`',
  discriminator: { propertyName: 'type' },
  // strict mode: each branch states `type` as a const and requires it (see the action schemas)
  oneOf: [shellActionSchema, httpActionSchema, orchestrationActionSchema]
}

export const paramSchema = {
  type: 'object',
  description: 'A declared launch parameter',
  properties: {
    type: {
      type: 'string',
      enum: ['string', 'number', 'integer', 'boolean', 'array', 'object'],
      description: 'JSON type of the value'
    },
    default: { description: 'Value used when the launch gives none' },
    description: { type: 'string', maxLength: 2000, description: 'What the parameter is for' },
    required: { type: 'boolean', description: 'Whether a launch must give a value' },
    enum: { type: 'array', minItems: 1, description: 'Allowed values' }
  },
  required: ['type'],
  additionalProperties: false
}

export const stepSchema = {
  type: 'object',
  description: 'One node of the step DAG',
  properties: {
    id: { type: 'string', pattern: STEP_ID_PATTERN, maxLength: 100, description: 'Step id, unique in the orchestration' },
    name: { type: 'string', maxLength: 200, description: 'Human-readable step name' },
    after: {
      type: 'array',
      uniqueItems: true,
      items: { type: 'string' },
      description: 'Ids of the steps that must succeed before this one starts'
    },
    target: {
      type: 'array',
      minItems: 1,
      items: { type: 'string', minLength: 1 },
      description: "Server names or groups to run on (default: the launch's targets)"
    },
    timeout_s: { type: 'integer', minimum: 1, maximum: 86400, description: 'Seconds before an attempt is stopped and failed' },
    retries: { type: 'integer', minimum: 0, maximum: 100, default: 0, description: 'Extra attempts after a failure' },
    retry_backoff_s: { type: 'number', minimum: 0, maximum: 3600, description: 'Seconds to wait between attempts' },
    continue_on_error: { type: 'boolean', description: 'A failure of this step does not fail the run' },
    expect: {
      type: 'object',
      description: 'What counts as success',
      properties: {
        rc: { type: 'integer', minimum: 0, maximum: 255, default: 0, description: 'Expected exit code' },
        stdout: { type: 'string', description: 'Regex stdout must match' },
        stderr: { type: 'string', description: 'Regex stderr must match' }
      },
      additionalProperties: false
    },
    action: actionSchema,
    undo: { ...actionSchema, description: 'Action run to compensate when the run fails' }
  },
  required: ['id', 'action'],
  additionalProperties: false
}

/** The orchestration resource: request body plus read-only fields the API adds in answers. */
export const orchestrationSchema = {
  type: 'object',
  description: 'A versioned orchestration: a DAG of steps run on servers',
  properties: {
    name: { type: 'string', pattern: ORCHESTRATION_NAME_PATTERN, maxLength: 100, description: 'Unique name; the orchestration id everywhere' },
    version: { type: 'integer', minimum: 1, maximum: MAX_VERSION, description: 'Version number; omitted, the next one is taken' },
    description: { type: 'string', maxLength: 2000, default: '', description: 'What the orchestration does' },
    params: {
      type: 'object',
      description: 'Declared launch parameters by name',
      default: {},
      propertyNames: { pattern: PARAM_NAME_PATTERN },
      additionalProperties: paramSchema
    },
    stop_on_error: { type: 'boolean', default: true, description: 'A failed step stops the run (no new steps start)' },
    undo_on_error: { type: 'boolean', default: false, description: 'A failed run runs the undo actions of its finished steps' },
    steps: { type: 'array', minItems: 1, maxItems: 1000, items: stepSchema, description: 'The steps, linked by `after`' },
    archived: { type: 'boolean', readOnly: true, description: 'Archived: no new launches or versions' },
    created_at: { type: 'string', format: 'date-time', readOnly: true, description: 'When this version was created' },
    updated_at: { type: 'string', format: 'date-time', readOnly: true, description: 'Last change of this version (creation or archival)' },
    created_by: { type: 'string', readOnly: true, description: 'Actor that created this version' }
  },
  required: ['name', 'steps'],
  additionalProperties: false
}

/** Properties of `orchestrationSchema` the server sets; ignored in request bodies. */
export const ORCHESTRATION_READ_ONLY = ['archived', 'created_at', 'updated_at', 'created_by'] as const
