// JSON Schemas of vault requests (CONTRACT §7); also the data dictionary's source.

/** Secret names: usable as `{{vault.<name>}}` in step templates. */
export const VAULT_NAME_PATTERN = '^[A-Za-z_][A-Za-z0-9_.-]*$'
export const VAULT_NAME_MAX_LENGTH = 200
/** `global`, or `orchestration:<name>` to limit the secret to one orchestration's runs. */
export const VAULT_SCOPE_PATTERN = '^(global|orchestration:[a-z0-9][a-z0-9._-]*)$'
export const VAULT_DEFAULT_SCOPE = 'global'
export const VAULT_VALUE_MAX_LENGTH = 65536

export const vaultSecretSchema = {
  type: 'object',
  description: 'A named secret, encrypted at rest; its value is only ever returned by GET /api/v1.0/vault/:name',
  properties: {
    name: {
      type: 'string',
      minLength: 1,
      maxLength: VAULT_NAME_MAX_LENGTH,
      pattern: VAULT_NAME_PATTERN,
      description: 'Unique name of the secret, referenced as {{vault.<name>}} in steps; setting an existing name rotates it'
    },
    value: {
      type: 'string',
      minLength: 1,
      maxLength: VAULT_VALUE_MAX_LENGTH,
      writeOnly: true,
      description: 'The secret value; encrypted before it is stored, never listed, logged or recorded in an event'
    },
    scope: {
      type: 'string',
      maxLength: 200,
      pattern: VAULT_SCOPE_PATTERN,
      default: VAULT_DEFAULT_SCOPE,
      description: 'Where the secret may be used: global, or orchestration:<name> for the runs of one orchestration only'
    },
    description: { type: 'string', maxLength: 2000, description: 'What the secret is for; free text for people' },
    version: { type: 'integer', minimum: 1, readOnly: true, description: 'Version of the value, 1 at creation and one more at each rotation' },
    created_at: { type: 'string', format: 'date-time', readOnly: true, description: 'When the secret was created' },
    updated_at: { type: 'string', format: 'date-time', readOnly: true, description: 'When the value was last set (rotated)' },
    created_by: { type: 'string', readOnly: true, description: 'API key id of whoever created the secret' }
  },
  required: ['name', 'value'],
  additionalProperties: false
}

/** Properties of `vaultSecretSchema` the server sets; ignored in request bodies. */
export const VAULT_SECRET_READ_ONLY = ['version', 'created_at', 'updated_at', 'created_by'] as const
