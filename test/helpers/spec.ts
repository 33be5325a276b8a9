// Given/when/then specifications for deciders (after Emmett's DeciderSpecification):
//   spec(decider, t).given(events).when(command).then(expectedEvents)
//   spec(decider, t).given(events).when(command).thenThrows('conflict', /different/)
// `t` is the tap test the assertions belong to. The builder has a `then` method, so never
// `await` it or return it from an async function before calling `then`/`thenThrows`.
import type { Test } from 'tap'
import { DomainError, fold, type Decider, type DomainErrorKind, type DomainEvent } from '../../domain/decider.ts'

export function spec<S, C, E extends DomainEvent> (decider: Decider<S, C, E>, t: Test) {
  return {
    given (events: E[]) {
      return {
        when (command: C) {
          const run = () => decider.decide(fold(decider, events), command)
          return {
            /** The command yields exactly these events; returns them for further checks. */
            then (expected: E[]): E[] {
              const found = run()
              t.same(found, expected, 'events')
              // events are stored as JSON: they must survive the round trip unchanged
              t.same(JSON.parse(JSON.stringify(found)), found, 'events are JSON-serialisable')
              return found
            },
            /** The command is refused with a DomainError of this kind (and message). */
            thenThrows (kind: DomainErrorKind, message?: RegExp): DomainError | undefined {
              try {
                const events = run()
                t.fail(`expected a ${kind} DomainError, got ${JSON.stringify(events)}`)
                return undefined
              } catch (err) {
                t.type(err, DomainError)
                const e = err as DomainError
                t.equal(e.kind, kind, 'error kind')
                if (message !== undefined) t.match(e.message, message, 'error message')
                return e
              }
            }
          }
        }
      }
    }
  }
}
