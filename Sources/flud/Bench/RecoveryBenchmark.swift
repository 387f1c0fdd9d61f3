import FludBackup
import FludCodec
import FludDHT
import FludNode
import FludWire
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// `flud bench recovery`: a local network of real `flud node` processes, a
/// generated dataset backed up, then a failure plan drawn and applied one or
/// more times (nodes SIGKILLed, packets dropped), each time a restore and DHT
/// lookups measured, and the restorability set against the binomial prediction.
struct RecoveryBenchmark {
    /// How the failure plan picks the nodes that die.
    enum KillModel: String, CaseIterable, Sendable {
        /// Each node dies with probability F, independently: the binomial model's assumption.
        case independent
        /// Exactly round(F × N) nodes, chosen at random.
        case exact
        /// Correlated failures: the nodes are split into racks (node i in rack
        /// i mod racks), and each rack dies whole with probability F.
        case rack
    }

    struct Plan: Sendable {
        var nodes: Int
        var dataShards: Int
        var parityShards: Int
        var kill: Double
        var killModel: KillModel = .independent
        /// Racks the nodes are split into, for `KillModel.rack`.
        var racks: Int = 4
        /// Fraction of packets dropped on loopback while the plan is applied.
        var loss: Double = 0
        /// Failure plans drawn on the same backup; the killed nodes come back between draws.
        var draws: Int = 1
        /// DHT lookups measured per draw.
        var lookups: Int = 20
        var files: Int
        var fileSize: Int

        var fragmentsPerChunk: Int { dataShards + parityShards }

        func victims() -> [Int] {
            switch killModel {
            case .independent:
                return (0..<nodes).filter { _ in Double.random(in: 0..<1) < kill }
            case .exact:
                return Array((0..<nodes).shuffled().prefix(Int((kill * Double(nodes)).rounded())))
            case .rack:
                let dead = Set((0..<racks).filter { _ in Double.random(in: 0..<1) < kill })
                return (0..<nodes).filter { dead.contains($0 % racks) }
            }
        }
    }

    struct Result: Sendable {
        let plan: Plan
        /// Nodes killed, averaged over the draws.
        let killed: Double
        /// Files restored byte-exact, as a fraction (mean over the draws).
        let restorable: Double
        /// Chunks with at least k fragments on surviving nodes, as a fraction (mean over the draws).
        let chunksRestorable: Double
        /// P(at least k of n fragments survive) with p = 1 − F.
        let predicted: Double
        /// Standard deviation of one draw's `chunksRestorable` under the kill
        /// model, simulated over the backup's actual placement.
        let predictedSD: Double
        /// Distinct chunks in the backup.
        let chunks: Int
        let backupSeconds: Double
        /// Median over the draws.
        let restoreSeconds: Double
        let repairSeconds: Double
        /// Median over the draws.
        let bytesFetched: Int
        let fragmentsRebuilt: Int
        /// Fragment bytes the repair fetched and stored (last draw).
        let repairBytes: Int
        /// DHT lookups that found the live node closest to their target.
        let lookupSuccesses: Int
        let lookups: Int
        /// Median and 95th percentile lookup time, in seconds.
        let lookupMedian: Double
        let lookupP95: Double

        /// How many standard errors the measured mean lies from the prediction.
        /// The spread is at least that of independent chunks, sqrt(p(1 − p)/chunks):
        /// 2,000 simulated draws cannot show a failure rarer than 1 in 2,000.
        var deviation: Double {
            let independent = (predicted * (1 - predicted) / Double(max(1, chunks))).squareRoot()
            let standardError = max(predictedSD, independent) / Double(plan.draws).squareRoot()
            let gap = chunksRestorable - predicted
            if standardError > 0 { return gap / standardError }
            return abs(gap) < 1e-9 ? 0 : .infinity
        }

        /// Within sampling error: |deviation| ≤ 3 standard errors.
        var matchesPrediction: Bool { abs(deviation) <= 3 }
    }

    /// One application of the failure plan.
    private struct Draw {
        var killed = 0
        var restorable = 0.0
        var chunksRestorable = 0.0
        var restoreSeconds = 0.0
        var bytesFetched = 0
        var lookupTimes: [Double] = []
        var lookupSuccesses = 0
        var repairSeconds = 0.0
        var rebuilt = 0
        var repairBytes = 0
    }

    let executable: String
    let directory: String

    /// P(X ≥ k) for X ~ Binomial(n, p).
    static func binomialAtLeast(_ k: Int, of n: Int, p: Double) -> Double {
        guard p < 1 else { return 1 }
        guard p > 0 else { return k == 0 ? 1 : 0 }
        var total = 0.0
        for i in k...n {
            // log C(n, i) + i log p + (n - i) log(1 - p), summed in log space for large n.
            let logChoose: Double = lgamma(Double(n + 1)) - lgamma(Double(i + 1)) - lgamma(Double(n - i + 1))
            let logSurvive: Double = Double(i) * log(p)
            let logDie: Double = Double(n - i) * log(1 - p)
            total += exp(logChoose + logSurvive + logDie)
        }
        return min(1, total)
    }

    func run(_ plan: Plan, runIndex: Int) async throws -> Result {
        let root = directory + "/run-\(runIndex)"
        defer { try? FileManager.default.removeItem(atPath: root) }
        let processes = try NodeProcesses.start(count: plan.nodes, executable: executable, directory: root + "/nodes")
        defer { processes.stopAll() }

        // The dataset: distinct random files, so every chunk is its own.
        let data = root + "/data"
        try FileManager.default.createDirectory(atPath: data, withIntermediateDirectories: true)
        var originals: [String: ContentHash] = [:]
        for index in 0..<plan.files {
            var generator = SystemRandomNumberGenerator()
            let bytes = (0..<plan.fileSize / 8).flatMap { _ in withUnsafeBytes(of: generator.next()) { Array($0) } }
            let path = data + "/file-\(index)"
            try Data(bytes).write(to: URL(fileURLWithPath: path))
            originals[path] = ContentHash(of: bytes)
        }

        let keys = UserKeys.generate()
        let home = root + "/home"
        try keys.save(in: home)
        let options = Backup.Options(paths: [data], dataShards: plan.dataShards, parityShards: plan.parityShards,
                                     averageChunkSize: 64 << 10)
        let writer = try await FragmentNetwork.join(bootstrap: [try DHTNode.address(processes.addresses[0])], identity: keys.wireIdentity)
        let found = await writer.nodes.count
        if found < plan.nodes {
            // Fragments would share nodes, and the binomial model would not hold.
            writeStandardError("flud: warning: the DHT showed \(found) of the \(plan.nodes) nodes; some chunks have several fragments on one node\n")
        }
        let backupStart = monotonicSeconds()
        let backup = try await Backup(keys: keys, network: writer, home: home, options: options).run { _ in }
        let backupSeconds = monotonicSeconds() - backupStart
        let stored = try await contents(of: backup.manifest, keys: keys, network: writer).storedChunks
        await writer.close()

        // Which nodes hold each distinct chunk's fragments, by node index.
        let nodeIndex = Dictionary(uniqueKeysWithValues: processes.addresses.enumerated().map { ($1, $0) })
        let holders = stored
            .map { chunk in chunk.object.fragments.compactMap { nodeIndex[$0.node] } }
        let nodeIDs = try processes.nodeIDs()

        var draws: [Draw] = []
        for number in 0..<plan.draws {
            let victims = plan.victims()
            processes.kill(victims)
            if plan.loss > 0 { try LossyNetwork.setLoss(plan.loss) }
            let last = number == plan.draws - 1
            let draw = try await measure(plan, victims: victims, processes: processes, nodeIDs: nodeIDs, holders: holders,
                                         keys: keys, originals: originals, target: root + "/restored-\(number)", repairing: last)
            if plan.loss > 0 { try LossyNetwork.setLoss(0) }
            draws.append(draw)
            try? FileManager.default.removeItem(atPath: root + "/restored-\(number)")
            if !last { try processes.restart(victims) }
        }

        func mean(_ value: (Draw) -> Double) -> Double { draws.map(value).reduce(0, +) / Double(draws.count) }
        let lookupTimes = draws.flatMap(\.lookupTimes).sorted()
        return Result(plan: plan, killed: mean { Double($0.killed) }, restorable: mean(\.restorable),
                      chunksRestorable: mean(\.chunksRestorable),
                      predicted: Self.binomialAtLeast(plan.dataShards, of: plan.fragmentsPerChunk, p: 1 - plan.kill),
                      predictedSD: Self.simulatedSpread(plan, holders: holders), chunks: holders.count,
                      backupSeconds: backupSeconds, restoreSeconds: median(draws.map(\.restoreSeconds)),
                      repairSeconds: draws.last?.repairSeconds ?? 0,
                      bytesFetched: Int(median(draws.map { Double($0.bytesFetched) })),
                      fragmentsRebuilt: draws.last?.rebuilt ?? 0, repairBytes: draws.last?.repairBytes ?? 0,
                      lookupSuccesses: draws.map(\.lookupSuccesses).reduce(0, +), lookups: lookupTimes.count,
                      lookupMedian: median(lookupTimes), lookupP95: percentile(lookupTimes, 0.95))
    }

    /// One draw with `victims` dead: DHT lookups, a full restore checked
    /// against the originals, and, for the last draw, a repair.
    private func measure(_ plan: Plan, victims: [Int], processes: NodeProcesses, nodeIDs: [NodeID], holders: [[Int]],
                         keys: UserKeys, originals: [String: ContentHash], target: String, repairing: Bool) async throws -> Draw {
        var draw = Draw(killed: victims.count)
        let dead = Set(victims)
        draw.chunksRestorable = Self.restorableFraction(holders, dead: dead, needing: plan.dataShards)
        let alive = processes.addresses.indices.filter { !dead.contains($0) }
        // No node left: nothing to ask, nothing restorable.
        guard !alive.isEmpty else { return draw }
        let reader: FragmentNetwork
        do {
            // Through three live nodes, as a user would list several, since packets get lost.
            reader = try await FragmentNetwork.join(bootstrap: try alive.prefix(3).map { try DHTNode.address(processes.addresses[$0]) },
                                                    identity: keys.wireIdentity, discovering: false)
        } catch {
            writeStandardError("flud: warning: could not join the network through a live node (\(error)); this draw restores nothing\n")
            return draw
        }

        // Lookups of random targets, four at a time: a success finds the live node closest to the target.
        for first in stride(from: 0, to: plan.lookups, by: 4) {
            let outcomes = await withTaskGroup(of: (Bool, Double).self) { group in
                for _ in first..<min(plan.lookups, first + 4) {
                    group.addTask {
                        let goal = NodeID.random()
                        let closest = alive.map { nodeIDs[$0] }.min { $0.distance(to: goal) < $1.distance(to: goal) }
                        let start = monotonicSeconds()
                        let found = await reader.dht.lookup(goal)
                        return (found.contains { $0.id == closest }, monotonicSeconds() - start)
                    }
                }
                return await group.reduce(into: []) { $0.append($1) }
            }
            draw.lookupSuccesses += outcomes.filter(\.0).count
            draw.lookupTimes += outcomes.map(\.1)
        }

        let restoreStart = monotonicSeconds()
        let restored = try? await Restore(keys: keys, network: reader, options: Restore.Options(target: target)).run { _ in }
        draw.restoreSeconds = monotonicSeconds() - restoreStart
        draw.bytesFetched = await reader.bytesFetched
        var intact = 0
        for (path, hash) in originals {
            if let bytes = FileManager.default.contents(atPath: target + path), ContentHash(of: Array(bytes)) == hash { intact += 1 }
        }
        draw.restorable = Double(intact) / Double(max(1, originals.count))
        if repairing, restored != nil {
            let repairStart = monotonicSeconds()
            let fetchedBefore = await reader.bytesFetched
            let storedBefore = await reader.bytesStored
            let repair = try? await Maintenance(keys: keys, network: reader).repair()
            draw.repairSeconds = monotonicSeconds() - repairStart
            draw.rebuilt = repair?.rebuilt ?? 0
            draw.repairBytes = await reader.bytesFetched - fetchedBefore + reader.bytesStored - storedBefore
        }
        await reader.close()
        return draw
    }

    /// The fraction of chunks (each given by its holders' node indices) with
    /// at least `needed` holders outside `dead`.
    static func restorableFraction(_ holders: [[Int]], dead: Set<Int>, needing needed: Int) -> Double {
        Double(holders.filter { $0.filter { !dead.contains($0) }.count >= needed }.count) / Double(max(1, holders.count))
    }

    /// The standard deviation of one draw's restorable-chunk fraction, from
    /// 2,000 simulated failure plans over the real placement `holders`.
    static func simulatedSpread(_ plan: Plan, holders: [[Int]]) -> Double {
        guard !holders.isEmpty else { return 0 }
        let fractions = (0..<2000).map { _ in restorableFraction(holders, dead: Set(plan.victims()), needing: plan.dataShards) }
        let average = fractions.reduce(0, +) / Double(fractions.count)
        return (fractions.map { ($0 - average) * ($0 - average) }.reduce(0, +) / Double(fractions.count - 1)).squareRoot()
    }
}

private func median(_ values: [Double]) -> Double { percentile(values.sorted(), 0.5) }

/// The `fraction` quantile of `sorted` (nearest rank); 0 when empty.
private func percentile(_ sorted: [Double], _ fraction: Double) -> Double {
    guard !sorted.isEmpty else { return 0 }
    let rank = Int((fraction * Double(sorted.count)).rounded(.up))
    return sorted[min(sorted.count, max(1, rank)) - 1]
}

/// Child `flud node` processes on consecutive ports of 127.0.0.1, killed by
/// PID; every one this created is gone when `stopAll` returns.
final class NodeProcesses: @unchecked Sendable {
    private var processes: [Process]
    let addresses: [String]
    private let executable: String
    private let directory: String
    /// Every child of this process, for the interrupt handler, and whether
    /// that handler ran (no node starts after it). Both under `lock`, which
    /// `launch` holds from spawning a child to recording it.
    nonisolated(unsafe) private static var everyChild: [pid_t] = []
    nonisolated(unsafe) private static var interrupted = false
    private static let lock = NSLock()

    private init(processes: [Process], addresses: [String], executable: String, directory: String) {
        self.processes = processes
        self.addresses = addresses
        self.executable = executable
        self.directory = directory
    }

    static func start(count: Int, executable: String, directory: String) throws -> NodeProcesses {
        for _ in 0..<20 {
            let base = Int.random(in: 21_000...(60_000 - count))
            let addresses = (0..<count).map { "127.0.0.1:\(base + $0)" }
            let nodes = NodeProcesses(processes: [], addresses: addresses, executable: executable, directory: directory)
            do {
                // Node 0 first: the others join through it.
                let first = try nodes.launch(0, bootstrap: nil)
                nodes.processes.append(first.process)
                guard waitForListening(first.output) else { throw CocoaError(.fileReadUnknown) }
                var outputs: [Pipe] = []
                for index in 1..<count {
                    let launched = try nodes.launch(index, bootstrap: addresses[0])
                    nodes.processes.append(launched.process)
                    outputs.append(launched.output)
                }
                guard outputs.allSatisfy(waitForListening) else { throw CocoaError(.fileReadUnknown) }
                return nodes
            } catch {
                // A port was taken (or a node failed to start): clean up, try other ports.
                nodes.stopAll()
                if wasInterrupted { throw error }
                try? FileManager.default.removeItem(atPath: directory)
            }
        }
        throw Failure(kind: .runtime, description: "could not start \(count) flud node processes on free ports")
    }

    /// Starts node `index` again on its port and data (after a kill), joining through a live node.
    func restart(_ indices: [Int]) throws {
        let alive = processes.indices.filter { processes[$0].isRunning }
        var outputs: [Pipe] = []
        for index in indices {
            let launched = try launch(index, bootstrap: alive.first.map { addresses[$0] })
            processes[index] = launched.process
            outputs.append(launched.output)
        }
        guard outputs.allSatisfy(Self.waitForListening) else {
            throw Failure(kind: .runtime, description: "a restarted flud node did not come back")
        }
    }

    /// Each node's DHT ID, from the identity it keeps in its data directory.
    func nodeIDs() throws -> [NodeID] {
        try addresses.indices.map { index in
            StorageNode.nodeID(for: try PeerIdentity.loadOrCreate(at: "\(directory)/node-\(index)/identity.key").publicKey)
        }
    }

    private func launch(_ index: Int, bootstrap: String?) throws -> (process: Process, output: Pipe) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = ["node", "--data", "\(directory)/node-\(index)", "--port", String(addresses[index].split(separator: ":")[1]),
                             "--log-level", "error"] + (bootstrap.map { ["--bootstrap", $0] } ?? [])
        let output = Pipe()
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        try Self.lock.withLock {
            guard !Self.interrupted else { throw Failure(kind: .runtime, description: "interrupted") }
            try process.run()
            Self.everyChild.append(process.processIdentifier)
        }
        return (process, output)
    }

    private static func waitForListening(_ pipe: Pipe) -> Bool {
        var collected = Data()
        for _ in 0..<200 where !collected.contains(UInt8(ascii: "\n")) {
            let chunk = pipe.fileHandleForReading.availableData
            if chunk.isEmpty { return false }
            collected += chunk
        }
        return String(decoding: collected, as: UTF8.self).contains("listening")
    }

    func kill(_ indices: [Int]) {
        for index in indices where processes[index].isRunning {
            Glibc.kill(processes[index].processIdentifier, SIGKILL)
            processes[index].waitUntilExit()
        }
    }

    func stopAll() {
        kill(Array(processes.indices))
    }

    /// SIGKILLs every node process started so far and lets no other start
    /// (from a signal handler's queue, while the benchmark may be starting nodes).
    static func killEveryChild() {
        let children = lock.withLock {
            interrupted = true
            for pid in everyChild { Glibc.kill(pid, SIGKILL) }
            return everyChild
        }
        // A killed process dies when it next runs, which on a busy machine
        // can be after this one exits: wait (bounded) until each is gone.
        let deadline = Date().addingTimeInterval(10)
        for pid in children {
            while isAlive(pid), Date() < deadline { usleep(1_000) }
        }
    }

    static var wasInterrupted: Bool { lock.withLock { interrupted } }

    /// Whether `pid` still runs: it exists and is not a zombie (state Z or X in /proc).
    private static func isAlive(_ pid: pid_t) -> Bool {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let afterName = stat.lastIndex(of: ")") else { return false }
        let state = stat[afterName...].dropFirst(2).first
        return state != "Z" && state != "X"
    }
}
