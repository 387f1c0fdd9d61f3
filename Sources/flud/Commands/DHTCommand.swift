import ArgumentParser
import FludDHT
import NIOCore

struct DHTCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dht",
        abstract: "Talk to any BEP 5 DHT node (flud's or another client's).",
        subcommands: [DHTPingCommand.self, DHTFindNodeCommand.self, DHTPutCommand.self, DHTGetCommand.self]
    )
}

struct DHTPingCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ping",
        abstract: "Ping a DHT node and print its node ID."
    )

    @Option(help: ArgumentHelp("Seconds to wait for the answer.", valueName: "seconds"))
    var timeout: Double = 2

    @Argument(help: ArgumentHelp("The node's address.", valueName: "host:port"))
    var node: String

    func run() async throws {
        try await reportingFailures {
            guard timeout > 0, timeout <= 60 else { throw Failure.usage("--timeout must be between 0 and 60 seconds") }
            let address = try parseAddress(node)
            let id = try await withTemporaryNode(queryTimeout: .milliseconds(Int64(timeout * 1000))) { local in
                do {
                    return try await local.ping(address)
                } catch DHTError.timeout {
                    throw Failure(kind: .runtime, description: "no answer from \(node) within \(timeout) s")
                }
            }
            print(id.hex)
        }
    }
}

struct DHTFindNodeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "find-node",
        abstract: "Find the nodes closest to a target ID with an iterative lookup.",
        discussion: "Joins the DHT through --bootstrap with a temporary node and prints the closest nodes that answered, nearest first."
    )

    @OptionGroup var join: JoinOptions

    @Flag(help: "Print one JSON object per node.")
    var json = false

    @Argument(help: ArgumentHelp("The target: 40 hexadecimal digits.", valueName: "target-hex"))
    var target: String

    func run() async throws {
        try await reportingFailures {
            guard let targetID = NodeID(hex: target) else { throw Failure.usage("the target must be 40 hexadecimal digits") }
            let closest = try await join.withJoinedNode { await $0.lookup(targetID) }
            for contact in closest {
                if json {
                    print(JSONLine().field("id", contact.id.hex).field("host", contact.host).field("port", Int(contact.port))
                        .field("distance", contact.id.distance(to: targetID).hex).text)
                } else {
                    print("\(contact.id.hex)  \(contact.host):\(contact.port)")
                }
            }
        }
    }
}

/// "HOST:PORT" as an address, or a usage error.
func parseAddress(_ text: String) throws -> SocketAddress {
    do {
        return try DHTNode.address(text)
    } catch {
        throw Failure.usage("'\(text)' is not a HOST:PORT address")
    }
}

/// `--bootstrap`, and a temporary node that joins the DHT through it.
struct JoinOptions: ParsableArguments {
    @Option(help: ArgumentHelp("A node to join through (repeatable).", valueName: "host:port"))
    var bootstrap: [String] = []

    /// Runs `body` with a read-only node that has joined through `--bootstrap`.
    func withJoinedNode<Result: Sendable>(_ body: (DHTNode) async throws -> Result) async throws -> Result {
        guard !bootstrap.isEmpty else { throw Failure.usage("give at least one --bootstrap HOST:PORT") }
        let addresses = try bootstrap.map(parseAddress)
        return try await withTemporaryNode { node in
            guard await node.bootstrap(from: addresses) > 0 else {
                throw Failure(kind: .runtime, description: "none of the bootstrap nodes answered")
            }
            return try await body(node)
        }
    }
}

/// Runs `body` with a read-only DHT node (BEP 43) on an ephemeral loopback
/// port, closed afterwards.
func withTemporaryNode<Result: Sendable>(queryTimeout: TimeAmount = .seconds(2),
                                         _ body: (DHTNode) async throws -> Result) async throws -> Result {
    try await using(try await DHTNode.start(readOnly: true, queryTimeout: queryTimeout), close: { await $0.close() }, body)
}
