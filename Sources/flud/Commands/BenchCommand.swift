import ArgumentParser
import FludCodec

struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Measure flud's throughput on this machine.",
        subcommands: [CodecBenchCommand.self]
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
        let hundredths = Int((value * 100).rounded())
        let fraction = String(hundredths % 100)
        self = "\(hundredths / 100)." + (fraction.count == 1 ? "0" + fraction : fraction)
    }
}
