import FludDHT

/// `flud bench dht-sim`: lookups on simulated networks of growing size (hops
/// should grow as log N), then on the largest, half of the nodes leave, the
/// survivors do their routine upkeep, and newcomers take the leavers' places.
struct DHTSimulationBenchmark {
    struct Phase {
        let nodes: Int
        let name: String
        let reports: [SimulatedNetwork<SystemRandomNumberGenerator>.LookupReport]

        var success: Double { Double(reports.filter(\.foundClosest).count) / Double(max(reports.count, 1)) }
        var meanHops: Double { mean(reports.map { Double($0.hops) }) }
        var maximumHops: Int { reports.map(\.hops).max() ?? 0 }
        var messagesPerLookup: Double { mean(reports.map { Double($0.messages) }) }
        var timeoutsPerLookup: Double { mean(reports.map { Double($0.timeouts) }) }
        var p50: Double { percentile(0.5) }
        var p99: Double { percentile(0.99) }

        private func mean(_ values: [Double]) -> Double { values.reduce(0, +) / Double(max(values.count, 1)) }
        private func percentile(_ fraction: Double) -> Double {
            let sorted = reports.map(\.milliseconds).sorted()
            return sorted.isEmpty ? 0 : sorted[min(sorted.count - 1, Int(Double(sorted.count) * fraction))]
        }
    }

    let sizes: [Int]
    let lookups: Int
    let churn: Double
    let report: (Phase) -> Void

    func run() {
        for (position, size) in sizes.enumerated() {
            var network = SimulatedNetwork(using: SystemRandomNumberGenerator())
            for _ in 0..<size { network.join() }
            report(measure(&network, size, "healthy"))
            guard position == sizes.count - 1, churn > 0 else { continue }
            // Half the nodes leave without a goodbye; the survivors find out
            // only by asking them. Then as many newcomers join.
            network.depart(fraction: churn)
            report(measure(&network, size, "after_departures"))
            report(measure(&network, size, "after_departures_second_pass"))
            // What every node's once-a-minute upkeep does to the dead contacts
            // within 20 minutes: questionable at 15, bad after three failed
            // pings, then replaced (and replacements that died, too).
            network.upkeep(after: 15 * 60)
            for _ in 0..<5 { network.upkeep(after: 60) }
            report(measure(&network, size, "after_upkeep"))
            for _ in 0..<(size - network.liveCount) { network.join() }
            report(measure(&network, size, "after_rejoin"))
        }
    }

    private func measure(_ network: inout SimulatedNetwork<SystemRandomNumberGenerator>, _ size: Int, _ name: String) -> Phase {
        Phase(nodes: size, name: name, reports: (0..<lookups).map { _ in network.randomLookup() })
    }
}
