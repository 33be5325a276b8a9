import { connect, type NatsConnection } from '@nats-io/transport-node'

/** Connects and keeps reconnecting forever: a NATS outage degrades the node (503), it never kills it. */
export async function connectNats (servers: string[], name: string): Promise<NatsConnection> {
  return await connect({
    servers,
    name,
    maxReconnectAttempts: -1,
    reconnectTimeWait: 250,
    waitOnFirstConnect: true,
    timeout: 5_000,
    // no stack captured ahead of every request (each publish is one): a fifth of the CPU of an
    // append-heavy run went into building Error objects that were almost never thrown
    noAsyncTraces: true
  })
}
