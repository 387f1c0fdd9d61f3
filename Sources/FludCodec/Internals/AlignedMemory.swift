/// Cache-line alignment for shard memory and kernel tables: SIMD loads never
/// straddle a line and no two shards share one.
let cacheLineSize = 64

extension UnsafeMutableRawPointer {
    /// Zero-filled memory aligned to a cache line; release with `deallocateAligned()`.
    static func allocateAligned(byteCount: Int) -> UnsafeMutableRawPointer {
        let memory = UnsafeMutableRawPointer.allocate(byteCount: max(byteCount, 1), alignment: cacheLineSize)
        memory.initializeMemory(as: UInt8.self, repeating: 0, count: max(byteCount, 1))
        return memory
    }

    func deallocateAligned() {
        deallocate()
    }
}
