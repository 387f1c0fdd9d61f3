/// How fast each node answered this run's retrieves, so that restores ask the
/// slow ones last ("fastest peers first").
///
/// Per node, a moving average over its last retrieves of the seconds per
/// byte, counting each request as 64 KiB more than it carried (its round
/// trip), so that nodes that happened to serve larger or smaller fragments
/// compare fairly. A node whose average, over 3 retrieves or more, passes
/// four times the (lower) median node's is slow. Not less: a data shard put
/// off costs a Reed-Solomon decode, and on 12 local nodes sharing 2 cores a
/// 2× limit flagged nodes by chance and made restores ~8 % slower (an
/// interleaved A/B of 1 GiB restores). A slow node is seldom asked again, so its
/// average would never recover: an average not refreshed for `memory` is
/// forgotten, and the node is asked in its place and measured anew.
struct RetrieveTimes: Sendable {
    static let requestOverheadBytes = 64 << 10

    let memory: Duration
    private var nodes: [String: (secondsPerByte: Double, count: Int, last: ContinuousClock.Instant)] = [:]

    init(memory: Duration = .seconds(5)) {
        self.memory = memory
    }

    mutating func note(_ address: String, seconds: Double, bytes: Int, at now: ContinuousClock.Instant = .now) {
        let sample = seconds / Double(bytes + Self.requestOverheadBytes)
        guard let known = nodes[address], now - known.last < memory else {
            nodes[address] = (sample, 1, now)
            return
        }
        let weight = 1 / Double(min(known.count + 1, 8))
        nodes[address] = (known.secondsPerByte + (sample - known.secondsPerByte) * weight, known.count + 1, now)
    }

    /// The nodes that are slow at `now`.
    func slow(at now: ContinuousClock.Instant = .now) -> Set<String> {
        let measured = nodes.filter { now - $0.value.last < memory && $0.value.count >= 3 }
        let averages = measured.values.map(\.secondsPerByte).sorted()
        guard averages.count >= 2 else { return [] }
        let limit = 4 * averages[(averages.count - 1) / 2]
        return Set(measured.filter { $0.value.secondsPerByte > limit }.keys)
    }
}
