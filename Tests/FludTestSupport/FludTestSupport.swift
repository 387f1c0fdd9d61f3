// Support code shared by flud's test targets and test helper processes.
import Foundation

/// A seeded generator so that a failing property test can be replayed.
public struct SplitMix64: RandomNumberGenerator {
    private var state: UInt64

    public init(seed: UInt64) { state = seed }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

extension RandomNumberGenerator {
    public mutating func bytes(_ count: Int) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: count)
        var offset = 0
        while offset < count {
            let word = next()
            for shift in stride(from: 0, to: 64, by: 8) where offset < count {
                bytes[offset] = UInt8(truncatingIfNeeded: word >> UInt64(shift))
                offset += 1
            }
        }
        return bytes
    }
}

/// `count` bytes that depend only on `seed`: test data a second process can
/// regenerate to check what the first one stored.
public func deterministicBytes(_ count: Int, seed: UInt64) -> [UInt8] {
    var generator = SplitMix64(seed: seed)
    return generator.bytes(count)
}

/// A scratch directory, removed with everything in it when the object goes.
public final class TemporaryDirectory: @unchecked Sendable {
    public let path: String

    public init(prefix: String = "flud-test") throws {
        path = NSTemporaryDirectory() + prefix + "-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    deinit { try? FileManager.default.removeItem(atPath: path) }

    public func file(_ name: String) -> String { path + "/" + name }

    /// Names in the directory, hidden ones included, sorted.
    public func contents(_ subdirectory: String = "") throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: subdirectory.isEmpty ? path : file(subdirectory)).sorted()
    }
}

/// An executable SwiftPM built next to the running test bundle, or `$FLUD_BINARY`
/// for `flud`.
public func builtExecutable(named name: String) -> URL {
    if name == "flud", let path = ProcessInfo.processInfo.environment["FLUD_BINARY"] {
        return URL(fileURLWithPath: path)
    }
    var directory = URL(fileURLWithPath: CommandLine.arguments[0]).standardizedFileURL.deletingLastPathComponent()
    while !FileManager.default.fileExists(atPath: directory.appendingPathComponent(name).path), directory.path != "/" {
        directory.deleteLastPathComponent()
    }
    return directory.appendingPathComponent(name)
}

/// Fragment `index` of the store crash test: 1 byte to 96 KiB, so that group
/// commits mix small and overflow-page values. The child process stores these
/// and the test regenerates them to check what survived.
public func crashTestFragment(_ index: Int) -> [UInt8] {
    deterministicBytes(1 + (index * 7919) % (96 << 10), seed: UInt64(index))
}

/// Runs blocking `work` (waiting on a child process or a pipe) on a thread of
/// its own. Swift's cooperative pool has one thread per core, two here: a test
/// that blocks one of them starves the nodes other suites run in this process,
/// whose handshakes then time out.
public func onOwnThread<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        Thread { continuation.resume(with: Result(catching: work)) }.start()
    }
}

extension FileHandle {
    /// `availableData`, awaited off the cooperative pool (see ``onOwnThread(_:)``).
    public func nextData() async throws -> Data {
        try await onOwnThread { self.availableData }
    }

    /// `readDataToEndOfFile()`, awaited off the cooperative pool.
    public func remainingData() async throws -> Data {
        try await onOwnThread { self.readDataToEndOfFile() }
    }
}

extension Process {
    /// `waitUntilExit()`, awaited off the cooperative pool.
    public func exited() async throws {
        try await onOwnThread { self.waitUntilExit() }
    }
}
