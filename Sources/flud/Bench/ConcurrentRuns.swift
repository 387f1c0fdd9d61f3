import Synchronization

/// Runs `operation` for 0..<count with at most `concurrency` in flight,
/// starting none after `seconds`. Returns each run's outcome and latency
/// (seconds), in no particular order, and the time the whole took.
///
/// `concurrency` long-lived workers take the next index from a shared
/// counter: a task per operation, and the parent woken at each one's end,
/// cost more than a DHT get itself (two thread wakeups per operation).
/// `operation` learns which worker runs it; worker w runs on
/// `executors[w % executors.count]` when there are any.
func runConcurrently<Outcome: Sendable>(count: Int, concurrency: Int, for seconds: Double = .infinity,
                                        executors: [any TaskExecutor] = [],
                                        _ operation: @escaping @Sendable (_ index: Int, _ worker: Int) async throws -> Outcome)
    async throws -> (runs: [(outcome: Outcome, seconds: Double)], seconds: Double) {
    let start = monotonicSeconds()
    let next = NextIndex()
    let runs = try await withThrowingTaskGroup(of: [(outcome: Outcome, seconds: Double)].self) { group in
        for worker in 0..<min(concurrency, count) {
            group.addTask(executorPreference: executors.isEmpty ? nil : executors[worker % executors.count]) {
                var runs: [(outcome: Outcome, seconds: Double)] = []
                while case let index = next.take(), index < count, monotonicSeconds() - start <= seconds {
                    let begin = monotonicSeconds()
                    let outcome = try await operation(index, worker)
                    runs.append((outcome, monotonicSeconds() - begin))
                }
                return runs
            }
        }
        return try await group.reduce(into: []) { $0 += $1 }
    }
    return (runs, monotonicSeconds() - start)
}

private final class NextIndex: Sendable {
    private let value = Atomic<Int>(0)
    func take() -> Int { value.add(1, ordering: .relaxed).oldValue }
}
