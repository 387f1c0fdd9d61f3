import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Makes written files durable without holding Swift's cooperative threads.
///
/// A restore writes files faster than the disk takes them. A sync per file on
/// a cooperative thread blocked one of this machine's two pool threads for
/// about 0.9 s of a 2.2 s restore (perf/backup/COMPARE.md). Here syncfs(2) runs
/// on a thread of its own, and every caller that arrives while a sync runs is
/// served by the next one: one sync per file system for all of them.
final class FileSystemSyncs: @unchecked Sendable {
    private struct Waiter {
        let directories: Set<String>
        let continuation: CheckedContinuation<Bool, Never>
    }

    private let lock = NSLock()
    private var waiting: [Waiter] = []
    private var draining = false
    private let queue = DispatchQueue(label: "flud.restore.sync")

    /// Returns once everything written before the call to the file systems
    /// holding `directories` is on the disk; false if a sync failed.
    func sync(_ directories: Set<String>) async -> Bool {
        await withCheckedContinuation { continuation in
            lock.lock()
            waiting.append(Waiter(directories: directories, continuation: continuation))
            let startDraining = !draining
            draining = true
            lock.unlock()
            if startDraining { queue.async { self.drain() } }
        }
    }

    /// Serves the waiters in rounds. A waiter taken into a round arrived
    /// before that round's syncs started, so they cover what it wrote.
    private func drain() {
        while true {
            lock.lock()
            let round = waiting
            waiting = []
            if round.isEmpty { draining = false }
            lock.unlock()
            if round.isEmpty { return }
            // Each directory looked at once per round, each file system synced once.
            var synced: [UInt64: Bool] = [:]
            var outcomes: [String: Bool] = [:]
            for directory in round.reduce(into: Set<String>(), { $0.formUnion($1.directories) }) {
                outcomes[directory] = Self.syncFileSystem(holding: directory, synced: &synced)
            }
            for waiter in round {
                waiter.continuation.resume(returning: waiter.directories.allSatisfy { outcomes[$0] == true })
            }
        }
    }

    /// Syncs the file system holding `directory`, unless this round did already.
    private static func syncFileSystem(holding directory: String, synced: inout [UInt64: Bool]) -> Bool {
        let descriptor = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard descriptor >= 0 else { return false }
        defer { close(descriptor) }
        var info = stat()
        guard fstat(descriptor, &info) == 0 else { return false }
        let device = UInt64(info.st_dev)
        if let outcome = synced[device] { return outcome }
        let outcome = syncfsFunction.map { $0(descriptor) == 0 } ?? { Glibc.sync(); return true }()
        synced[device] = outcome
        return outcome
    }

    /// syncfs(2). Glibc declares it only for _GNU_SOURCE, which the Swift
    /// Glibc module leaves out, so it is looked up once at run time.
    private static let syncfsFunction: (@convention(c) (Int32) -> Int32)? = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "syncfs")
        .map { unsafeBitCast($0, to: (@convention(c) (Int32) -> Int32).self) }
}
