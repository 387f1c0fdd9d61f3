import FludCodec
import FludDHT
import FludTestSupport
import Foundation
import Testing

/// `flud dht` and `flud node` against real DHT nodes on 127.0.0.1.
@Suite(.timeLimit(.minutes(2)))
struct NodeCommandTests {
    @Test func dhtPingPrintsTheNodeID() async throws {
        let node = try await DHTNode.start()
        let run = try await Flud.run(["dht", "ping", "127.0.0.1:\(node.port)"])
        #expect(run.status == 0, "\(run.stderr)")
        #expect(run.stdout == node.id.hex + "\n")
        await node.close()
    }

    @Test func dhtPingOfNobodyFailsClearly() async throws {
        let run = try await Flud.run(["dht", "ping", "--timeout", "0.2", "127.0.0.1:9"])
        #expect(run.status == 1)
        #expect(run.stderr == "flud: no answer from 127.0.0.1:9 within 0.2 s\n")
        #expect(try await Flud.run(["dht", "ping", "nonsense"]).status == 64)
    }

    @Test func findNodePrintsTheClosestNodes() async throws {
        var nodes: [DHTNode] = []
        for _ in 0..<12 { nodes.append(try await DHTNode.start()) }
        let seed = try DHTNode.address("127.0.0.1:\(nodes[0].port)")
        for node in nodes.dropFirst() { await node.bootstrap(from: [seed]) }
        let target = NodeID.random()
        let run = try await Flud.run(["dht", "find-node", "--bootstrap", "127.0.0.1:\(nodes[0].port)", target.hex])
        #expect(run.status == 0, "\(run.stderr)")
        let printed = run.stdout.split(separator: "\n").map { String($0.prefix(40)) }
        let truth = nodes.map(\.id).sorted { $0.distance(to: target) < $1.distance(to: target) }.prefix(8).map(\.hex)
        #expect(printed == Array(truth))
        for node in nodes { await node.close() }
    }

    /// A node started with a bootstrap contact saves its routing table when
    /// stopped (SIGINT, as Ctrl-C sends) and rejoins from it on restart, with
    /// no bootstrap given; SIGTERM stops it as cleanly.
    @Test func nodeStopsOnSIGINTOrSIGTERMAndRejoinsFromItsSavedRoutingTable() async throws {
        let peer = try await DHTNode.start()
        let scratch = try TemporaryDirectory()
        let port = LoopbackSocket.freePort()
        let first = try await runNode(["node", "--data", scratch.path, "--port", "\(port)", "--bootstrap", "127.0.0.1:\(peer.port)"],
                                     stoppingWith: SIGINT)
        #expect(first.status == 0, "\(first.stderr)")
        #expect(first.stdout.contains("listening on udp+tcp 127.0.0.1:\(port), 1 contacts"))
        let second = try await runNode(["node", "--data", scratch.path, "--port", "\(port)"])
        #expect(second.status == 0, "\(second.stderr)")
        #expect(second.stdout.contains(", 1 contacts"), "\(second.stdout)")
        #expect(first.stdout.prefix(50) == second.stdout.prefix(50), "the node keeps its ID across restarts")
        await peer.close()
    }

    /// `--home`: the node proves the user's key (`flud key show`'s node
    /// identity); a home without keys is a clear error.
    @Test func aNodeRunAsItsUserProvesTheUsersKey() async throws {
        let scratch = try TemporaryDirectory()
        let home = ["FLUD_HOME": scratch.file("home")]
        #expect(try await Flud.run(["key", "init"], environment: home).status == 0)
        let shown = try await Flud.run(["key", "show"], environment: home)
        let userKey = try #require(shown.stdout.split(separator: "\n").first { $0.hasPrefix("node identity") }?
            .split(separator: " ").last.map(String.init))
        let port = LoopbackSocket.freePort()
        let run = try await runNode(["node", "--data", scratch.file("node"), "--port", "\(port)", "--home", scratch.file("home")])
        #expect(run.status == 0, "\(run.stderr)")
        #expect(run.stdout.hasPrefix("flud node \(userKey) listening"), "\(run.stdout)")
        let keyless = try await Flud.run(["node", "--data", scratch.file("other"), "--port", "\(port)", "--home", scratch.file("nobody")])
        #expect(keyless.status == 1)
        #expect(keyless.stderr.contains(scratch.file("nobody")), "\(keyless.stderr)")
    }

    /// `flud cluster`: N nodes in one process on consecutive ports, each
    /// listed with its own key; a clean stop on SIGTERM; bad options are
    /// usage errors.
    @Test func aClusterRunsItsNodesOnConsecutivePorts() async throws {
        let scratch = try TemporaryDirectory()
        let port = LoopbackSocket.freePort()
        let run = try await runNode(["cluster", "--nodes", "3", "--data", scratch.path, "--base-port", "\(port)", "--log-level", "error"])
        #expect(run.status == 0, "\(run.stderr)")
        let lines = run.stdout.split(separator: "\n")
        #expect(lines.count == 3, "\(run.stdout)")
        for (index, line) in lines.enumerated() {
            #expect(line.hasPrefix("node \(index) ") && line.contains("udp+tcp 127.0.0.1:\(port + index)"), "\(line)")
        }
        #expect(Set(lines.map { $0.split(separator: " ")[2] }).count == 3, "three identities")
        #expect(FileManager.default.fileExists(atPath: scratch.file("node-2/identity.key")))
        for bad in [["--nodes", "0"], ["--nodes", "2", "--log-level", "loud"]] {
            #expect(try await Flud.run(["cluster", "--data", scratch.path, "--base-port", "\(port)"] + bad).status == 64, "\(bad)")
        }
    }

    /// Starts `flud` with `arguments`, waits for its first line, sends `signal`.
    func runNode(_ arguments: [String], stoppingWith signal: Int32 = SIGTERM) async throws -> FludRun {
        let process = Process()
        process.executableURL = Flud.executable
        process.arguments = arguments
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        var collected = Data()
        for _ in 0..<100 where !collected.contains(UInt8(ascii: "\n")) {
            collected += try await out.fileHandleForReading.nextData()
        }
        kill(process.processIdentifier, signal)
        collected += try await out.fileHandleForReading.remainingData()
        try await process.exited()
        return FludRun(status: process.terminationStatus, stdout: String(decoding: collected, as: UTF8.self),
                       stderr: String(decoding: try await err.fileHandleForReading.remainingData(), as: UTF8.self))
    }
}

extension NodeCommandTests {
    @Test func dhtPutThenGetImmutableAndMutableItems() async throws {
        var nodes: [DHTNode] = []
        for _ in 0..<10 { nodes.append(try await DHTNode.start()) }
        let seed = try DHTNode.address("127.0.0.1:\(nodes[0].port)")
        for node in nodes.dropFirst() { await node.bootstrap(from: [seed]) }
        let bootstrap = ["--bootstrap", "127.0.0.1:\(nodes[0].port)"]

        let put = try await Flud.run(["dht", "put"] + bootstrap + ["--value", "hello flud"])
        #expect(put.status == 0, "\(put.stderr)")
        let target = put.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(target.count == 40)
        let get = try await Flud.run(["dht", "get"] + bootstrap + [target])
        #expect(get.stdout == "hello flud\n", "\(get.stderr)")

        let scratch = try TemporaryDirectory()
        try String(repeating: "ab", count: 32).write(toFile: scratch.file("key"), atomically: true, encoding: .utf8)
        let key = SigningKey(seed: [UInt8](repeating: 0xAB, count: 32))!
        let publicKey = key.publicKey.map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined()
        for version in ["v1", "v2"] {
            let mutable = try await Flud.run(["dht", "put"] + bootstrap + ["--value", version, "--key", scratch.file("key"), "--salt", "root"])
            #expect(mutable.status == 0, "\(mutable.stderr)")
        }
        let latest = try await Flud.run(["dht", "get", "--json"] + bootstrap + ["--public-key", publicKey, "--salt", "root"])
        #expect(latest.status == 0, "\(latest.stderr)")
        #expect(latest.stdout.contains("\"v\":\"v2\"") && latest.stdout.contains("\"seq\":2"))

        let missing = try await Flud.run(["dht", "get"] + bootstrap + [String(repeating: "0", count: 40)])
        #expect(missing.status == 1)
        #expect(missing.stderr.hasPrefix("flud: no item found at"))
        for node in nodes { await node.close() }
    }
}

extension NodeCommandTests {
    @Test func benchDHTPrintsEveryPhaseAsJSON() async throws {
        let run = try await Flud.run(["bench", "dht", "--nodes", "12", "--keys", "5", "--json"])
        #expect(run.status == 0, "\(run.stderr)")
        let phases = try run.stdout.split(separator: "\n").map {
            try #require(try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any])
        }
        #expect(phases.map { $0["phase"] as? String } == ["put", "get", "get_concurrent", "get_after_kill", "get_after_kill_second_pass"])
        for phase in phases {
            // The concurrent phase gets every item ten times.
            #expect(phase["n"] as? Int == (phase["phase"] as? String == "get_concurrent" ? 50 : 5))
            for field in ["success", "p50_ms", "p99_ms", "ops_per_s", "msgs_per_lookup", "cpu_us_per_op"] {
                #expect(phase[field] is Double, "\(field)")
            }
        }
        #expect(phases.first?["success"] as? Double == 1.0)
    }
}

extension NodeCommandTests {
    /// Both forms print a store and a retrieve phase per size and concurrency;
    /// `--cold` names its retrieves retrieve_cold. The node's store goes away.
    @Test(arguments: [false, true])
    func benchNodePrintsEveryPhaseAsJSON(cold: Bool) async throws {
        let scratch = try Scratch()
        let run = try await Flud.run(["bench", "node", "--json", "--data", scratch.path, "--sizes", "65536",
                                "--concurrency", "1,4", "--bytes-per-phase", "1048576"] + (cold ? ["--cold"] : []))
        #expect(run.status == 0, "\(run.stderr)")
        let phases = try run.stdout.split(separator: "\n").map {
            try #require(try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any])
        }
        let retrieve = cold ? "retrieve_cold" : "retrieve"
        #expect(phases.map { $0["op"] as? String } == ["store", retrieve, "store", retrieve])
        #expect(phases.map { $0["concurrency"] as? Int } == [1, 1, 4, 4])
        for phase in phases {
            #expect(phase["size"] as? Int == 65536 && phase["n"] as? Int == 16)
            for field in ["mb_per_s", "ops_per_s", "p50_ms", "p99_ms"] {
                #expect((phase[field] as? Double ?? 0) > 0, "\(field)")
            }
        }
        #expect(try scratch.listing().isEmpty, "the benchmark's store is removed")
    }
}
