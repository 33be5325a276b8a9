// Servers are the agents' hosts. An agent announces itself at every start; liveness (heartbeats)
// is not in the log, it lives in a KV bucket with a TTL.

import type { DomainEvent } from '../decider.ts'

export type ServerEvent = DomainEvent<'server.started', {
  name: string
  groups: string[]
  /** this agent process; a new one means whatever the old one ran is gone */
  instance: string
  hostname: string
  started_at: string
}>

export interface KnownServerState { name: string, groups: string[], instance: string }
