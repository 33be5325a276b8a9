import { apiKeysProjection } from './api-keys.ts'
import { auditProjection } from './audit.ts'
import { orchestrationsProjection } from './orchestrations.ts'
import type { Projection } from './projection.ts'

export const PROJECTIONS: Projection[] = [orchestrationsProjection, apiKeysProjection, auditProjection]
export type { Projection, EventSource } from './projection.ts'
