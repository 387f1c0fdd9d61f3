import ArgumentParser
@preconcurrency import Dispatch
import FludBackup
import FludNode
import FludStore
import FludWire
import Foundation
import Logging
import NIOCore

struct NodeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "node",
        abstract: "Run a flud storage node, or ask one for its status.",
        subcommands: [RunNodeCommand.self, NodeStatusCommand.self],
        defaultSubcommand: RunNodeCommand.self
    )
}

struct RunNodeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run a storage node: the DHT on UDP --port, fragments on TCP --port, the store in --data.",
        discussion: """
            The node's identity (an Ed25519 key) is created in DIR/identity.key on \
            first start; its DHT node ID is the first 20 bytes of SHA-256 of the \
            public key. It joins through each --bootstrap node and through the \
            contacts it saved at its last stop. Peers may store up to what this \
            node stores with them plus --generosity bytes: with --home, the node \
            proves the key of the user whose keys are in that directory (so peers \
            know it as the user they keep backups for), and each peer's allowance \
            grows by what the user's backups keep on that peer's node, as the \
            user's last backup, forget or repair recorded it. Logs go to standard \
            error; with --metrics-port, Prometheus metrics are served at \
            http://HOST:M/metrics. Stops cleanly on SIGINT or SIGTERM.
            """
    )

    @OptionGroup var options: NodeOptions

    @Option(help: ArgumentHelp("Run as the user whose keys are in this directory (usually $FLUD_HOME).", valueName: "dir"))
    var home: String?

    func run() async throws {
        try await reportingFailures {
            try options.checkArguments()
            var configuration = try options.configuration(data: options.data, port: options.port,
                                                          bootstrap: options.bootstrap.map(parseAddress))
            if let home {
                configuration.identity = try UserKeys.load(from: home).wireIdentity
                configuration.keptBytesFile = FragmentNetwork.keptBytesFile(in: FludHome.ledgerDirectory(in: home))
            }
            bootstrapLogging(level: options.logLevel)
            tuneAllocatorForFragmentTraffic()
            let signals = TerminationSignals()
            // Metrics first: what the node records from its first moment reaches Prometheus.
            let metrics = try await options.startMetrics()
            let node = try await StorageNode.start(configuration)
            printNow("flud node \(node.identity.publicKey.hex) listening on udp+tcp \(options.host):\(node.port), \(await node.dht.routingTableSize()) contacts")
            await signals.wait(doingEvery: .seconds(60)) { await node.maintain() }
            await metrics?.close()
            await node.stop()
        }
    }
}

/// What `flud node` and `flud cluster` share.
struct NodeOptions: ParsableArguments {
    @Option(help: ArgumentHelp("The node's data directory.", valueName: "dir"))
    var data: String

    @Option(help: ArgumentHelp("UDP (DHT) and TCP (fragments) port.", valueName: "port"))
    var port: Int

    @Option(help: ArgumentHelp("Address to listen on.", valueName: "ip"))
    var host: String = "127.0.0.1"

    @Option(help: ArgumentHelp("A node to join through (repeatable).", valueName: "host:port"))
    var bootstrap: [String] = []

    @Option(help: ArgumentHelp("Serve Prometheus metrics on this TCP port.", valueName: "port"))
    var metricsPort: Int?

    @Option(help: ArgumentHelp("Bytes a peer may store here beyond what this node stores with it.", valueName: "bytes"))
    var generosity: Int = 1 << 30

    @Option(help: ArgumentHelp("Most bytes the store may hold.", valueName: "bytes"))
    var capacity: Int = 1 << 40

    @Option(help: ArgumentHelp("trace, debug, info, notice, warning or error.", valueName: "level"))
    var logLevel: Logger.Level = .info

    /// Checked inside `reportingFailures`, so a bad argument gets flud's one-line
    /// message and exit status 64.
    func checkArguments() throws {
        guard (1...65535).contains(port) else { throw Failure.usage("--port must be 1 to 65535") }
        if let metricsPort, !(1...65535).contains(metricsPort) { throw Failure.usage("--metrics-port must be 1 to 65535") }
        guard generosity >= 0 else { throw Failure.usage("--generosity must not be negative") }
        guard capacity >= 1 << 20 else { throw Failure.usage("--capacity must be at least 1 MiB") }
    }

    func configuration(data: String, port: Int, bootstrap: [SocketAddress]) throws -> StorageNode.Configuration {
        var configuration = StorageNode.Configuration(data: data)
        configuration.host = host
        configuration.port = port
        configuration.bootstrap = bootstrap
        configuration.trust.generosity = generosity
        configuration.store.capacity = capacity
        return configuration
    }

    func startMetrics() async throws -> MetricsServer? {
        guard let metricsPort else { return nil }
        do {
            return try await PrometheusExport.start(host: host, port: metricsPort)
        } catch {
            throw Failure(kind: .runtime, description: "cannot serve metrics on \(host):\(metricsPort) (\(error))")
        }
    }
}

/// Structured logs (key=value metadata) on standard error.
func bootstrapLogging(level: Logger.Level) {
    LoggingSystem.bootstrap { label in
        var handler = StreamLogHandler.standardError(label: label)
        handler.logLevel = level
        return handler
    }
}

/// `--log-level` takes the level's name; ArgumentParser refuses any other
/// (exit status 64), for `flud node` and `flud cluster` alike.
extension Logger.Level: @retroactive ExpressibleByArgument {}

struct NodeStatusCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Print a node's identity, what it stores and how many peers it knows.",
        discussion: "Connects as the identity in $FLUD_HOME. \(FragmentExit.help)"
    )

    @Argument(help: ArgumentHelp("The node's address.", valueName: "host:port"))
    var node: String

    @Flag(help: "Print the node's status document (JSON) as it sent it.")
    var json = false

    func run() async throws {
        try await reportingFailures {
            let document = try await withFragmentClient(node) { try await $0.status() }
            if json {
                printNow(String(decoding: document, as: UTF8.self))
                return
            }
            let status = try JSONDecoder().decode(StorageNode.Status.self, from: Data(document))
            printNow("""
                key            \(status.key)
                node ID        \(status.nodeID)
                port           \(status.port) (udp dht, tcp fragments)
                stored         \(status.fragments) fragments, \(status.bytesStored) bytes, \(status.claims) claims by \(status.owners) owners
                capacity       \(status.capacity) bytes
                routing table  \(status.routingTable) contacts
                peers known    \(status.peersKnown)
                connections    \(status.connections)
                uptime         \(status.uptimeSeconds) s
                """)
        }
    }
}

struct ClusterCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cluster",
        abstract: "Run N full storage nodes in one process on consecutive ports of 127.0.0.1 (a local testbed).",
        discussion: """
            Node i listens on --base-port + i (UDP and TCP) with its data in \
            DIR/node-i; every node joins through node 0. With --metrics-port, one \
            Prometheus endpoint serves all nodes' metrics, labelled by node.
            """
    )

    @Option(help: "How many nodes.")
    var nodes: Int

    @Option(help: ArgumentHelp("Parent of the nodes' data directories.", valueName: "dir"))
    var data: String

    @Option(help: ArgumentHelp("Port of node 0.", valueName: "port"))
    var basePort: Int = 7100

    @Option(help: ArgumentHelp("Serve Prometheus metrics on this TCP port.", valueName: "port"))
    var metricsPort: Int?

    @Option(help: ArgumentHelp("trace, debug, info, notice, warning or error.", valueName: "level"))
    var logLevel: Logger.Level = .notice

    func run() async throws {
        try await reportingFailures {
            guard (1...1000).contains(nodes) else { throw Failure.usage("--nodes must be 1 to 1000") }
            guard (1...(65535 - nodes)).contains(basePort) else { throw Failure.usage("--base-port leaves no room for \(nodes) ports") }
            bootstrapLogging(level: logLevel)
            tuneAllocatorForFragmentTraffic()
            let signals = TerminationSignals()
            var metrics: MetricsServer?
            if let metricsPort { metrics = try await PrometheusExport.start(host: "127.0.0.1", port: metricsPort) }
            var running: [StorageNode] = []
            let seed = try parseAddress("127.0.0.1:\(basePort)")
            for index in 0..<nodes {
                var configuration = StorageNode.Configuration(data: "\(data)/node-\(index)")
                configuration.port = basePort + index
                configuration.bootstrap = index == 0 ? [] : [seed]
                running.append(try await StorageNode.start(configuration))
            }
            for node in running.dropFirst() { _ = await node.dht.bootstrap(from: [seed]) }
            for (index, node) in running.enumerated() {
                printNow("node \(index) \(node.identity.publicKey.hex) udp+tcp 127.0.0.1:\(node.port) \(await node.dht.routingTableSize()) contacts")
            }
            let all = running
            await signals.wait(doingEvery: .seconds(60)) { for node in all { await node.maintain() } }
            await metrics?.close()
            for node in running { await node.stop() }
        }
    }
}

/// SIGINT and SIGTERM, caught from the moment this is created so that a node
/// always gets to save its state before it exits.
final class TerminationSignals: Sendable {
    private let signals: AsyncStream<Int32>
    private let sources: [any DispatchSourceSignal]

    init() {
        let (signals, continuation) = AsyncStream<Int32>.makeStream()
        self.signals = signals
        sources = [SIGINT, SIGTERM].map { signal in
            Glibc.signal(signal, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: signal, queue: .global())
            source.setEventHandler { continuation.yield(signal) }
            source.resume()
            return source
        }
    }

    deinit {
        sources.forEach { $0.cancel() }
    }

    /// Runs `upkeep` every `interval` until a signal arrives.
    func wait(doingEvery interval: Duration, _ upkeep: @escaping @Sendable () async -> Void) async {
        let signals = self.signals
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                for await _ in signals { return }
            }
            group.addTask {
                while !Task.isCancelled {
                    try? await Task.sleep(for: interval)
                    if !Task.isCancelled { await upkeep() }
                }
            }
            await group.next()
            group.cancelAll()
        }
    }
}

#if canImport(Glibc)
import Glibc
#endif
