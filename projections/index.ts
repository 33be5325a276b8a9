import { apiKeysProjection } from './api-keys.ts'
import { auditProjection } from './audit.ts'
import { orchestrationsProjection } from './orchestrations.ts'
import { executionsProjection } from './executions.ts'
import { serversProjection } from './servers.ts'
import { vaultProjection } from './vault.ts'
import type { Projection } from './projection.ts'

export const PROJECTIONS: Projection[] = [orchestrationsProjection, apiKeysProjection, auditProjection, executionsProjection, serversProjection, vaultProjection]
export type { Projection, EventSource } from './projection.ts'
