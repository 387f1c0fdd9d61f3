import FludCodec
import FludTestSupport
import FludWire
import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// A `flud node` process of the test's own, stopped (or SIGKILLed) by PID.
final class NodeProcess {
    let process = Process()
    let port: Int
    let output = Pipe()

    /// Starts `flud node` on `port` and waits until it says it is listening;
    /// `unprivileged`, as `nobody` when the tests run as root (`data` must
    /// then be writable by it).
    init(data: String, port: Int, metricsPort: Int? = nil, bootstrap: String? = nil, unprivileged: Bool = false) async throws {
        self.port = port
        let arguments = ["node", "--data", data, "--port", "\(port)", "--log-level", "error"]
            + (metricsPort.map { ["--metrics-port", "\($0)"] } ?? [])
            + (bootstrap.map { ["--bootstrap", $0] } ?? [])
        (process.executableURL, process.arguments) = unprivileged ? Flud.unprivilegedCommand(arguments) : (Flud.executable, arguments)
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        try process.run()
        var collected = Data()
        for _ in 0..<200 where !collected.contains(UInt8(ascii: "\n")) {
            let chunk = try await output.fileHandleForReading.nextData()
            if chunk.isEmpty { break }
            collected += chunk
        }
        guard String(decoding: collected, as: UTF8.self).contains("listening on udp+tcp") else {
            process.terminate()
            throw WireError.unreachable("flud node did not start: \(String(decoding: collected, as: UTF8.self))")
        }
    }

    var address: String { "127.0.0.1:\(port)" }

    /// `count` nodes on free ports, node I storing in `scratch`'s `node-I`,
    /// each after the first bootstrapping from the first. An optimised build
    /// releases the array after its last use, and `deinit` kills the nodes:
    /// callers keep them with `defer { nodes.forEach { $0.stop() } }`.
    static func network(_ count: Int, in scratch: Scratch, unprivileged: Bool = false) async throws -> [NodeProcess] {
        var nodes: [NodeProcess] = []
        for index in 0..<count {
            nodes.append(try await NodeProcess(data: scratch.file("node-\(index)"), port: LoopbackSocket.freePort(),
                                               bootstrap: nodes.first?.address, unprivileged: unprivileged))
        }
        return nodes
    }

    func kill(_ signal: Int32) async throws {
        Glibc.kill(process.processIdentifier, signal)
        try await process.exited()
    }

    /// SIGKILLs the node if it still runs.
    func stop() {
        if process.isRunning { Glibc.kill(process.processIdentifier, SIGKILL) }
    }

    deinit { stop() }
}

/// A plain HTTP/1.1 GET on 127.0.0.1: the whole response, headers included.
func httpGet(port: Int, path: String) throws -> String {
    guard let fd = LoopbackSocket.connect(port: port) else { throw WireError.unreachable("no HTTP server on port \(port)") }
    defer { close(fd) }
    let request = Array("GET \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".utf8)
    _ = request.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
    var response: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 65536)
    while true {
        let count = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        guard count > 0 else { break }
        response += buffer.prefix(count)
        // Stop once the announced body is complete (the server may keep the connection).
        let text = String(decoding: response, as: UTF8.self)
        if let headerEnd = text.range(of: "\r\n\r\n"),
           let lengthLine = text[..<headerEnd.lowerBound].split(separator: "\r\n").first(where: { $0.lowercased().hasPrefix("content-length:") }),
           let length = Int(lengthLine.split(separator: ":")[1].trimmingCharacters(in: .whitespaces)),
           text.utf8.count - text.utf8.distance(from: text.utf8.startIndex, to: headerEnd.upperBound) >= length {
            break
        }
    }
    return String(decoding: response, as: UTF8.self)
}


/// `flud fragment …` and `flud node status` against a real `flud node` process.
@Suite(.timeLimit(.minutes(3)))
struct FragmentCommandTests {
    @Test func thePrimitivesFromTheShellWithTheirExitStatuses() async throws {
        let scratch = try Scratch()
        let metricsPort = LoopbackSocket.freePort()
        let node = try await NodeProcess(data: scratch.file("node"), port: LoopbackSocket.freePort(), metricsPort: metricsPort)
        let home = ["FLUD_HOME": scratch.file("home")]
        let original = try scratch.write("fragment", bytes: 8192, seed: 11)

        let store = try await Flud.run(["fragment", "store", "--node", node.address, scratch.file("fragment")], environment: home)
        #expect(store.status == 0, "\(store.stderr)")
        let key = store.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(key == ContentHash(fragment: Array(original)).hex)
        #expect(FileManager.default.fileExists(atPath: scratch.file("home/identity.key")), "identity created on first use")

        let retrieve = try await Flud.run(["fragment", "retrieve", "--node", node.address, key, "-o", scratch.file("back")], environment: home)
        #expect(retrieve.status == 0, "\(retrieve.stderr)")
        #expect(try scratch.read("back") == original)

        let verify = try await Flud.run(["fragment", "verify", "--node", node.address, key], environment: home)
        #expect(verify.status == 0, "\(verify.stderr)")
        #expect(verify.stdout.hasPrefix("verified \(key)"))
        let range = try await Flud.run(["fragment", "verify", "--node", node.address, key, "--file", scratch.file("fragment"),
                                  "--offset", "8000", "--length", "192"], environment: home)
        #expect(range.status == 0, "\(range.stderr)")
        let beyond = try await Flud.run(["fragment", "verify", "--node", node.address, key, "--file", scratch.file("fragment"),
                                   "--offset", "8000", "--length", "193"], environment: home)
        #expect(beyond.status == 4, "out of range is refused: \(beyond.stderr)")
        #expect(beyond.stderr.hasPrefix("flud: out of range"))

        _ = try scratch.write("other", bytes: 100, seed: 12)
        let badKey = try await Flud.run(["fragment", "store", "--node", node.address, "--key", key, scratch.file("other")], environment: home)
        #expect(badKey.status == 3, "\(badKey.stderr)")

        let status = try await Flud.run(["node", "status", "--json", node.address], environment: home)
        #expect(status.status == 0, "\(status.stderr)")
        let document = try #require(try JSONSerialization.jsonObject(with: Data(status.stdout.utf8)) as? [String: Any])
        #expect(document["fragments"] as? Int == 1)
        #expect(document["bytes_stored"] as? Int == 8192)
        #expect((document["key"] as? String)?.count == 64)
        let readable = try await Flud.run(["node", "status", node.address], environment: home)
        #expect(readable.stdout.contains("stored         1 fragments, 8192 bytes"), "\(readable.stdout)")
        #expect(try await Flud.run(["node", "status", "no-port-here"], environment: home).status == 1)

        // Refused before they run: a request before the handshake, and a
        // stream that breaks the framing (a body over the limit).
        for header in [Frame.header(kind: RequestKind.store.rawValue, status: 0, requestID: 1, bodyCount: 0),
                       Frame.header(kind: RequestKind.store.rawValue, status: 0, requestID: 1, bodyCount: 1 << 30)] {
            let raw = try #require(LoopbackSocket.connect(port: node.port))
            _ = header.withUnsafeBytes { send(raw, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            // The node's answer, then its hang-up: both counted by then.
            _ = try await onOwnThread {
                var answer = [UInt8](repeating: 0, count: 4096)
                while answer.withUnsafeMutableBytes({ recv(raw, $0.baseAddress, $0.count, 0) }) > 0 {}
            }
            close(raw)
        }
        let metrics = try httpGet(port: metricsPort, path: "/metrics")
        #expect(metrics.hasPrefix("HTTP/1.1 200 OK"))
        #expect(metrics.contains("type=\"store\",error=\"not_authenticated\"} 1"), "\(metrics)")
        #expect(metrics.contains("type=\"frame\",error=\"too_large\"} 1"), "\(metrics)")
        #expect(metrics.contains("flud_requests_total{node=\"") && metrics.contains("type=\"store\",status=\"ok\"} 1"), "\(metrics)")
        #expect(metrics.contains("type=\"store\",error=\"bad_key\"} 1"))
        #expect(metrics.contains("flud_audits_total"))
        #expect(metrics.contains("flud_request_duration_seconds_bucket"))
        #expect(metrics.contains("flud_fragments_stored"))

        let list = try await Flud.run(["fragment", "list", "--node", node.address], environment: home)
        #expect(list.stdout.hasPrefix("\(key) 8192 "))

        #expect(try await Flud.run(["fragment", "delete", "--node", node.address, key], environment: home).status == 0)
        #expect(try await Flud.run(["fragment", "delete", "--node", node.address, key], environment: home).status == 2)
        #expect(try await Flud.run(["fragment", "retrieve", "--node", node.address, key], environment: home).status == 2)
        let missing = try await Flud.run(["fragment", "verify", "--node", node.address, key, "--file", scratch.file("fragment")], environment: home)
        #expect(missing.status == 2, "\(missing.stderr)")

        try await node.kill(SIGTERM)
        #expect(node.process.terminationStatus == 0, "a clean stop on SIGTERM")
        let unreachable = try await Flud.run(["fragment", "retrieve", "--node", node.address, key], environment: home)
        #expect(unreachable.status == 5, "\(unreachable.stderr)")
        #expect(try await Flud.run(["fragment", "retrieve", "--node", node.address, "not-a-key"], environment: home).status == 1)
        #expect(try await Flud.run(["fragment", "retrieve", "--node", "nowhere", key], environment: home).status == 1)
        let missingNode = try await Flud.run(["fragment", "retrieve", key], environment: home)
        #expect(missingNode.status == 1 && missingNode.stderr.contains("--node"), "\(missingNode.stderr)")
    }

    /// A node SIGKILLed while clients are storing restarts with every fragment
    /// it had acknowledged intact.
    @Test func acknowledgedFragmentsSurviveSIGKILLUnderWriteLoad() async throws {
        let scratch = try Scratch()
        let data = scratch.file("node")
        let identity = PeerIdentity()
        var acknowledged: [Int] = []
        var next = 0
        for round in 0..<3 {
            let node = try await NodeProcess(data: data, port: LoopbackSocket.freePort())
            let client = try await FragmentClient.connect(host: "127.0.0.1", port: node.port, identity: identity)
            let first = next
            next += 2000
            let landed = AcknowledgedSet()
            let writers = Task {
                await withTaskGroup(of: Void.self) { group in
                    for lane in 0..<8 {
                        group.addTask {
                            var index = first + lane
                            while index < first + 2000, !Task.isCancelled {
                                guard (try? await client.store(crashTestFragment(index))) != nil else { return }
                                landed.insert(index)
                                index += 8
                            }
                        }
                    }
                }
            }
            // The kill lands once a random number of stores were acknowledged,
            // however fast or slowly the machine (or the build) gets there.
            let killAfter = Int.random(in: 1...400)
            for _ in 0..<60_000 where landed.count < killAfter { try await Task.sleep(for: .milliseconds(1)) }
            try await node.kill(SIGKILL)
            await writers.value
            await client.close()
            let landedThisRound = landed.values
            #expect(!landedThisRound.isEmpty, "round \(round): some stores landed before the kill")
            #expect(landedThisRound.count < 2000, "round \(round): the kill came while stores were running")
            acknowledged += landedThisRound
        }
        let node = try await NodeProcess(data: data, port: LoopbackSocket.freePort())
        let client = try await FragmentClient.connect(host: "127.0.0.1", port: node.port, identity: identity)
        for index in acknowledged {
            let bytes = crashTestFragment(index)
            #expect(try await client.retrieve(ContentHash(fragment: bytes)) == bytes, "fragment \(index) was acknowledged, then lost")
        }
        await client.close()
        try await node.kill(SIGTERM)
    }
}

/// Indices whose store was acknowledged, from many tasks.
final class AcknowledgedSet: @unchecked Sendable {
    private let lock = NSLock()
    private var set: [Int] = []

    func insert(_ value: Int) {
        lock.withLock { set.append(value) }
    }

    var values: [Int] { lock.withLock { set } }
    var count: Int { lock.withLock { set.count } }
}
