// What an event looks like once it is in the log. Defined here (pure types) so that projections,
// the engine and the event store share one shape without importing each other.

export interface EventEnvelope<D = unknown> {
  /** unique id of this event */
  id: string
  type: string
  /** version of this event type's data shape; old ones are upcast on read */
  schema_version: number
  aggregate_type: string
  aggregate_id: string
  /** the aggregate's version after this event, 1-based */
  version: number
  timestamp: string
  actor: string
  correlation_id: string
  causation_id: string | null
  /** the command that produced it; retries of the same command append nothing twice */
  command_id: string
  data: D
}

/** An event as read back from the log, with its position in the whole log. */
export interface RecordedEvent<D = unknown> extends EventEnvelope<D> {
  seq: number
}
