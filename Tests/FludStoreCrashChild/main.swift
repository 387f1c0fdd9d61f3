// A child process for FludStoreTests' crash test: stores deterministic
// fragments with durable commits, eight in flight, and prints the index of
// each fragment as soon as its put has returned. The test SIGKILLs it at a
// random moment and then checks that every printed fragment survived.
//
// usage: flud-store-crash-child DIR FIRST COUNT
import FludCodec
import FludStore
import FludTestSupport
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

/// Prints unbuffered, so the line exists the moment the put has returned.
func acknowledge(_ index: Int) {
    let line = Array("\(index)\n".utf8)
    _ = line.withUnsafeBytes { write(STDOUT_FILENO, $0.baseAddress, $0.count) }
}

try await withThrowingTaskGroup(of: Int.self) { group in
    var next = first
    func startNext() {
        guard next < first + count else { return }
        let index = next
        next += 1
        group.addTask {
            let bytes = crashTestFragment(index)
            _ = try await store.put(bytes, key: ContentHash(fragment: bytes), owner: owner, leaseExpiry: 4_000_000_000)
            return index
        }
    }
    for _ in 0..<8 { startNext() }
    while let done = try await group.next() {
        acknowledge(done)
        startNext()
    }
}
