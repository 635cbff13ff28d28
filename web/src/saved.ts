// saved.ts - knows whether everything in a note's local Y.Doc is committed on the server,
// so the editor can say "saved on server" only when it is true.
//
// Three kinds of evidence, each sound on its own:
// 1. vaultd's saved message (type 4, asked for with ?saved=1): [varuint 4, varbytes stateVector]
//    after each commit of this connection's updates means "everything covered by this state
//    vector is committed".
// 2. Updates the server sends (its step 2 and updates) are committed before they are sent
//    (docs/sync.md), so a transaction applied from the provider proves the new clocks of the
//    clients it changed.
// 3. A barrier: the server answers a sync step 1 only once no commit of the note is in flight,
//    and it handles one connection's messages in order. So the step 2 that answers a step 1
//    sent after our update proves that update committed. Deletions need this: they add no
//    clock to the state vector, so (1) and (2) cannot see them. A barrier is also sent once per
//    connection after our own step 2 (what we had that the server lacked), and after every
//    local change while the server has not shown that it sends saved messages.
//
// The tracker holds no socket: the note session feeds it events and sends the barriers it
// asks for. It is plain logic, unit-tested in test/saved.test.ts.
import * as Y from 'yjs'

export const messageSaved = 4

export type StateVector = Map<number, number>

export class SaveTracker {
  private committed: StateVector = new Map()
  private step1Sent = 0
  private step2Received = 0
  private barrierTarget = 0 // the step 2 count that proves the barrier in flight; 0: none
  private barrierSV: StateVector = new Map()
  private barrierEpoch = 0
  private barrierAgain = false
  private deleteEpoch = 0 // bumped by each local transaction that deleted something
  private committedDeleteEpoch = 0
  private connected = false
  private answered = false // our step 2 went out on this connection: barriers are sound
  /** Saved messages received (any connection): the server supports them. */
  savedMessages = 0

  constructor (private readonly doc: Y.Doc) {}

  /** The server committed everything `sv` covers. */
  commit (sv: StateVector): void {
    for (const [client, clock] of sv) {
      if ((this.committed.get(client) ?? 0) < clock) this.committed.set(client, clock)
    }
  }

  /** A saved message's payload (the state vector bytes). */
  savedMessage (svBytes: Uint8Array): void {
    this.savedMessages++
    this.commit(Y.decodeStateVector(svBytes))
  }

  /** A transaction applied from the server: its new clocks are committed. */
  serverTransaction (before: StateVector, after: StateVector): void {
    const changed: StateVector = new Map()
    for (const [client, clock] of after) {
      if ((before.get(client) ?? 0) !== clock) changed.set(client, clock)
    }
    this.commit(changed)
  }

  /** A local transaction (typing, offline edits). Returns true when a barrier should be sent now. */
  localChange (deleted: boolean): boolean {
    if (deleted) this.deleteEpoch++
    return this.wantBarrier()
  }

  /** The socket opened; the provider has sent its step 1. */
  opened (): void {
    this.connected = true
    this.answered = false
    this.step1Sent = 1
    this.step2Received = 0
    this.barrierTarget = 0
    this.barrierAgain = false
  }

  closed (): void {
    this.connected = false
    this.answered = false
    this.barrierTarget = 0
    this.barrierAgain = false
  }

  /** We answered the server's step 1 with our step 2: a barrier must prove it committed. */
  answeredServerStep1 (): boolean {
    this.answered = true
    this.barrierAgain = true // even with one in flight: it went out before our step 2
    return this.barrierTarget === 0
  }

  /** We sent a barrier step 1 now. */
  barrierSent (): void {
    this.step1Sent++
    this.barrierTarget = this.step1Sent
    this.barrierSV = Y.decodeStateVector(Y.encodeStateVector(this.doc))
    this.barrierEpoch = this.deleteEpoch
    this.barrierAgain = false
  }

  /** A step 2 arrived from the server. Returns true when another barrier should be sent now. */
  step2 (): boolean {
    this.step2Received++
    if (this.barrierTarget === 0 || this.step2Received < this.barrierTarget) return false
    this.commit(this.barrierSV)
    if (this.committedDeleteEpoch < this.barrierEpoch) this.committedDeleteEpoch = this.barrierEpoch
    this.barrierTarget = 0
    if (this.barrierAgain || !this.isSaved()) {
      this.barrierAgain = false
      return this.connected && this.answered
    }
    return false
  }

  private wantBarrier (): boolean {
    if (!this.connected || !this.answered) return false
    if (this.savedMessages > 0 && this.committedDeleteEpoch >= this.deleteEpoch) return false
    if (this.barrierTarget !== 0) {
      this.barrierAgain = true
      return false
    }
    return true
  }

  /** Everything the local document holds (structs and deletions) is committed on the server. */
  isSaved (): boolean {
    if (this.committedDeleteEpoch < this.deleteEpoch) return false
    const local = Y.decodeStateVector(Y.encodeStateVector(this.doc))
    for (const [client, clock] of local) {
      if ((this.committed.get(client) ?? 0) < clock) return false
    }
    return true
  }
}
