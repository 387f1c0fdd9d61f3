import FludCodec
import Foundation

/// Keeping live fragments claimed. A node drops a claim when its lease runs
/// out (90 days by default), so the space of data nobody keeps comes back by
/// itself; an owner keeps what it still needs by renewing (RENEW sends the key
/// and a new expiry, not the bytes). `flud backup` renews the chunks it reuses,
/// `flud verify` every chunk of every kept snapshot, each only once a third of
/// the lease has passed since the last renewal the local index remembers.
struct Leases {
    static let term: UInt64 = 90 * 86_400
    static let renewAfter: UInt64 = term / 3

    /// Whether a lease renewed at `renewed` still runs at `now`, with a day to
    /// spare. A renewal time after `now` (the clock went back) counts as
    /// running: the lease was set from the later time.
    static func stillRuns(renewedAt renewed: UInt64, at now: UInt64) -> Bool {
        now <= renewed || now - renewed < term - 86_400
    }

    /// RENEW requests in flight at once.
    static let parallelRequests = 64

    struct Outcome: Sendable {
        /// Fragments whose lease now runs `term` from today.
        var renewed = 0
        /// Fragments whose holder could not be asked, or no longer held our claim.
        var failed = 0
    }

    let network: FragmentNetwork
    let index: LocalIndex

    /// Renews every fragment of the `chunks` that are due (renewed more than
    /// `renewAfter` ago, or never as far as this machine knows). A chunk whose
    /// fragments all renewed is remembered as renewed today.
    func renewDue(_ chunks: [ChunkRef], now: UInt64 = UInt64(Date().timeIntervalSince1970)) async throws -> Outcome {
        var seen = Set<String>()
        let due = chunks.filter { chunk in
            // (A renewal time after `now`, from a clock that went back, is not due.)
            seen.insert(chunk.hash).inserted && index.renewed(chunk.hash).map { now > $0 && now - $0 >= Self.renewAfter } ?? true
        }
        let expiry = now + Self.term
        let network = self.network
        let jobs = due.enumerated().flatMap { chunk in chunk.element.object.fragments.map { (chunk: chunk.offset, fragment: $0) } }
        var failures = [Int](repeating: 0, count: due.count)
        var outcome = Outcome()
        await withTaskGroup(of: (Int, Bool).self) { group in
            var next = 0
            func startNext() {
                guard next < jobs.count else { return }
                let job = jobs[next]
                next += 1
                group.addTask {
                    guard let key = ContentHash(hex: job.fragment.key) else { return (job.chunk, false) }
                    let renewed = (try? await network.renew(key, at: job.fragment.node, until: expiry)) == true
                    return (job.chunk, renewed)
                }
            }
            for _ in 0..<Self.parallelRequests { startNext() }
            while let (chunk, renewed) = await group.next() {
                if renewed { outcome.renewed += 1 } else { outcome.failed += 1; failures[chunk] += 1 }
                startNext()
            }
        }
        let complete = due.indices.filter { failures[$0] == 0 }.map { due[$0].hash }
        try await index.markRenewed(complete, at: now)
        return outcome
    }
}
