import FludBackup
import FludCodec
import Foundation

/// The backup pipeline's CPU stages on local data: each stage alone on one
/// core, then all of them end to end on every core, as `flud backup` runs them.
struct PipelineBenchmark {
    struct Stage {
        let name: String
        let bytes: Int
        let seconds: Double
        let threads: Int
        var gigabytesPerSecond: Double { Double(bytes) / seconds / 1e9 }
    }

    let size: Int
    let stages: PipelineStages
    let threads: Int

    /// Half incompressible (random), half text-like (compressible), as a mixed
    /// home directory is.
    func sample() -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: size)
        var state: UInt64 = 0x5EED
        let half = size / 2
        bytes.withUnsafeMutableBytes { buffer in
            let words = buffer.bindMemory(to: UInt64.self)
            for index in 0..<half / 8 {
                state &+= 0x9E37_79B9_7F4A_7C15
                var mixed = state
                mixed = (mixed ^ (mixed >> 30)) &* 0xBF58_476D_1CE4_E5B9
                mixed = (mixed ^ (mixed >> 27)) &* 0x94D0_49BB_1331_11EB
                words[index] = mixed ^ (mixed >> 31)
            }
        }
        let text = Array("flud backs up files to peers; any k of n fragments rebuild a chunk. line ".utf8)
        var line = 0
        var offset = half
        while offset < size {
            let piece = text + Array(String(line).utf8) + [10]
            for byte in piece where offset < size {
                bytes[offset] = byte
                offset += 1
            }
            line += 1
        }
        return bytes
    }

    func run(report: (Stage) -> Void) async throws {
        let data = sample()
        let stages = self.stages
        let threads = self.threads
        // The median of three passes: the first also pays for faulting in
        // fresh memory, which on a shared VM costs more than the work itself.
        func timed(_ body: () throws -> Void) rethrows -> Double {
            var times: [Double] = []
            for _ in 0..<3 {
                let start = monotonicSeconds()
                try body()
                times.append(monotonicSeconds() - start)
            }
            return times.sorted()[1]
        }
        var lengths: [Int] = []
        report(Stage(name: "chunk", bytes: size, seconds: timed { lengths = stages.chunkLengths(data) }, threads: 1))
        var chunks: [[UInt8]] = []
        var offset = 0
        for length in lengths {
            chunks.append(Array(data[offset..<offset + length]))
            offset += length
        }
        var hashes: [ContentHash] = []
        report(Stage(name: "hash", bytes: size, seconds: timed { hashes = chunks.map(stages.hash) }, threads: 1))
        var payloads: [[UInt8]] = []
        report(Stage(name: "compress", bytes: size, seconds: timed { payloads = chunks.map { stages.compress($0) ?? $0 } }, threads: 1))
        let sealBytes = payloads.reduce(0) { $0 + $1.count }
        // Timed as a backup seals: the sealed bytes are read where the cipher left them.
        report(Stage(name: "encrypt", bytes: sealBytes,
                     seconds: timed { for (payload, hash) in zip(payloads, hashes) { _ = stages.seal(payload, hash: hash) { $0.count } } },
                     threads: 1))
        let sealed = zip(payloads, hashes).map { stages.seal($0, hash: $1) }
        let encodeBytes = sealed.reduce(0) { $0 + $1.count }
        report(Stage(name: "encode", bytes: encodeBytes, seconds: try timed { for item in sealed { _ = try stages.encode(item) } }, threads: 1))
        // Coded once more, untimed: keeping the timed passes' output would
        // make them pay for faulting in twice the input's memory.
        let fragments = try sealed.flatMap(stages.encode)
        report(Stage(name: "fragment_keys", bytes: fragments.reduce(0) { $0 + $1.count },
                     seconds: timed { _ = fragments.map(stages.fragmentKey) }, threads: 1))

        // End to end: one task cuts the chunks one at a time, as a backup cuts
        // a file it reads, while `threads` tasks do the rest per chunk; the
        // median of three passes too.
        var passes: [Double] = []
        for _ in 0..<3 {
        let start = monotonicSeconds()
        try await withThrowingTaskGroup(of: Void.self) { group in
            var offset = 0
            var running = 0
            while offset < data.count {
                let length = data.withUnsafeBytes {
                    stages.chunker.chunkLength(in: UnsafeRawBufferPointer(rebasing: $0[offset...]), isEnd: true)
                }
                let chunk = Array(data[offset..<offset + length])
                offset += length
                if running == threads {
                    try await group.next()
                    running -= 1
                }
                group.addTask { _ = try stages.fragments(of: chunk) }
                running += 1
            }
            try await group.waitForAll()
        }
        passes.append(monotonicSeconds() - start)
        }
        report(Stage(name: "end_to_end", bytes: size, seconds: passes.sorted()[1], threads: threads))
    }
}
