import ArgumentParser
import FludBackup
import FludCodec
@preconcurrency import Dispatch
import Foundation
#if canImport(Glibc)
import Glibc
#endif

struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Measure flud's throughput on this machine.",
        subcommands: [CodecBenchCommand.self, StoreBenchCommand.self, DHTBenchCommand.self, DHTSimulationBenchCommand.self,
                      NodeBenchCommand.self,
                      PipelineBenchCommand.self, RecoveryBenchCommand.self]
    )
}

struct CodecBenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "codec",
        abstract: "Reed-Solomon encode and worst-case decode throughput, per kernel.",
        discussion: """
            By default measures the codes 4+2, 10+4 and 20+20 at 1 MiB and 64 MiB of \
            data per call with every kernel this CPU supports. Decode rebuilds \
            min(k, m) lost data shards, the worst case. Figures are medians, in \
            GB/s (10^9 bytes/s) of data, single thread. The kernel flud uses by \
            default is marked with * (set FLUD_KERNEL to force another). Build with \
            -c release for meaningful numbers.
            """
    )

    @Flag(help: "Print one JSON object per line instead of a table.")
    var json = false

    @Option(name: .short, help: "Measure only this k (needs -m).")
    var k: Int?

    @Option(name: .short, help: "Measure only this m (needs -k).")
    var m: Int?

    @Option(help: ArgumentHelp("Measure only this many data bytes per call.", valueName: "bytes"))
    var size: Int?

    @Option(help: ArgumentHelp("Measure only this kernel (\(CodecKernel.allCases.map(\.rawValue).joined(separator: ", "))).", valueName: "name"))
    var kernel: String?

    func run() throws {
        try reportingFailures {
            let codes = try selectedCodes()
            let sizes = try selectedSizes()
            let kernels = try selectedKernels()
            let table = ResultTable(json: json)
            for (k, m) in codes {
                for size in sizes {
                    for kernel in kernels {
                        let benchmark = CodecBenchmark(dataShards: k, parityShards: m, bytes: size, kernel: kernel)
                        try benchmark.run().forEach(table.add)
                    }
                }
            }
            table.finish()
        }
    }

    private func selectedCodes() throws -> [(Int, Int)] {
        switch (k, m) {
        case (nil, nil):
            return [(4, 2), (10, 4), (20, 20)]
        case let (k?, m?):
            guard k >= 1, m >= 1, k + m <= 255 else {
                throw Failure.usage("k and m must be at least 1 and k + m at most 255 (got k = \(k), m = \(m))")
            }
            return [(k, m)]
        default:
            throw Failure.usage("-k and -m go together")
        }
    }

    private func selectedSizes() throws -> [Int] {
        guard let size else { return [1 << 20, 64 << 20] }
        guard size >= 1, size <= 1 << 30 else {
            throw Failure.usage("--size must be between 1 byte and 1 GiB (got \(size))")
        }
        return [size]
    }

    private func selectedKernels() throws -> [CodecKernel] {
        guard let kernel else { return CodecKernel.supported }
        guard let chosen = CodecKernel(rawValue: kernel) else {
            throw Failure.usage("unknown kernel '\(kernel)' (known: \(CodecKernel.allCases.map(\.rawValue).joined(separator: ", ")))")
        }
        guard chosen.isSupported else { throw Failure(kind: .runtime, description: "the \(kernel) kernel cannot run on this CPU") }
        return [chosen]
    }
}

/// Prints results as they come: a JSON object per line, or table rows.
private final class ResultTable {
    let json: Bool
    private var printedHeader = false

    init(json: Bool) { self.json = json }

    func add(_ result: CodecBenchmark.Result) {
        let isDefault = result.kernel == CodecKernel.default
        if json {
            print(JSONLine()
                .field("op", result.operation.rawValue)
                .field("k", result.dataShards)
                .field("m", result.parityShards)
                .field("bytes", result.bytes)
                .field("kernel", result.kernel.rawValue)
                .field("default", isDefault)
                .field("gbps", (result.gigabytesPerSecond * 100).rounded() / 100)
                .text)
            return
        }
        if !printedHeader {
            print("code    data/call  op      kernel    GB/s")
            printedHeader = true
        }
        let code = "\(result.dataShards)+\(result.parityShards)"
        let kernel = result.kernel.rawValue + (isDefault ? "*" : "")
        print(code.padded(8) + formatBytes(result.bytes).padded(11) + result.operation.rawValue.padded(8)
              + kernel.padded(10) + String(format2: result.gigabytesPerSecond))
    }

    func finish() {
        if !json { print("* the kernel flud uses by default; GB/s = 10^9 bytes of data per second, median") }
    }
}

extension String {
    func padded(_ width: Int) -> String {
        self + String(repeating: " ", count: max(1, width - count))
    }

    /// A number with two decimals.
    init(format2 value: Double) {
        let hundredths = Int((abs(value) * 100).rounded())
        let fraction = String(hundredths % 100)
        self = (value < 0 && hundredths > 0 ? "-" : "") + "\(hundredths / 100)." + (fraction.count == 1 ? "0" + fraction : fraction)
    }
}

struct StoreBenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "store",
        abstract: "Block store put and get throughput: 4 KiB, 64 KiB and 1 MiB fragments.",
        discussion: """
            Each configuration (size × batched or single × durable or not) runs \
            against a fresh store in a temporary folder under --dir. Puts include \
            the key check (BLAKE3) and CRC-32C of every fragment and the commit; gets verify the \
            CRC-32C. Batched puts keep 64 in flight and share commits; batched \
            gets read 256 fragments per transaction. Use a tmpfs folder (e.g. \
            /dev/shm) to measure the store rather than the disk. With --cold, \
            each configuration also closes the store after its puts, drops its \
            file from the page cache, reopens it and reads every fragment once \
            (op "get_cold"): how a node serves fragments from the disk after a \
            restart or once they left the cache (on tmpfs nothing is dropped).
            """
    )

    @Option(help: ArgumentHelp("Where to create the benchmark stores (removed afterwards).", valueName: "dir"))
    var dir: String = FileManager.default.temporaryDirectory.path

    @Flag(help: "Print one JSON object per line instead of a table.")
    var json = false

    @Option(help: ArgumentHelp("Measure only this fragment size.", valueName: "bytes"))
    var size: Int?

    @Option(help: ArgumentHelp("Longest time spent on each put or get run.", valueName: "seconds"))
    var seconds: Double = 2

    @Flag(help: "Also read every fragment once from the medium, not the page cache (op get_cold).")
    var cold = false

    func run() async throws {
        try await reportingFailures {
            if let size, !(1...(64 << 20)).contains(size) {
                throw Failure.usage("--size must be between 1 byte and 64 MiB (got \(size))")
            }
            guard seconds > 0, seconds <= 600 else { throw Failure.usage("--seconds must be between 0 and 600") }
            guard FileSystemCheck.isDirectory(dir) else { throw Failure(kind: .runtime, description: "\(dir) is not a directory") }
            if !json { print((cold ? "op       " : "op   ") + "size      batched  durable   ops/s        MB/s") }
            for valueBytes in size.map({ [$0] }) ?? [4 << 10, 64 << 10, 1 << 20] {
                for batched in [false, true] {
                    for durable in [true, false] {
                        let folder = "\(dir)/flud-bench-store-\(getpid())-\(valueBytes)-\(batched)-\(durable)"
                        defer { try? FileManager.default.removeItem(atPath: folder) }
                        let benchmark = StoreBenchmark(directory: folder, valueBytes: valueBytes, batched: batched,
                                                       durable: durable, seconds: seconds, cold: cold)
                        for result in try await benchmark.run() { printStoreResult(result) }
                    }
                }
            }
        }
    }

    private func printStoreResult(_ result: StoreBenchmark.Result) {
        if json {
            print(JSONLine()
                .field("op", result.operation)
                .field("value_bytes", result.valueBytes)
                .field("batched", result.batched)
                .field("durable", result.durable)
                .field("ops_per_s", result.operationsPerSecond.rounded())
                .field("mb_per_s", (result.megabytesPerSecond * 10).rounded() / 10)
                .text)
        } else {
            print(result.operation.padded(cold ? 9 : 5) + formatBytes(result.valueBytes).padded(10)
                  + String(result.batched).padded(9) + String(result.durable).padded(10)
                  + String(Int(result.operationsPerSecond)).padded(13) + String(format2: result.megabytesPerSecond))
        }
    }
}

struct DHTBenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dht",
        abstract: "DHT put/get latency and throughput on a local network, healthy and after 30 % of nodes die.",
        discussion: """
            Starts --nodes DHT nodes in this process on 127.0.0.1, puts and gets \
            --keys immutable items one at a time, gets every item ten times more at \
            concurrency 32 (get_concurrent, n = 10 × keys: 32 reading nodes, each \
            getting items one after another on its own event loop), then closes \
            30 % of the nodes without a goodbye and gets every item twice more. \
            msgs/lookup counts queries sent by all nodes per operation; cpu µs/op \
            (cpu_us_per_op) is this process's CPU time per operation, all nodes \
            together, which a busy machine disturbs less than ops/s.
            """
    )

    @Option(help: "Nodes in the local network.")
    var nodes: Int = 200

    @Option(help: "Items to put and get.")
    var keys: Int = 500

    @Flag(help: "Print one JSON object per phase instead of a table.")
    var json = false

    func run() async throws {
        try await reportingFailures {
            guard (4...2000).contains(nodes) else { throw Failure.usage("--nodes must be 4 to 2000") }
            guard (1...100_000).contains(keys) else { throw Failure.usage("--keys must be 1 to 100000") }
            if !json { print("phase                        n   success  p50 ms   p99 ms   ops/s     msgs/lookup  cpu µs/op") }
            let json = self.json
            try await DHTBenchmark(nodes: nodes, keys: keys) { phase in
                if json {
                    print(JSONLine().field("phase", phase.name).field("n", phase.count)
                        .field("success", (phase.success * 1000).rounded() / 1000)
                        .field("p50_ms", (phase.p50 * 100).rounded() / 100).field("p99_ms", (phase.p99 * 100).rounded() / 100)
                        .field("ops_per_s", phase.operationsPerSecond.rounded())
                        .field("msgs_per_lookup", (phase.messagesPerLookup * 10).rounded() / 10)
                        .field("cpu_us_per_op", phase.cpuMicrosecondsPerOperation.rounded()).text)
                } else {
                    print(phase.name.padded(27) + String(phase.count).padded(6) + String(format2: phase.success).padded(9)
                          + String(format2: phase.p50).padded(9) + String(format2: phase.p99).padded(9)
                          + String(Int(phase.operationsPerSecond)).padded(10) + String(format2: phase.messagesPerLookup).padded(13)
                          + String(Int(phase.cpuMicrosecondsPerOperation.rounded())))
                }
            }.run()
        }
    }
}

struct DHTSimulationBenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dht-sim",
        abstract: "DHT lookups on simulated networks of up to tens of thousands of nodes (virtual clock, no sockets).",
        discussion: """
            For each size in --nodes, builds a network whose nodes join one by one \
            (each learns one live node and looks up its own ID), then runs --lookups \
            lookups of random targets from random nodes with the node's own lookup \
            code: α = 3, k = 8, messages 10-100 ms round trip, 500 ms timeout. On the \
            largest network, --churn of the nodes then leave without a goodbye and the \
            lookups run twice; then the survivors do 20 minutes of the upkeep a node \
            does every minute (ping quiet contacts, refresh idle buckets) before a \
            third run, and as many new nodes join before a last one. \
            success: the live node closest to the target was found. hops: discovery \
            hops to it (a node the origin knew is 1). Times are virtual.
            """
    )

    @Option(help: ArgumentHelp("Network sizes, comma-separated.", valueName: "n,..."))
    var nodes: String = "500,1000,2000,5000,10000"

    @Option(help: "Lookups per phase.")
    var lookups: Int = 1000

    @Option(help: ArgumentHelp("Fraction of the largest network that leaves, 0 to 0.9.", valueName: "fraction"))
    var churn: Double = 0.5

    @Flag(help: "Print one JSON object per phase instead of a table.")
    var json = false

    func run() throws {
        try reportingFailures {
            let sizes = nodes.split(separator: ",").compactMap { Int($0) }
            guard !sizes.isEmpty, sizes.allSatisfy({ (16...200_000).contains($0) }), sizes.count == nodes.split(separator: ",").count else {
                throw Failure.usage("--nodes must be a comma-separated list of sizes from 16 to 200000")
            }
            guard (1...1_000_000).contains(lookups) else { throw Failure.usage("--lookups must be 1 to 1000000") }
            guard (0...0.9).contains(churn) else { throw Failure.usage("--churn must be 0 to 0.9") }
            if !json { print("nodes   phase                          success  hops  max  msgs/lookup  timeouts  p50 ms  p99 ms") }
            let json = self.json
            DHTSimulationBenchmark(sizes: sizes, lookups: lookups, churn: churn) { phase in
                if json {
                    print(JSONLine().field("nodes", phase.nodes).field("phase", phase.name).field("lookups", phase.reports.count)
                        .field("success", (phase.success * 1000).rounded() / 1000)
                        .field("hops_mean", (phase.meanHops * 100).rounded() / 100).field("hops_max", phase.maximumHops)
                        .field("msgs_per_lookup", (phase.messagesPerLookup * 10).rounded() / 10)
                        .field("timeouts_per_lookup", (phase.timeoutsPerLookup * 100).rounded() / 100)
                        .field("p50_ms", phase.p50.rounded()).field("p99_ms", phase.p99.rounded()).text)
                } else {
                    print(String(phase.nodes).padded(8) + phase.name.padded(31) + String(format2: phase.success).padded(9)
                          + String(format2: phase.meanHops).padded(6) + String(phase.maximumHops).padded(5)
                          + String(format2: phase.messagesPerLookup).padded(13) + String(format2: phase.timeoutsPerLookup).padded(10)
                          + String(Int(phase.p50)).padded(8) + String(Int(phase.p99)))
                }
            }.run()
        }
    }
}

struct NodeBenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "node",
        abstract: "Fragment store and retrieve over TCP on 127.0.0.1: MB/s, ops/s, p50/p99 latency.",
        discussion: """
            Starts a storage node in this process with its store in a temporary \
            directory under --data (durable: each store is fsynced before it is \
            answered), stores distinct random fragments then retrieves them (the \
            client checks each against its key), at each size and concurrency. \
            MB/s = 10^6 bytes of fragment per second. With --cold, the store's \
            file is dropped from the page cache before each retrieve phase \
            (op "retrieve_cold"), so fragments come from the disk, as those \
            stored long ago or before a restart do (on tmpfs nothing is dropped).
            """
    )

    @Option(help: ArgumentHelp("Fragment sizes in bytes, comma-separated.", valueName: "bytes,..."))
    var sizes: String = "65536,1048576"

    @Option(help: ArgumentHelp("Requests in flight, comma-separated.", valueName: "n,..."))
    var concurrency: String = "1,32"

    @Option(help: ArgumentHelp("Bytes moved per phase.", valueName: "bytes"))
    var bytesPerPhase: Int = 256 << 20

    @Option(help: ArgumentHelp("Client connections the requests are spread over.", valueName: "n"))
    var connections: Int = 2

    @Option(help: ArgumentHelp("Where to make the node's temporary store.", valueName: "dir"))
    var data: String = NSTemporaryDirectory()

    @Flag(help: "Retrieve from the medium, not the page cache (op retrieve_cold).")
    var cold = false

    @Flag(help: "Print one JSON object per phase instead of a table.")
    var json = false

    func run() async throws {
        try await reportingFailures {
            let sizes = try parseList(self.sizes, "--sizes", 1...(64 << 20))
            let concurrencies = try parseList(concurrency, "--concurrency", 1...1024)
            guard (1...(8 << 30)).contains(bytesPerPhase) else { throw Failure.usage("--bytes-per-phase must be 1 byte to 8 GiB") }
            guard (1...64).contains(connections) else { throw Failure.usage("--connections must be 1 to 64") }
            tuneAllocatorForFragmentTraffic()
            let directory = (data as NSString).appendingPathComponent("flud-bench-node-\(getpid())")
            defer { try? FileManager.default.removeItem(atPath: directory) }
            let opWidth = cold ? 15 : 10
            if !json { print("op".padded(opWidth) + "size      conc  n       MB/s      ops/s     p50 ms   p99 ms") }
            let json = self.json
            try await NodeBenchmark(directory: directory, sizes: sizes, concurrencies: concurrencies,
                                    bytesPerPhase: bytesPerPhase, connections: connections, cold: cold) { phase in
                if json {
                    print(JSONLine().field("op", phase.operation).field("size", phase.size)
                        .field("concurrency", phase.concurrency).field("n", phase.count)
                        .field("mb_per_s", phase.megabytesPerSecond.rounded())
                        .field("ops_per_s", phase.operationsPerSecond.rounded())
                        .field("p50_ms", (phase.percentile(0.5) * 100).rounded() / 100)
                        .field("p99_ms", (phase.percentile(0.99) * 100).rounded() / 100).text)
                } else {
                    print(phase.operation.padded(opWidth) + formatBytes(phase.size).padded(10) + String(phase.concurrency).padded(6)
                          + String(phase.count).padded(8) + String(Int(phase.megabytesPerSecond)).padded(10)
                          + String(Int(phase.operationsPerSecond)).padded(10)
                          + String(format2: phase.percentile(0.5)).padded(9) + String(format2: phase.percentile(0.99)))
                }
            }.run()
        }
    }

    private func parseList(_ text: String, _ option: String, _ range: ClosedRange<Int>) throws -> [Int] {
        let values = text.split(separator: ",").map { Int($0.trimmingCharacters(in: .whitespaces)) }
        guard !values.isEmpty, values.allSatisfy({ $0.map(range.contains) == true }) else {
            throw Failure.usage("\(option) must be a comma-separated list of numbers in \(range.lowerBound)...\(range.upperBound)")
        }
        return values.map { $0! }
    }
}

struct PipelineBenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pipeline",
        abstract: "Backup pipeline throughput on local data: chunk, hash, compress, encrypt, encode, fragment keys, end to end.",
        discussion: """
            Generates --size bytes (half random, half text), then times each stage \
            alone on one core and the whole pipeline (content-defined chunking, \
            the chunk's BLAKE3 name, zstd when it pays, AES-256-GCM, Reed-Solomon \
            k + m, BLAKE3 of every fragment for its key) on every core. GB/s = 10^9 bytes of \
            input per second (of compressed bytes for encrypt, of sealed bytes \
            for encode, of fragment bytes for fragment_keys). No network, no disk.
            """
    )

    @Option(help: ArgumentHelp("Bytes of sample data.", valueName: "bytes"))
    var size: Int = 256 << 20

    @Option(name: .short, help: "Data fragments per chunk.")
    var k: Int = 20

    @Option(name: .short, help: "Parity fragments per chunk.")
    var m: Int = 20

    @Option(help: ArgumentHelp("Average chunk size, a power of two.", valueName: "bytes"))
    var chunkSize: Int = 1 << 20

    @Flag(help: "One JSON object per stage.")
    var json = false

    func run() async throws {
        try await reportingFailures {
            guard (1 << 20...(4 << 30)).contains(size) else { throw Failure.usage("--size must be 1 MiB to 4 GiB") }
            guard k >= 1, m >= 1, k + m <= 255 else { throw Failure.usage("k and m must be at least 1 and k + m at most 255") }
            guard chunkSize >= 1 << 12, chunkSize <= 16 << 20, chunkSize & (chunkSize - 1) == 0 else {
                throw Failure.usage("--chunk-size must be a power of two from 4 KiB to 16 MiB")
            }
            tuneAllocatorForFragmentTraffic()
            let stages = PipelineStages(keys: UserKeys.generate(), averageChunkSize: chunkSize, dataShards: k, parityShards: m)
            let threads = ProcessInfo.processInfo.activeProcessorCount
            if !json { print("stage        threads  GB/s") }
            let json = self.json
            try await PipelineBenchmark(size: size, stages: stages, threads: threads).run { stage in
                if json {
                    print(JSONLine().field("stage", stage.name).field("threads", stage.threads).field("bytes", stage.bytes)
                        .field("gbps", (stage.gigabytesPerSecond * 1000).rounded() / 1000).text)
                } else {
                    print(stage.name.padded(13) + String(stage.threads).padded(9) + String(format2: stage.gigabytesPerSecond))
                }
            }
        }
    }
}

struct RecoveryBenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "recovery",
        abstract: "Profile recovery under node failures and packet loss: what survives, how fast it comes back.",
        discussion: """
            Starts --nodes real `flud node` processes on 127.0.0.1, backs up --files \
            generated files of --file-size bytes with code k + m, then applies a \
            failure plan --draws times: nodes SIGKILLed (each with probability --kill; \
            exactly round(kill × nodes) with --kill-model exact; with --kill-model \
            rack, correlated failures: node i sits in rack i mod --racks and each rack \
            dies whole with probability --kill) and, with --loss, that fraction of \
            packets dropped. Each draw measures DHT lookups (success: \
            the live node closest to a random target is found) and a full restore; \
            the last one also repairs. Killed nodes come back between draws.

            Reports the fraction of files restored byte-exact (restorable), of chunks \
            with at least k surviving fragments (chunks_restorable), the binomial \
            prediction P(X >= k), X ~ Bin(k + m, 1 - kill), the spread of one draw \
            under the model (predicted_sd, simulated over the real placement), how \
            many standard errors the measured mean lies from the prediction \
            (deviation; matches_prediction when within 3), restore and repair times, \
            the bytes the restore fetched (bytes_fetched) and the repair fetched and \
            stored (repair_bytes), and lookup success and latency.

            --loss runs the benchmark inside a network namespace of its own (root \
            only), where an nftables rule drops each packet arriving on loopback with \
            that probability; this kernel has no netem, so packets are not delayed. \
            --sweep runs kill fractions 0 to 0.7 in steps of 0.1 for the codes 4+2, \
            10+4 and 20+20 (it needs --nodes >= 40), then, as root, packet loss 0.1, \
            0.2 and 0.3 with no node killed. All processes, data and namespaces it \
            created are gone at the end, or on SIGINT.
            """
    )

    @Option(help: "Node processes in the local network.")
    var nodes: Int = 24

    @Option(name: .short, help: "Fragments that rebuild a chunk.")
    var k: Int = 4

    @Option(name: .short, help: "Extra fragments per chunk.")
    var m: Int = 2

    @Option(help: ArgumentHelp("Fraction of the nodes to SIGKILL, 0 to 1.", valueName: "fraction"))
    var kill: Double = 0.3

    @Option(help: ArgumentHelp("independent: each node dies with probability --kill (the binomial model); exact: round(kill × nodes) die; rack: whole racks die.",
                               valueName: "model"))
    var killModel: String = RecoveryBenchmark.KillModel.independent.rawValue

    @Option(help: "Racks the nodes are split into, for --kill-model rack.")
    var racks: Int = 4

    @Option(help: ArgumentHelp("Fraction of packets dropped while the failures last, 0 to 1 (root: uses a network namespace).",
                               valueName: "fraction"))
    var loss: Double = 0

    @Option(help: "Failure plans drawn on each backup; more draws test the prediction more sharply.")
    var draws: Int = 1

    @Option(help: "DHT lookups measured per draw.")
    var lookups: Int = 20

    @Flag(help: "Kill fractions 0 to 0.7 for the codes 4+2, 10+4 and 20+20, then packet loss 0.1 to 0.3.")
    var sweep = false

    @Option(help: "Files in the generated dataset.")
    var files: Int = 24

    @Option(help: ArgumentHelp("Bytes per generated file.", valueName: "bytes"))
    var fileSize: Int = 256 << 10

    @Option(help: ArgumentHelp("Write an SVG plot of the results here.", valueName: "file"))
    var plot: String?

    @Option(help: ArgumentHelp("Run nothing: plot the runs without packet loss saved by an earlier --json run (needs --plot).",
                               valueName: "file.jsonl"))
    var replot: String?

    @Option(help: ArgumentHelp("Where to keep the nodes' data while running.", valueName: "dir"))
    var data: String = NSTemporaryDirectory()

    @Flag(help: "One JSON object per run instead of a table.")
    var json = false

    /// Checked inside `reportingFailures`, so a bad argument gets flud's one-line
    /// message and exit status 64.
    func checkArguments() throws {
        guard (0...1).contains(kill) else { throw Failure.usage("--kill must be between 0 and 1 (got \(kill))") }
        guard (0...1).contains(loss) else { throw Failure.usage("--loss must be between 0 and 1 (got \(loss))") }
        guard RecoveryBenchmark.KillModel(rawValue: killModel) != nil else {
            throw Failure.usage("--kill-model must be independent, exact or rack (got \(killModel))")
        }
        guard (1...nodes).contains(racks) else { throw Failure.usage("--racks must be 1 to --nodes (got \(racks))") }
        guard k >= 1, m >= 1, k + m <= 255 else { throw Failure.usage("k and m must be at least 1 and k + m at most 255") }
        guard (2...200).contains(nodes) else { throw Failure.usage("--nodes must be 2 to 200") }
        let widest = sweep ? 40 : k + m
        guard widest <= nodes else {
            throw Failure.usage("k + m = \(widest) fragments need at least that many nodes to land on distinct ones (--nodes is \(nodes))")
        }
        guard (1...10_000).contains(files), (1...(64 << 20)).contains(fileSize) else {
            throw Failure.usage("--files must be 1 to 10000 and --file-size 1 byte to 64 MiB")
        }
        guard (1...1000).contains(draws), (0...10_000).contains(lookups) else {
            throw Failure.usage("--draws must be 1 to 1000 and --lookups 0 to 10000")
        }
        if loss > 0, let reason = LossyNetwork.unavailableReason() { throw Failure.usage("--loss: \(reason)") }
    }

    func run() async throws {
        try await reportingFailures {
            try checkArguments()
            if let replot {
                guard let plot else { throw Failure.usage("--replot needs --plot FILE.svg") }
                guard let text = try? String(contentsOfFile: replot, encoding: .utf8) else {
                    throw Failure(kind: .runtime, description: "cannot read \(replot)")
                }
                let results = text.split(separator: "\n").compactMap(RecoveryBenchmark.Result.init(jsonLine:))
                try write(results.filter { $0.plan.loss == 0 }, to: plot)
                return
            }
            let executable = CommandLine.arguments[0].hasPrefix("/")
                ? CommandLine.arguments[0] : FileManager.default.currentDirectoryPath + "/" + CommandLine.arguments[0]
            let lossPossible = LossyNetwork.unavailableReason() == nil
            if (loss > 0 || (sweep && lossPossible)) && !LossyNetwork.isInside {
                let status = try LossyNetwork.rerunInside(executable: executable)
                if status != 0 { throw ExitCode(status) }
                return
            }
            if LossyNetwork.isInside { try LossyNetwork.prepare() }
            if sweep && !lossPossible, let reason = LossyNetwork.unavailableReason() {
                writeStandardError("flud: warning: the sweep leaves out packet loss: \(reason)\n")
            }
            tuneAllocatorForFragmentTraffic()
            let directory = (data as NSString).appendingPathComponent("flud-bench-recovery-\(getpid())")
            let interrupts = [SIGINT, SIGTERM].map { (signal: Int32) -> any DispatchSourceSignal in
                Glibc.signal(signal, SIG_IGN)
                let source = DispatchSource.makeSignalSource(signal: signal, queue: .global())
                source.setEventHandler {
                    NodeProcesses.killEveryChild()
                    // The failing run may be removing or writing there too: repeat until gone.
                    for _ in 0..<100 where FileManager.default.fileExists(atPath: directory) {
                        try? FileManager.default.removeItem(atPath: directory)
                    }
                    writeStandardError("flud: interrupted; node processes and data removed\n")
                    Glibc.exit(130)
                }
                source.resume()
                return source
            }
            defer {
                interrupts.forEach { $0.cancel() }
                try? FileManager.default.removeItem(atPath: directory)
            }
            let benchmark = RecoveryBenchmark(executable: executable, directory: directory)
            if !json {
                printNow("nodes  code   kill  loss  killed  restorable  chunks  predicted  dev    restore s  repair s  fetched    lookups  lookup ms")
            }
            var results: [RecoveryBenchmark.Result] = []
            for (index, plan) in plans().enumerated() {
                let result: RecoveryBenchmark.Result
                do {
                    result = try await benchmark.run(plan, runIndex: index)
                } catch where NodeProcesses.wasInterrupted {
                    // The run failed because its nodes were killed: the
                    // interrupt handler is finishing and exits with 130.
                    try await Task.sleep(for: .seconds(60))
                    throw ExitCode(130)
                }
                results.append(result)
                report(result)
            }
            if let plot { try write(results.filter { $0.plan.loss == loss }, to: plot) }
        }
    }

    private func write(_ results: [RecoveryBenchmark.Result], to plot: String) throws {
        do {
            try RecoveryPlot.svg(results).write(toFile: plot, atomically: true, encoding: .utf8)
        } catch {
            throw Failure(kind: .runtime, description: "cannot write \(plot) (\(error.localizedDescription))")
        }
    }

    /// The runs to make: one, or the sweep's kill fractions and packet losses.
    private func plans() -> [RecoveryBenchmark.Plan] {
        let model = RecoveryBenchmark.KillModel(rawValue: killModel)!
        func plan(_ k: Int, _ m: Int, kill: Double, loss: Double) -> RecoveryBenchmark.Plan {
            RecoveryBenchmark.Plan(nodes: nodes, dataShards: k, parityShards: m, kill: kill, killModel: model, racks: racks,
                                   loss: loss, draws: draws, lookups: lookups, files: files, fileSize: fileSize)
        }
        guard sweep else { return [plan(k, m, kill: kill, loss: loss)] }
        let codes = [(4, 2), (10, 4), (20, 20)]
        let losses = LossyNetwork.isInside ? [0.1, 0.2, 0.3].filter { $0 != loss } : []
        return codes.flatMap { code in (0...7).map { plan(code.0, code.1, kill: Double($0) / 10, loss: loss) } }
            + losses.flatMap { lossy in codes.map { plan($0.0, $0.1, kill: 0, loss: lossy) } }
    }

    private func report(_ result: RecoveryBenchmark.Result) {
        let plan = result.plan
        func rounded(_ value: Double) -> Double { (value * 1000).rounded() / 1000 }
        let lookupSuccess = result.lookups == 0 ? 0 : Double(result.lookupSuccesses) / Double(result.lookups)
        if json {
            printNow(JSONLine().field("nodes", plan.nodes).field("k", plan.dataShards).field("m", plan.parityShards)
                .field("kill", plan.kill).field("kill_model", plan.killModel.rawValue)
                .field("racks", plan.killModel == .rack ? plan.racks : 0).field("loss", plan.loss)
                .field("draws", plan.draws).field("killed", rounded(result.killed))
                .field("restorable", rounded(result.restorable)).field("chunks_restorable", rounded(result.chunksRestorable))
                .field("predicted", rounded(result.predicted)).field("predicted_sd", rounded(result.predictedSD))
                .field("deviation", result.deviation.isFinite ? rounded(result.deviation) : 999)
                .field("matches_prediction", result.matchesPrediction)
                .field("backup_s", rounded(result.backupSeconds))
                .field("restore_s", rounded(result.restoreSeconds)).field("repair_s", rounded(result.repairSeconds))
                .field("bytes_fetched", result.bytesFetched).field("fragments_rebuilt", result.fragmentsRebuilt)
                .field("repair_bytes", result.repairBytes)
                .field("dht_lookups", result.lookups).field("dht_success", rounded(lookupSuccess))
                .field("dht_lookup_ms", rounded(result.lookupMedian * 1000))
                .field("dht_lookup_p95_ms", rounded(result.lookupP95 * 1000)).text)
        } else {
            printNow(String(plan.nodes).padded(7) + "\(plan.dataShards)+\(plan.parityShards)".padded(7)
                  + String(format2: plan.kill).padded(6) + String(format2: plan.loss).padded(6)
                  + String(format2: result.killed).padded(8)
                  + String(format2: result.restorable).padded(12) + String(format2: result.chunksRestorable).padded(8)
                  + String(format2: result.predicted).padded(11)
                  + (result.deviation.isFinite ? String(format2: result.deviation) : "inf").padded(7)
                  + String(format2: result.restoreSeconds).padded(11) + String(format2: result.repairSeconds).padded(10)
                  + formatBytes(result.bytesFetched).padded(11)
                  + "\(result.lookupSuccesses)/\(result.lookups)".padded(9) + String(format2: result.lookupMedian * 1000))
        }
    }
}
