import FludCodec
import FludTestSupport
import Foundation
import Testing
@testable import FludStore

/// A full disk and a read-only file system, made real with a small tmpfs
/// mounted for the test (needs root, as CI runs).
@Suite(.enabled(if: getuid() == 0, "mounting a tmpfs needs root"), .serialized)
struct FileSystemLimitTests {
    /// Mounts a tmpfs of `megabytes` for the duration of `body`.
    func withTmpfs(megabytes: Int, _ body: (String) async throws -> Void) async throws {
        let scratch = try TemporaryDirectory(prefix: "flud-tmpfs")
        let mountPoint = scratch.path
        try run("/bin/mount", "-t", "tmpfs", "-o", "size=\(megabytes)m", "tmpfs", mountPoint)
        defer { try? run("/bin/umount", mountPoint) }
        try await body(mountPoint)
    }

    func run(_ arguments: String...) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: arguments[0])
        process.arguments = Array(arguments.dropFirst())
        try process.run()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else { throw StoreError.storage("\(arguments) failed") }
    }

    @Test func aFullDiskFailsPutsCleanlyAndKeepsEverythingStored() async throws {
        try await withTmpfs(megabytes: 6) { mountPoint in
            let directory = mountPoint + "/store"
            let store = try BlockStore(directory: directory)
            let owner = makeOwner(5)
            var stored: [[UInt8]] = []
            var sawFull = false
            for index in 0..<64 {
                let bytes = deterministicBytes(256 << 10, seed: UInt64(1000 + index))
                do {
                    _ = try await store.put(bytes, key: ContentHash(fragment: bytes), owner: owner, leaseExpiry: 1)
                    stored.append(bytes)
                } catch let error as StoreError {
                    guard case .full = error else { Issue.record("unexpected \(error)"); break }
                    sawFull = true
                    break
                }
            }
            #expect(sawFull, "a 6 MiB disk cannot hold 16 MiB")
            #expect(stored.count >= 8)
            for bytes in stored { #expect(try store.fragment(ContentHash(fragment: bytes)) == bytes) }
            store.close()
            let reopened = try BlockStore(directory: directory)
            defer { reopened.close() }
            for bytes in stored { #expect(try reopened.fragment(ContentHash(fragment: bytes)) == bytes) }
            #expect(try reopened.scrub().isClean)
        }
    }

    @Test func aReadOnlyFileSystemIsReportedAndLeftAlone() async throws {
        try await withTmpfs(megabytes: 8) { mountPoint in
            let directory = mountPoint + "/store"
            let bytes = deterministicBytes(10_000, seed: 77)
            do {
                let store = try BlockStore(directory: directory)
                _ = try await store.put(bytes, key: ContentHash(fragment: bytes), owner: makeOwner(6), leaseExpiry: 1)
                store.close()
            }
            try run("/bin/mount", "-o", "remount,ro", mountPoint)
            #expect(throws: StoreError.self) { try BlockStore(directory: directory) }
            do {
                _ = try BlockStore(directory: directory)
            } catch {
                #expect("\(error)".contains("Read-only file system"), "\(error)")
            }
            try run("/bin/mount", "-o", "remount,rw", mountPoint)
            let store = try BlockStore(directory: directory)
            defer { store.close() }
            #expect(try store.fragment(ContentHash(fragment: bytes)) == bytes)
        }
    }
}
