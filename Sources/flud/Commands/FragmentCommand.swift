import ArgumentParser
import FludBackup
import FludCodec
import FludWire
import Foundation

struct FragmentCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fragment",
        abstract: "Run a node's fragment primitives from the shell.",
        discussion: "Each command connects as the identity in $FLUD_HOME (default ~/.flud), created on first use. \(FragmentExit.help)",
        subcommands: [FragmentStoreCommand.self, FragmentRetrieveCommand.self, FragmentVerifyCommand.self,
                      FragmentDeleteCommand.self, FragmentListCommand.self]
    )
}

/// The exit statuses of the commands that talk to a node.
enum FragmentExit {
    static let help = """
        Exit status: 0 ok, 2 not found, 3 bad key (bytes that do not hash to their key), \
        4 refused (quota, authentication, throttling, out-of-range challenge, full store), \
        5 node unreachable, 1 anything else (invalid arguments too).
        """

    /// Whether `arguments` name one of the commands that talk to a node
    /// (`flud fragment …`, `flud node status`), which exit with these statuses.
    static func applies(to arguments: [String]) -> Bool {
        arguments.first == "fragment" || arguments.starts(with: ["node", "status"])
    }

    static func status(for error: WireError) -> Int32 {
        switch error {
        case let .refused(status, _):
            switch status {
            case .notFound: 2
            case .badKey: 3
            case .quotaExceeded, .unauthenticated, .replayed, .outOfRange, .storeFull, .tooLarge, .throttled: 4
            case .ok, .malformed, .corrupt, .unsupported, .internalError: 1
            }
        case .handshakeFailed: 4
        case .unreachable, .timedOut: 5
        case .malformed, .frameTooLarge: 1
        }
    }
}

/// Where the user's identity and local state live: $FLUD_HOME, or ~/.flud.
enum FludHome {
    static var path: String {
        if let home = ProcessInfo.processInfo.environment["FLUD_HOME"], !home.isEmpty { return home }
        return NSHomeDirectory() + "/.flud"
    }

    /// Where a home keeps the user's trust ledger (and its ``KeptBytesFile``).
    static func ledgerDirectory(in home: String = path) -> String {
        home + "/trust"
    }

    /// The identity the user proves to nodes: the one derived from their
    /// keys (`flud key init|import`) if they have any, so their claims follow
    /// them to a new machine; else a standalone one, created on first use.
    static func identity() throws -> PeerIdentity {
        do {
            return try UserKeys.load(from: path).wireIdentity
        } catch .missing {
            // No user keys: the standalone identity below.
        } catch {
            // Damaged keys must not quietly become another identity.
            throw Failure(kind: .runtime, description: "\(error)")
        }
        do {
            return try PeerIdentity.loadOrCreate(at: path + "/identity.key")
        } catch {
            throw Failure(kind: .runtime, description: "\(error)")
        }
    }
}

/// Connects to `address` as the user's identity, runs `body`, and closes.
func withFragmentClient<Result: Sendable>(_ address: String,
                                          _ body: (FragmentClient) async throws -> Result) async throws -> Result {
    let (host, port) = try parseHostPort(address)
    let client = try await FragmentClient.connect(host: host, port: port, identity: try FludHome.identity())
    return try await using(client, close: { await $0.close() }, body)
}

func parseHostPort(_ text: String) throws -> (String, Int) {
    guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]),
          (1...65535).contains(port), colon != text.startIndex else {
        throw Failure.usage("'\(text)' is not a HOST:PORT address")
    }
    return (String(text[..<colon]), port)
}

func parseKey(_ text: String) throws -> ContentHash {
    guard let key = ContentHash(hex: text) else { throw Failure.usage("'\(text)' is not a key (64 hexadecimal digits)") }
    return key
}

/// Audit challenges precomputed while the data was at hand, kept in
/// $FLUD_HOME/challenges/KEY.json and used once each.
enum ChallengeFile {
    struct Entry: Codable {
        var challenge: AuditChallenge
        var answer: [UInt8]
    }

    static let perFragment = 8

    static func path(for key: ContentHash) -> String { FludHome.path + "/challenges/\(key.hex).json" }

    static func save(_ entries: [Entry], for key: ContentHash) throws {
        let path = path(for: key)
        try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent,
                                                withIntermediateDirectories: true)
        if entries.isEmpty {
            try? FileManager.default.removeItem(atPath: path)
            return
        }
        try JSONEncoder().encode(entries).write(to: URL(fileURLWithPath: path), options: .atomic)
    }

    static func load(for key: ContentHash) -> [Entry] {
        guard let data = FileManager.default.contents(atPath: path(for: key)) else { return [] }
        return (try? JSONDecoder().decode([Entry].self, from: data)) ?? []
    }

    /// Takes one challenge out of the file (before it is sent, so a
    /// challenge is never used twice, even after a crash).
    static func take(for key: ContentHash) throws -> Entry? {
        var entries = load(for: key)
        guard !entries.isEmpty else { return nil }
        let entry = entries.removeFirst()
        try save(entries, for: key)
        return entry
    }
}

struct NodeAddressOption: ParsableArguments {
    @Option(help: ArgumentHelp("The node to talk to.", valueName: "host:port"))
    var node: String
}

struct FragmentStoreCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "store",
        abstract: "Store FILE on a node as one fragment and print its key (BLAKE3 of its bytes).",
        discussion: """
            Also keeps \(ChallengeFile.perFragment) audit challenges for `flud fragment verify` \
            in $FLUD_HOME/challenges. \(FragmentExit.help)
            """
    )

    @OptionGroup var address: NodeAddressOption

    @Option(help: ArgumentHelp("Send the bytes under this key instead of their own (the node checks it).", valueName: "hex"))
    var key: String?

    @Argument(help: ArgumentHelp("The fragment's bytes.", valueName: "file"))
    var file: String

    func run() async throws {
        try await reportingFailures {
            let claimed = try key.map(parseKey)
            guard let data = FileManager.default.contents(atPath: file) else {
                throw Failure(kind: .runtime, description: "cannot read \(file)")
            }
            let bytes = Array(data)
            guard !bytes.isEmpty else { throw Failure(kind: .runtime, description: "\(file) is empty; a fragment holds at least one byte") }
            let key = claimed ?? ContentHash(fragment: bytes)
            let outcome = try await withFragmentClient(address.node) { try await $0.store(bytes, key: key) }
            try ChallengeFile.save(AuditChallenge.precompute(for: bytes, count: ChallengeFile.perFragment)
                .map { ChallengeFile.Entry(challenge: $0.challenge, answer: $0.answer) }, for: key)
            printNow(key.hex)
            if outcome != .stored { writeStandardError("flud: the node already held these bytes; your claim was \(outcome == .claimAdded ? "added" : "renewed")\n") }
        }
    }
}

struct FragmentRetrieveCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "retrieve",
        abstract: "Fetch a fragment by key, checked against the key, to standard output or OUT.",
        discussion: "OUT appears only once the whole fragment has arrived and checked out. \(FragmentExit.help)"
    )

    @OptionGroup var address: NodeAddressOption

    @Argument(help: ArgumentHelp("The fragment's key.", valueName: "key"))
    var key: String

    @Option(name: .short, help: ArgumentHelp("Write here instead of standard output.", valueName: "out"))
    var output: String?

    func run() async throws {
        try await reportingFailures {
            let key = try parseKey(key)
            let bytes = try await withFragmentClient(address.node) { try await $0.retrieve(key) }
            if let output {
                do {
                    try Data(bytes).write(to: URL(fileURLWithPath: output), options: .atomic)
                } catch {
                    throw Failure(kind: .runtime, description: "cannot write \(output) (\(error.localizedDescription))")
                }
            } else {
                FileHandle.standardOutput.write(Data(bytes))
            }
        }
    }
}

struct FragmentVerifyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract: "Audit a node: make it prove it still holds a fragment, without fetching it.",
        discussion: """
            The node must answer SHA-256(nonce ‖ bytes[offset ..< offset+length]) for a \
            fresh nonce. By default one of the challenges precomputed by `flud fragment \
            store` is used (and used up); with --file, a new challenge is made from a \
            local copy, over --offset/--length if given. Prints "verified" or fails \
            with status 1 when the answer is wrong. \(FragmentExit.help)
            """
    )

    @OptionGroup var address: NodeAddressOption

    @Argument(help: ArgumentHelp("The fragment's key.", valueName: "key"))
    var key: String

    @Option(help: ArgumentHelp("A local copy of the fragment to make a fresh challenge from.", valueName: "file"))
    var file: String?

    @Option(help: ArgumentHelp("First byte of the challenged range (with --file).", valueName: "bytes"))
    var offset: UInt64?

    @Option(help: ArgumentHelp("Length of the challenged range (with --file).", valueName: "bytes"))
    var length: UInt64?

    func run() async throws {
        try await reportingFailures {
            let key = try parseKey(key)
            let (challenge, expected) = try makeChallenge(for: key)
            let answer = try await withFragmentClient(address.node) { try await $0.verify(key, challenge: challenge) }
            guard let expected = expected() else {
                throw Failure(kind: .runtime, description: "the node answered a challenge beyond the end of the local copy")
            }
            guard answer == expected else {
                throw Failure(kind: .runtime, description: "audit FAILED: the node's answer for \(key.hex) is wrong; it has lost or altered the fragment")
            }
            printNow("verified \(key.hex) (bytes \(challenge.offset)..<\(challenge.offset + challenge.length))")
        }
    }

    /// The challenge, and how to compute the answer it expects.
    private func makeChallenge(for key: ContentHash) throws -> (AuditChallenge, () -> [UInt8]?) {
        guard let file else {
            guard offset == nil, length == nil else { throw Failure.usage("--offset and --length need --file") }
            guard let entry = try ChallengeFile.take(for: key) else {
                throw Failure(kind: .runtime, description: "no audit challenge left for \(key.hex) in \(FludHome.path)/challenges; pass --file with a local copy")
            }
            return (entry.challenge, { entry.answer })
        }
        guard let data = FileManager.default.contents(atPath: file) else {
            throw Failure(kind: .runtime, description: "cannot read \(file)")
        }
        let bytes = Array(data)
        let start = offset ?? 0
        let count = length ?? UInt64(bytes.count) - min(start, UInt64(bytes.count))
        let challenge = AuditChallenge.random(offset: start, length: count)
        return (challenge, {
            guard challenge.fits(size: bytes.count) else { return nil }
            return bytes.withUnsafeBytes { challenge.answer(for: $0) }
        })
    }
}

struct FragmentDeleteCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "delete",
        abstract: "Drop your claim on a fragment; the node deletes the bytes with the last claim.",
        discussion: FragmentExit.help
    )

    @OptionGroup var address: NodeAddressOption

    @Argument(help: ArgumentHelp("The fragment's key.", valueName: "key"))
    var key: String

    func run() async throws {
        try await reportingFailures {
            let key = try parseKey(key)
            _ = try await withFragmentClient(address.node) { try await $0.delete(key) }
            try? ChallengeFile.save([], for: key)
            printNow("deleted \(key.hex)")
        }
    }
}

struct FragmentListCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "list",
        abstract: "List the fragments you store on a node: key, size and lease expiry.",
        discussion: FragmentExit.help
    )

    @OptionGroup var address: NodeAddressOption

    @Flag(help: "One JSON object per fragment.")
    var json = false

    func run() async throws {
        try await reportingFailures {
            try await withFragmentClient(address.node) { client in
                var after: ContentHash?
                while true {
                    let page = try await client.list(after: after, limit: 1000)
                    for entry in page {
                        printNow(json ? JSONLine().field("key", entry.key.hex).field("size", Int(entry.size))
                                        .field("lease_expiry", Int(entry.leaseExpiry)).text
                                      : "\(entry.key.hex) \(entry.size) \(entry.leaseExpiry)")
                    }
                    guard page.count == 1000, let last = page.last else { return }
                    after = last.key
                }
            }
        }
    }
}
