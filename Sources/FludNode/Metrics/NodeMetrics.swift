import FludWire
import Metrics

/// The node's metrics, through swift-metrics: whichever backend the process
/// bootstrapped (Prometheus for `flud node --metrics-port`) receives them.
/// Every series carries the node's short ID, so the nodes of one
/// `flud cluster` process stay apart.
struct NodeMetrics: Sendable {
    let node: String

    func request(_ kind: RequestKind, status: WireStatus, seconds: Double) {
        Counter(label: "flud_requests_total",
                dimensions: [("node", node), ("type", "\(kind)"), ("status", status.metricName)]).increment()
        if status != .ok {
            Counter(label: "flud_request_errors_total",
                    dimensions: [("node", node), ("type", "\(kind)"), ("error", status.metricName)]).increment()
        }
        Metrics.Timer(label: "flud_request_duration_seconds", dimensions: [("node", node), ("type", "\(kind)")])
            .recordNanoseconds(Int64(seconds * 1e9))
    }

    /// A request refused before it ran (handshake, replay, throttling,
    /// malformed or unknown requests), or a stream that broke the framing
    /// (type "frame"): the abuse a node sees, counted like other errors.
    func refused(kind: UInt8?, status: WireStatus) {
        let type = kind.map { RequestKind(rawValue: $0).map { "\($0)" } ?? "unknown" } ?? "frame"
        Counter(label: "flud_requests_total", dimensions: [("node", node), ("type", type), ("status", status.metricName)]).increment()
        Counter(label: "flud_request_errors_total", dimensions: [("node", node), ("type", type), ("error", status.metricName)])
            .increment()
    }

    /// A VERIFY this node answered (passed) or could not (failed: fragment
    /// missing, corrupt or challenge out of range).
    func audit(passed: Bool) {
        Counter(label: "flud_audits_total", dimensions: [("node", node), ("outcome", passed ? "passed" : "failed")]).increment()
    }

    func transferred(bytes: Int, direction: String) {
        Counter(label: "flud_fragment_bytes_total", dimensions: [("node", node), ("direction", direction)])
            .increment(by: bytes)
    }

    func storeLevels(fragments: Int, bytes: Int, routingTable: Int, connections: Int) {
        Gauge(label: "flud_fragments_stored", dimensions: [("node", node)]).record(fragments)
        Gauge(label: "flud_bytes_stored", dimensions: [("node", node)]).record(bytes)
        Gauge(label: "flud_routing_table_size", dimensions: [("node", node)]).record(routingTable)
        Gauge(label: "flud_connections", dimensions: [("node", node)]).record(connections)
    }
}

extension WireStatus {
    var metricName: String { "\(self)".replacingOccurrences(of: " ", with: "_") }
}
