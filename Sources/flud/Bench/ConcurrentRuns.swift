/// Runs `operation` for 0..<count with at most `concurrency` in flight.
/// Returns each run's outcome and latency (seconds), in completion order,
/// and the time the whole took.
func runConcurrently<Outcome: Sendable>(count: Int, concurrency: Int,
                                        _ operation: @escaping @Sendable (Int) async throws -> Outcome)
    async throws -> (runs: [(outcome: Outcome, seconds: Double)], seconds: Double) {
    let start = monotonicSeconds()
    let runs = try await withThrowingTaskGroup(of: (Outcome, Double).self) { group in
        var next = 0
        var runs: [(Outcome, Double)] = []
        func submit() {
            guard next < count else { return }
            let index = next
            next += 1
            group.addTask {
                let begin = monotonicSeconds()
                let outcome = try await operation(index)
                return (outcome, monotonicSeconds() - begin)
            }
        }
        for _ in 0..<concurrency { submit() }
        while let run = try await group.next() {
            runs.append(run)
            submit()
        }
        return runs
    }
    return (runs.map { (outcome: $0.0, seconds: $0.1) }, monotonicSeconds() - start)
}
