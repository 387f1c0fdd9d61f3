#if canImport(Glibc)
import Glibc
#endif

/// Keeps glibc from giving every fragment-sized buffer its own mmap.
///
/// By default glibc serves allocations over its (adaptive) mmap threshold with
/// a fresh mapping and unmaps it on free, so each 1 MiB frame body, response
/// and store record costs page faults and the zeroing of 256 new pages.
/// Serving them from the heap, trimmed only past 128 MiB, lifted a node's
/// 1 MiB store from ~500 to ~750 MB/s and its retrieve from ~900 to
/// ~1150 MB/s on this project's 2-core machine (perf/node/README.md).
/// Called by the commands that run nodes, before any traffic.
func tuneAllocatorForFragmentTraffic() {
    #if canImport(Glibc)
    // mallopt(3) is not imported into Swift; <malloc.h> numbers its options.
    typealias Mallopt = @convention(c) (Int32, Int32) -> Int32
    guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "mallopt") else { return }
    let mallopt = unsafeBitCast(symbol, to: Mallopt.self)
    let trimThreshold: Int32 = -1, mmapThreshold: Int32 = -3
    _ = mallopt(mmapThreshold, 32 << 20)
    _ = mallopt(trimThreshold, 128 << 20)
    #endif
}
