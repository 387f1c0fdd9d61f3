import FludBackup
import FludCodec
import FludDHT
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// `flud bench recovery`: a local network of real `flud node` processes, a
/// generated dataset backed up, a fraction of the nodes SIGKILLed, then a
/// restore and a repair, measured and set against the binomial prediction.
struct RecoveryBenchmark {
    struct Plan: Sendable {
        var nodes: Int
        var dataShards: Int
        var parityShards: Int
        var kill: Double
        var files: Int
        var fileSize: Int
    }

    struct Result: Sendable {
        let plan: Plan
        let killed: Int
        /// Files restored byte-exact, as a fraction.
        let restorable: Double
        /// Chunks with at least k fragments on surviving nodes, as a fraction.
        let chunksRestorable: Double
        /// P(at least k of n fragments survive) with p = surviving fraction of nodes.
        let predicted: Double
        let backupSeconds: Double
        let restoreSeconds: Double
        let repairSeconds: Double
        let bytesFetched: Int
        let fragmentsRebuilt: Int
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
        await writer.close()

        // The failure plan: round(F × N) nodes die at once, without a goodbye.
        var generator = SystemRandomNumberGenerator()
        let victims = Array((0..<plan.nodes).shuffled(using: &generator).prefix(Int((plan.kill * Double(plan.nodes)).rounded())))
        processes.kill(victims)
        let dead = Set(victims.map { processes.addresses[$0] })
        let survivor = processes.addresses.indices.first { !victims.contains($0) }
        guard let survivor else {
            return Result(plan: plan, killed: victims.count, restorable: 0, chunksRestorable: 0,
                          predicted: Self.binomialAtLeast(plan.dataShards, of: plan.dataShards + plan.parityShards, p: 0),
                          backupSeconds: backupSeconds, restoreSeconds: 0, repairSeconds: 0, bytesFetched: 0, fragmentsRebuilt: 0)
        }

        var seen = Set<String>()
        let chunks = backup.manifest.entries.flatMap { $0.chunks ?? [] }.filter { seen.insert($0.hash).inserted }
        let restorableChunks = chunks.filter { chunk in
            chunk.object.fragments.filter { !dead.contains($0.node) }.count >= chunk.object.dataShards
        }.count
        let surviving = 1 - Double(victims.count) / Double(plan.nodes)

        let reader = try await FragmentNetwork.join(bootstrap: [try DHTNode.address(processes.addresses[survivor])],
                                                    identity: keys.wireIdentity, discovering: false)
        let target = root + "/restored"
        let restoreStart = monotonicSeconds()
        let restored = try? await Restore(keys: keys, network: reader, options: Restore.Options(target: target)).run { _ in }
        let restoreSeconds = monotonicSeconds() - restoreStart
        let bytesFetched = await reader.bytesFetched
        var intact = 0
        for (path, hash) in originals {
            if let bytes = FileManager.default.contents(atPath: target + path), ContentHash(of: Array(bytes)) == hash { intact += 1 }
        }
        let repairStart = monotonicSeconds()
        let repair = restored == nil ? nil : try? await Maintenance(keys: keys, network: reader).repair()
        let repairSeconds = monotonicSeconds() - repairStart
        await reader.close()

        return Result(plan: plan, killed: victims.count, restorable: Double(intact) / Double(max(1, plan.files)),
                      chunksRestorable: Double(restorableChunks) / Double(max(1, chunks.count)),
                      predicted: Self.binomialAtLeast(plan.dataShards, of: plan.dataShards + plan.parityShards, p: surviving),
                      backupSeconds: backupSeconds, restoreSeconds: restoreSeconds, repairSeconds: repairSeconds,
                      bytesFetched: bytesFetched, fragmentsRebuilt: repair?.rebuilt ?? 0)
    }
}

/// Child `flud node` processes on consecutive ports of 127.0.0.1, killed by
/// PID; every one this created is gone when `stopAll` returns.
final class NodeProcesses: @unchecked Sendable {
    private(set) var processes: [Process] = []
    let addresses: [String]
    /// Every child of this process, for the interrupt handler.
    nonisolated(unsafe) static var everyChild: [pid_t] = []
    private static let lock = NSLock()

    private init(processes: [Process], addresses: [String]) {
        self.processes = processes
        self.addresses = addresses
    }

    static func start(count: Int, executable: String, directory: String) throws -> NodeProcesses {
        for _ in 0..<20 {
            let base = Int.random(in: 21_000...(60_000 - count))
            let addresses = (0..<count).map { "127.0.0.1:\(base + $0)" }
            var started: [Process] = []
            var outputs: [Pipe] = []
            do {
                for index in 0..<count {
                    let process = Process()
                    process.executableURL = URL(fileURLWithPath: executable)
                    process.arguments = ["node", "--data", "\(directory)/node-\(index)", "--port", "\(base + index)",
                                         "--log-level", "error"] + (index == 0 ? [] : ["--bootstrap", addresses[0]])
                    let output = Pipe()
                    process.standardOutput = output
                    process.standardError = FileHandle.nullDevice
                    try process.run()
                    lock.withLock { everyChild.append(process.processIdentifier) }
                    started.append(process)
                    outputs.append(output)
                    // Node 0 first: the others join through it.
                    if index == 0, !waitForListening(output) { throw CocoaError(.fileReadUnknown) }
                }
                guard outputs.dropFirst().allSatisfy(waitForListening) else { throw CocoaError(.fileReadUnknown) }
                return NodeProcesses(processes: started, addresses: addresses)
            } catch {
                // A port was taken (or a node failed to start): clean up, try other ports.
                for process in started { Glibc.kill(process.processIdentifier, SIGKILL); process.waitUntilExit() }
                try? FileManager.default.removeItem(atPath: directory)
            }
        }
        throw Failure(kind: .runtime, description: "could not start \(count) flud node processes on free ports")
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

    /// SIGKILLs every node process started so far (from a signal handler's queue).
    static func killEveryChild() {
        lock.withLock { for pid in everyChild { Glibc.kill(pid, SIGKILL) } }
    }
}
