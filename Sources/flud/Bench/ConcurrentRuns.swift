import Synchronization

/// Runs `operation` for 0..<count with at most `concurrency` in flight.
/// Returns each run's outcome and latency (seconds), in no particular order,
/// and the time the whole took.
///
/// `concurrency` long-lived workers take the next index from a shared
/// counter: a task per operation, and the parent woken at each one's end,
/// cost more than a DHT get itself (two thread wakeups per operation).
func runConcurrently<Outcome: Sendable>(count: Int, concurrency: Int,
                                        _ operation: @escaping @Sendable (Int) async throws -> Outcome)
    async throws -> (runs: [(outcome: Outcome, seconds: Double)], seconds: Double) {
    let start = monotonicSeconds()
    let next = NextIndex()
    let runs = try await withThrowingTaskGroup(of: [(outcome: Outcome, seconds: Double)].self) { group in
        for _ in 0..<min(concurrency, count) {
            group.addTask {
                var runs: [(outcome: Outcome, seconds: Double)] = []
                while case let index = next.take(), index < count {
                    let begin = monotonicSeconds()
                    let outcome = try await operation(index)
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
