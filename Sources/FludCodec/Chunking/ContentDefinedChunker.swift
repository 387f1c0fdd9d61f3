/// Cuts a byte stream into content-defined chunks, so an insertion or
/// deletion in the middle of a file moves only the chunk boundaries near it
/// and the rest of the file's chunks stay the same (and dedupe).
///
/// A gear rolling hash (as in FastCDC: `hash = hash << 1 + gear[byte]`) is
/// checked at every byte between the minimum and maximum size; a boundary is
/// where its top bits are zero. Before the average size the test needs two
/// more zero bits than after it ("normalized chunking"), which narrows the
/// spread of chunk sizes around the average.
public struct ContentDefinedChunker: Sendable {
    public let minimumSize: Int
    public let averageSize: Int
    public let maximumSize: Int
    private let bitsBeforeAverage: UInt64
    private let bitsAfterAverage: UInt64

    /// - Parameter averageSize: a power of two, at least 1 KiB. Chunks are
    ///   between a quarter and four times it.
    public init(averageSize: Int = 1 << 20) {
        precondition(averageSize >= 1024 && averageSize & (averageSize - 1) == 0, "the average chunk size must be a power of two ≥ 1 KiB")
        self.averageSize = averageSize
        minimumSize = averageSize / 4
        maximumSize = averageSize * 4
        let bits = UInt64(averageSize.trailingZeroBitCount)
        bitsBeforeAverage = bits + 2
        bitsAfterAverage = bits - 2
    }

    /// The length of the chunk that starts at the beginning of `bytes`.
    ///
    /// - Parameter isEnd: `bytes` runs to the end of the stream. Otherwise it
    ///   must hold at least `maximumSize` bytes (or the chunk's end is unknown).
    public func chunkLength(in bytes: UnsafeRawBufferPointer, isEnd: Bool) -> Int {
        precondition(isEnd || bytes.count >= maximumSize, "pass at least maximumSize bytes before the end")
        let count = min(bytes.count, maximumSize)
        guard count > minimumSize, let base = bytes.baseAddress else { return count }
        let average = min(averageSize, count)
        // A boundary is where the hash's top bits are zero.
        let maskBefore = ~UInt64(0) << (64 - bitsBeforeAverage)
        let maskAfter = ~UInt64(0) << (64 - bitsAfterAverage)
        let input = base.assumingMemoryBound(to: UInt8.self)
        return Self.gear.withUnsafeBufferPointer { gear -> Int in
            var hash: UInt64 = 0
            if let cut = Self.scan(input, from: minimumSize, to: average, mask: maskBefore, gear: gear.baseAddress!, hash: &hash) {
                return cut
            }
            return Self.scan(input, from: average, to: count, mask: maskAfter, gear: gear.baseAddress!, hash: &hash) ?? count
        }
    }

    /// Rolls the hash over `input[start..<end]` and returns the length up to
    /// the first byte after which `hash & mask` is zero, if any.
    ///
    /// Four bytes a round. Rolled one byte at a time, the hash is a chain of a
    /// shift and an add per byte (2 cycles a byte). Instead the round's gear
    /// values are combined off the chain, and each of the four hashes is the
    /// previous round's hash shifted by 1 to 4 plus its combination: the chain
    /// is one shift and one add per round.
    @inline(__always)
    private static func scan(_ input: UnsafePointer<UInt8>, from start: Int, to end: Int, mask: UInt64,
                             gear: UnsafePointer<UInt64>, hash: inout UInt64) -> Int? {
        var rolling = hash
        defer { hash = rolling }
        var index = start
        while index + 4 <= end {
            let g0 = gear[Int(input[index])]
            let g01 = (g0 << 1) &+ gear[Int(input[index + 1])]
            let g012 = (g01 << 1) &+ gear[Int(input[index + 2])]
            let g0123 = (g012 << 1) &+ gear[Int(input[index + 3])]
            let h1 = (rolling << 1) &+ g0, h2 = (rolling << 2) &+ g01
            let h3 = (rolling << 3) &+ g012, h4 = (rolling << 4) &+ g0123
            if h1 & mask == 0 { rolling = h1; return index + 1 }
            if h2 & mask == 0 { rolling = h2; return index + 2 }
            if h3 & mask == 0 { rolling = h3; return index + 3 }
            rolling = h4
            if h4 & mask == 0 { return index + 4 }
            index += 4
        }
        while index < end {
            rolling = (rolling << 1) &+ gear[Int(input[index])]
            if rolling & mask == 0 { return index + 1 }
            index += 1
        }
        return nil
    }

    /// 256 fixed pseudo-random 64-bit values (SplitMix64 from a fixed seed):
    /// part of the chunk format, so they must never change.
    static let gear: [UInt64] = {
        var state: UInt64 = 0x666C_7564_6364_6301  // "fludcdc\u{1}"
        return (0..<256).map { _ in
            state &+= 0x9E37_79B9_7F4A_7C15
            var mixed = state
            mixed = (mixed ^ (mixed >> 30)) &* 0xBF58_476D_1CE4_E5B9
            mixed = (mixed ^ (mixed >> 27)) &* 0x94D0_49BB_1331_11EB
            return mixed ^ (mixed >> 31)
        }
    }()
}
