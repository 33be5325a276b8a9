/** One entry of the event catalogue the data dictionary publishes. */
export interface EventDescription {
  type: string
  description: string
  /** field names of the event's `data` */
  fields: string[]
}
