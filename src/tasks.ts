import type { NatsConnection } from '@nats-io/transport-node'
import { AckPolicy, DeliverPolicy, JetStreamApiError, RetentionPolicy, StorageType, jetstream, jetstreamManager, type JetStreamClient, type JetStreamManager } from '@nats-io/jetstream'
import type { Action } from '../domain/orchestration/decider.ts'
import type { RunKind } from '../domain/execution/events.ts'
import { encodeToken, safeName } from './event-store.ts'

/** What an agent is asked to run. Vault placeholders stay unfilled: values never travel here. */
export interface Task {
  execution_id: string
  orchestration_id: string
  step_id: string
  server: string
  attempt: number
  kind: RunKind
  action: Action
  params: Record<string, unknown>
  timeout_s: number | null
  expect: { rc?: number, stdout?: string, stderr?: string } | null
  not_before: string | null
}

export interface StopRequest { execution_id: string, step_id: string, attempt: number, kind: RunKind }

/**
 * Tasks travel on their own work-queue stream, one subject per agent (`<ns>.tasks.<server>`), each
 * read by that agent's durable consumer: tasks sent while the agent is down wait for it. Stop
 * requests are plain NATS messages: an agent that misses one has lost the run anyway.
 */
export class TaskBus {
  readonly stream: string
  private constructor (readonly nc: NatsConnection, readonly js: JetStreamClient, readonly jsm: JetStreamManager, readonly namespace: string) {
    this.stream = `${namespace}_tasks`
  }

  static async open (nc: NatsConnection, namespace: string, replicas = 1): Promise<TaskBus> {
    const jsm = await jetstreamManager(nc, { timeout: 5_000 })
    const bus = new TaskBus(nc, jetstream(nc, { timeout: 5_000 }), jsm, namespace)
    try {
      await jsm.streams.info(bus.stream)
    } catch (err) {
      if (!(err instanceof JetStreamApiError)) throw err
      await jsm.streams.add({
        name: bus.stream,
        subjects: [`${namespace}.tasks.>`],
        retention: RetentionPolicy.Workqueue,
        storage: StorageType.File,
        num_replicas: replicas,
        duplicate_window: 10 * 60 * 1e9
      }).catch(async e => { await jsm.streams.info(bus.stream).catch(() => { throw e }) })
    }
    return bus
  }

  taskSubject (server: string): string { return `${this.namespace}.tasks.${encodeToken(server)}` }
  controlSubject (server: string): string { return `${this.namespace}.control.${encodeToken(server)}` }
  consumerName (server: string): string { return `agent_${safeName(server)}` }

  /** Publishing the same attempt twice (engine restarted mid-dispatch) delivers it once. */
  async send (task: Task): Promise<void> {
    await this.js.publish(this.taskSubject(task.server), JSON.stringify(task), {
      msgID: `${task.execution_id}/${task.kind}/${task.step_id}/${task.server}/${task.attempt}`
    })
  }

  stop (server: string, req: StopRequest): void {
    this.nc.publish(this.controlSubject(server), JSON.stringify(req))
  }

  /**
   * At an agent's start: tasks its previous instance received but never acknowledged (it died
   * before recording that it started them) would come back only after the consumer's ack wait.
   * Dropping the consumer hands them to the new one at once; what the old instance had started
   * is found started and not run again.
   */
  async reclaim (server: string): Promise<number> {
    const name = this.consumerName(server)
    const info = await this.jsm.consumers.info(this.stream, name).catch(() => null)
    if (info == null || info.num_ack_pending === 0) return 0
    await this.jsm.consumers.delete(this.stream, name).catch(() => {})
    return info.num_ack_pending
  }

  /** The agent's durable consumer, created on first start. */
  async consumerFor (server: string): Promise<ReturnType<JetStreamClient['consumers']['get']>> {
    const name = this.consumerName(server)
    try {
      await this.jsm.consumers.info(this.stream, name)
    } catch {
      await this.jsm.consumers.add(this.stream, {
        durable_name: name,
        filter_subject: this.taskSubject(server),
        ack_policy: AckPolicy.Explicit,
        deliver_policy: DeliverPolicy.All,
        ack_wait: 60 * 1e9,
        max_ack_pending: 1000
      }).catch(async e => { await this.jsm.consumers.info(this.stream, name).catch(() => { throw e }) })
    }
    return await this.js.consumers.get(this.stream, name)
  }
}
