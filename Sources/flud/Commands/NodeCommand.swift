import ArgumentParser
@preconcurrency import Dispatch
import FludDHT
import FludStore
import NIOCore

struct NodeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "node",
        abstract: "Run a flud node: today its DHT (UDP); the fragment service joins it later.",
        discussion: """
            Listens on UDP --port, joins the network through each --bootstrap \
            node, keeps its routing table fresh, and saves it in --data so a \
            restart rejoins without bootstrap nodes. Stops cleanly on SIGINT or SIGTERM.
            """
    )

    @Option(help: ArgumentHelp("The node's data directory.", valueName: "dir"))
    var data: String

    @Option(help: ArgumentHelp("UDP port for the DHT.", valueName: "port"))
    var port: Int

    @Option(help: ArgumentHelp("Address to listen on.", valueName: "ip"))
    var host: String = "127.0.0.1"

    @Option(help: ArgumentHelp("A node to join through (repeatable).", valueName: "host:port"))
    var bootstrap: [String] = []

    func run() async throws {
        try await reportingFailures {
            guard (1...65535).contains(port) else { throw Failure.usage("--port must be 1 to 65535") }
            let addresses = try bootstrap.map(parseAddress)
            let signals = TerminationSignals()
            let running = try await RunningNode.start(data: data, host: host, port: port, bootstrap: addresses)
            printNow("flud node \(running.node.id.hex) listening on udp \(host):\(running.node.port), \(await running.node.routingTableSize()) contacts")
            await signals.wait(doingEveryMinute: { await running.node.maintain() })
            try await running.stop()
        }
    }
}

struct ClusterCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cluster",
        abstract: "Run N flud nodes in one process on consecutive ports of 127.0.0.1 (a local testbed).",
        discussion: "Node i listens on --base-port + i with its data in DIR/node-i; every node joins through node 0."
    )

    @Option(help: "How many nodes.")
    var nodes: Int

    @Option(help: ArgumentHelp("Parent of the nodes' data directories.", valueName: "dir"))
    var data: String

    @Option(help: ArgumentHelp("UDP port of node 0.", valueName: "port"))
    var basePort: Int = 7100

    func run() async throws {
        try await reportingFailures {
            guard (1...1000).contains(nodes) else { throw Failure.usage("--nodes must be 1 to 1000") }
            guard (1...(65535 - nodes)).contains(basePort) else { throw Failure.usage("--base-port leaves no room for \(nodes) ports") }
            let signals = TerminationSignals()
            var running: [RunningNode] = []
            let seed = try parseAddress("127.0.0.1:\(basePort)")
            for index in 0..<nodes {
                running.append(try await RunningNode.start(data: "\(data)/node-\(index)", host: "127.0.0.1",
                                                           port: basePort + index, bootstrap: index == 0 ? [] : [seed]))
            }
            for node in running.dropFirst() { await node.node.bootstrap(from: [seed]) }
            for (index, node) in running.enumerated() {
                printNow("node \(index) \(node.node.id.hex) udp 127.0.0.1:\(node.node.port) \(await node.node.routingTableSize()) contacts")
            }
            let all = running
            await signals.wait(doingEveryMinute: { for node in all { await node.node.maintain() } })
            for node in running { try await node.stop() }
        }
    }
}

/// A DHT node with its data directory: its ID and routing table live in the
/// store's "dht" table, so a restarted node is the same node and rejoins
/// through the contacts it knew.
struct RunningNode: Sendable {
    let node: DHTNode
    let store: BlockStore
    static let routingKey = Array("routing-table".utf8)
    static let idKey = Array("node-id".utf8)

    static func start(data: String, host: String, port: Int, bootstrap: [SocketAddress]) async throws -> RunningNode {
        var options = BlockStore.Options()
        options.tables = ["dht"]
        let store = try BlockStore(directory: data, options: options)
        let table = store.table("dht")
        let id = try table.value(for: idKey).flatMap(NodeID.init(bytes:)) ?? NodeID.random()
        try await table.set(id.bytes, for: idKey)
        let node = try await DHTNode.start(id: id, host: host, port: port)
        let saved = (try store.table("dht").value(for: routingKey)).flatMap(NodeContact.decodeCompact) ?? []
        let known = saved.compactMap { try? DHTNode.address("\($0.host):\($0.port)") }
        if !(bootstrap + known).isEmpty { await node.bootstrap(from: bootstrap + known) }
        return RunningNode(node: node, store: store)
    }

    func stop() async throws {
        try await store.table("dht").set(await node.knownContacts().flatMap(\.compact), for: Self.routingKey)
        await node.close()
        store.close()
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

    /// Runs `upkeep` every minute until a signal arrives.
    func wait(doingEveryMinute upkeep: @escaping @Sendable () async -> Void) async {
        let signals = self.signals
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                for await _ in signals { return }
            }
            group.addTask {
                while !Task.isCancelled {
                    try? await Task.sleep(for: .seconds(60))
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
