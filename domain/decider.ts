// The shape every aggregate follows (after Emmett): pure decide/evolve over a discriminated state.
// Time, ids and the actor come in with the command's metadata; nothing here touches I/O.

export interface DomainEvent<T extends string = string, D = unknown> {
  type: T
  data: D
}

export interface Decider<S, C, E extends DomainEvent> {
  initialState: () => S
  decide: (state: S, command: C) => E[]
  evolve: (state: S, event: E) => S
}

export interface Problem {
  /** JSON Pointer into the request body */
  path: string
  message: string
}

export type DomainErrorKind = 'conflict' | 'invalid' | 'not_found' | 'gone'

/** A command the domain refuses. `kind` maps to HTTP: conflict 409, invalid 422, not_found 404, gone 409. */
export class DomainError extends Error {
  constructor (
    readonly kind: DomainErrorKind,
    message: string,
    readonly problems: Problem[] = []
  ) {
    super(message)
    this.name = 'DomainError'
  }
}

/** Folds events into a state; used by the command handler, `as_of` reads and specifications alike. */
export function fold<S, C, E extends DomainEvent> (decider: Decider<S, C, E>, events: E[], from?: S): S {
  return events.reduce(decider.evolve, from ?? decider.initialState())
}
