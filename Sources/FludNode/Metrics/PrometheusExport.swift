import Metrics
import Prometheus
import Synchronization

/// The process's Prometheus export: swift-metrics is bootstrapped with a
/// Prometheus backend once per process, and served on a TCP port.
public enum PrometheusExport {
    private static let registry = Mutex<PrometheusCollectorRegistry?>(nil)

    /// Bootstraps swift-metrics (first call only) and serves `/metrics` on `port`.
    public static func start(host: String, port: Int) async throws -> MetricsServer {
        let registry = Self.registry.withLock { registry in
            if let registry { return registry }
            let created = PrometheusCollectorRegistry()
            MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: created))
            registry = created
            return created
        }
        return try await MetricsServer.start(registry: registry, host: host, port: port)
    }
}
