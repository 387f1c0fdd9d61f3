import Foundation

/// The store's single writer: operations from any number of threads and tasks
/// queue up, and whoever finds no write in progress becomes the leader and
/// commits everything queued in one LMDB write transaction (group commit), so
/// one fsync serves the whole group, then goes on until the queue is empty.
/// Followers just wait: an operation completes only after the transaction
/// holding it has committed. A blocking caller (``performAndWait(bytes:_:)``)
/// leads on its own thread, so an uncontended write has no hand-off at all; an
/// async caller never does, since a leader blocks in fsync and may keep
/// leading while others queue: its group is led on the writer's own thread,
/// leaving Swift's small cooperative pool free for hashing and networking.
///
/// An operation throws a logical error (quota, not found) before it writes
/// anything; it fails alone and the rest of the group commits. An LMDB error
/// aborts the group: a full map is grown and the group retried; past capacity,
/// each operation is retried alone so that those that still fit land.
final class GroupCommitWriter: @unchecked Sendable {
    struct Operation {
        /// Applies the operation inside the group's transaction.
        let apply: (LMDBTransaction) throws -> Void
        /// Reports the outcome once the transaction committed or failed.
        let finish: (Error?) -> Void
        /// Bytes the operation adds to the map, to size a growth.
        let bytes: Int
    }

    private let environment: LMDBEnvironment
    private let capacity: Int
    /// Guards the fields below; signalled when a leader finishes.
    private let condition = NSCondition()
    private var queue: [Operation] = []
    private var leaderActive = false
    private var stopping = false
    /// Largest group. Small enough that LMDB's dirty pages stay in the CPU
    /// cache between the copy into them and the write to the file, and that
    /// the fragments copied were hashed moments before: 1 MiB puts run at about
    /// twice the speed of 256 MiB groups here (perf/store/README.md). Large
    /// enough that a commit's fsync serves many small puts.
    private let maximumGroupBytes = 4 << 20
    /// Where async callers' groups are led.
    private let leaderQueue = DispatchQueue(label: "flud.store.group-commit")

    init(environment: LMDBEnvironment, capacity: Int) {
        self.environment = environment
        self.capacity = capacity
    }

    /// Queues `body` and returns its result once its transaction has committed.
    /// When no write is in progress, the calling thread does the commit itself.
    func perform<Result: Sendable>(bytes: Int = 0, _ body: @escaping (LMDBTransaction) throws -> Result) async throws -> Result {
        try await withCheckedThrowingContinuation { continuation in
            let box = ResultBox<Result>()
            submit(Operation(
                apply: { box.value = try body($0) },
                finish: { error in
                    if let error { continuation.resume(throwing: error) } else { continuation.resume(returning: box.value!) }
                },
                bytes: bytes), leadingHere: false)
        }
    }

    /// The blocking form of ``perform(bytes:_:)`` for callers outside Swift concurrency.
    func performAndWait<Result>(bytes: Int = 0, _ body: @escaping (LMDBTransaction) throws -> Result) throws -> Result {
        let box = ResultBox<Result>()
        let done = DispatchSemaphore(value: 0)
        var failure: Error?
        submit(Operation(apply: { box.value = try body($0) }, finish: { failure = $0; done.signal() }, bytes: bytes),
               leadingHere: true)
        done.wait()
        if let failure { throw failure }
        return box.value!
    }

    /// Waits for the writes in progress and refuses new ones.
    func stop() {
        condition.lock()
        stopping = true
        while leaderActive { condition.wait() }
        condition.unlock()
    }

    /// Queues `operation`; if no leader is active, one starts: on this thread
    /// when `leadingHere`, else on the writer's queue.
    private func submit(_ operation: Operation, leadingHere: Bool) {
        condition.lock()
        guard !stopping else {
            condition.unlock()
            operation.finish(StoreError.closed)
            return
        }
        queue.append(operation)
        let becomesLeader = !leaderActive
        leaderActive = true
        condition.unlock()
        guard becomesLeader else { return }
        if leadingHere {
            lead()
        } else {
            leaderQueue.async { self.lead() }
        }
    }

    /// Commits groups until the queue is empty, then steps down.
    private func lead() {
        while let group = nextGroup() {
            commit(group)
        }
    }

    /// The next group, or nil (stepping down) when nothing is queued.
    private func nextGroup() -> [Operation]? {
        condition.lock()
        defer { condition.unlock() }
        guard !queue.isEmpty else {
            leaderActive = false
            condition.broadcast()
            return nil
        }
        var groupBytes = 0
        var count = 0
        while count < queue.count, count == 0 || groupBytes + queue[count].bytes <= maximumGroupBytes {
            groupBytes += queue[count].bytes
            count += 1
        }
        let group = Array(queue.prefix(count))
        queue.removeFirst(count)
        return group
    }

    private func commit(_ group: [Operation]) {
        var failures = [Error?](repeating: nil, count: group.count)
        do {
            try environment.write { transaction in
                for (index, operation) in group.enumerated() {
                    do {
                        try operation.apply(transaction)
                    } catch let error as LMDBError {
                        throw error
                    } catch {
                        failures[index] = error
                    }
                }
            }
        } catch let error as LMDBError where error.code == LMDBError.mapFull {
            if growMap(toFit: group.reduce(0) { $0 + $1.bytes }) {
                return commit(group)
            }
            if group.count > 1 {
                // At capacity: let whatever still fits land, one at a time.
                return group.forEach { commit([$0]) }
            }
            failures[0] = StoreError.full(capacity: capacity)
        } catch {
            let groupBytes = group.reduce(0) { $0 + $1.bytes }
            let failure = isDiskFull(error, needing: groupBytes) ? .full(capacity: capacity) : storeError(error, capacity: capacity)
            failures = failures.map { _ in failure }
        }
        for (operation, failure) in zip(group, failures) { operation.finish(failure) }
    }

    /// Doubles the map (at least enough for `bytes` more) up to the capacity;
    /// false when already there.
    private func growMap(toFit bytes: Int) -> Bool {
        let current = environment.mapSize
        guard current < capacity else { return false }
        let wanted = max(current * 2, current + 2 * bytes + (1 << 20))
        do {
            try environment.resize(to: min(capacity, wanted))
            return true
        } catch {
            return false
        }
    }
}

extension GroupCommitWriter {
    /// LMDB reports a write cut short by a full disk as EIO; tell that apart
    /// from a failing disk by the space left.
    private func isDiskFull(_ error: Error, needing bytes: Int) -> Bool {
        guard let error = error as? LMDBError, [EIO, ENOSPC, EDQUOT].contains(error.code) else { return false }
        var info = statvfs()
        guard statvfs(environment.path, &info) == 0 else { return false }
        return Int(info.f_bavail) * Int(info.f_frsize) < bytes + (4 << 20)
    }
}

/// Carries an operation's result from the writer thread to its caller.
private final class ResultBox<Value>: @unchecked Sendable {
    var value: Value?
}

/// Maps LMDB and OS errors to what the store tells its users.
func storeError(_ error: Error, capacity: Int) -> StoreError {
    switch error {
    case let error as StoreError:
        return error
    case let error as LMDBError where error == LMDBError.closed:
        return .closed
    case let error as LMDBError where error.code == LMDBError.mapFull || error.code == ENOSPC || error.code == EDQUOT:
        return .full(capacity: capacity)
    case let error as LMDBError:
        return .storage(error.description)
    default:
        return .storage("\(error)")
    }
}
