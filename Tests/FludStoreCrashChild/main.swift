// A child process for FludStoreTests' crash test: stores deterministic
// fragments with durable commits, several in flight, and prints the index of
// each fragment as soon as its put has returned. The test SIGKILLs it at a
// random moment and then checks that every printed fragment survived.
//
// usage: flud-store-crash-child DIR FIRST COUNT
import FludCodec
import FludStore
#if canImport(Glibc)
import Glibc
#endif

let arguments = CommandLine.arguments
guard arguments.count == 4, let first = Int(arguments[2]), let count = Int(arguments[3]) else {
    print("usage: flud-store-crash-child DIR FIRST COUNT")
    exit(2)
}
let store = try BlockStore(directory: arguments[1])
let owner = OwnerID(bytes: [UInt8](repeating: 7, count: 32))!

/// The bytes of fragment `index`: 1 byte to 96 KiB of xorshift output.
func fragmentBytes(_ index: Int) -> [UInt8] {
    var state = UInt64(index) &* 0x9E37_79B9_7F4A_7C15 | 1
    let length = 1 + (index * 7919) % (96 << 10)
    return (0..<length).map { _ in
        state ^= state << 13
        state ^= state >> 7
        state ^= state << 17
        return UInt8(truncatingIfNeeded: state)
    }
}

func acknowledge(_ index: Int) {
    let line = Array("\(index)\n".utf8)
    _ = line.withUnsafeBytes { write(STDOUT_FILENO, $0.baseAddress, $0.count) }
}

try await withThrowingTaskGroup(of: Int.self) { group in
    var next = first
    for _ in 0..<8 {
        let index = next
        next += 1
        group.addTask {
            let bytes = fragmentBytes(index)
            _ = try await store.put(bytes, key: ContentHash(of: bytes), owner: owner, leaseExpiry: 4_000_000_000)
            return index
        }
    }
    while let done = try await group.next() {
        acknowledge(done)
        guard next < first + count else { continue }
        let index = next
        next += 1
        group.addTask {
            let bytes = fragmentBytes(index)
            _ = try await store.put(bytes, key: ContentHash(of: bytes), owner: owner, leaseExpiry: 4_000_000_000)
            return index
        }
    }
}
