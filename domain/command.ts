// Whatever is impure about a command (the clock, who asked) is decided by the caller and travels
// with it, so deciders stay deterministic and replayable.

export interface CommandMeta {
  /** ISO 8601 timestamp taken by the command handler */
  now: string
  /** who issued the command: an API key id, `system`, a webhook name… */
  actor: string
}
