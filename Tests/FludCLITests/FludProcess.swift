import FludTestSupport
import Foundation
import Testing

/// Runs the built `flud` binary as a user would and captures what it prints.
struct FludRun: Sendable {
    let status: Int32
    let stdout: String
    let stderr: String

    /// The last line of standard output as a JSON object: a `--json` summary.
    func lastJSONObject() throws -> [String: Any] {
        let line = try #require(stdout.split(separator: "\n").last)
        return try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
    }
}

enum Flud {
    /// The `flud` executable next to the test bundle (`swift build` puts both in
    /// the same products directory), or `$FLUD_BINARY`.
    static let executable = builtExecutable(named: "flud")

    @discardableResult
    static func run(_ arguments: [String], in directory: String? = nil, environment: [String: String] = [:],
                    input: String? = nil) async throws -> FludRun {
        try await onOwnThread { try runBlocking(arguments, in: directory, environment: environment, input: input) }
    }

    /// The uid and gid unprivileged runs use when the tests run as root: `nobody`.
    static let unprivilegedID: UInt32 = 65534

    /// The executable and arguments that run `flud arguments` as a user that
    /// file permissions and capabilities apply to: `nobody` (through
    /// util-linux's `setpriv`) when the tests run as root; else as ourselves.
    static func unprivilegedCommand(_ arguments: [String]) -> (executable: URL, arguments: [String]) {
        guard getuid() == 0 else { return (executable, arguments) }
        if !unprivilegedCanRun {
            let path = executable.path
            Issue.record("uid \(unprivilegedID) cannot run \(path): every directory above it must be searchable by others (chmod o+x), or run the tests as a user other than root")
        }
        return (setpriv, droppingPrivileges + [executable.path] + arguments)
    }

    private static let setpriv = URL(fileURLWithPath: "/usr/bin/setpriv")
    private static let droppingPrivileges: [String] = ["--reuid=\(unprivilegedID)", "--regid=\(unprivilegedID)", "--clear-groups", "--"]

    /// Whether `nobody` may execute the built `flud` (checked once).
    private static let unprivilegedCanRun: Bool = {
        let check = Process()
        check.executableURL = setpriv
        check.arguments = droppingPrivileges + ["/usr/bin/test", "-x", executable.path]
        guard (try? check.run()) != nil else { return false }
        check.waitUntilExit()
        return check.terminationStatus == 0
    }()

    /// Runs `flud` unprivileged (see ``unprivilegedCommand(_:)``).
    static func runUnprivileged(_ arguments: [String], environment: [String: String] = [:]) async throws -> FludRun {
        let command = unprivilegedCommand(arguments)
        return try await onOwnThread {
            try runBlocking(command.arguments, in: nil, environment: environment, input: nil, executable: command.executable)
        }
    }

    private static func runBlocking(_ arguments: [String], in directory: String?, environment: [String: String],
                                    input: String?, executable: URL = executable) throws -> FludRun {
        let process = Process()
        process.executableURL = executable
        process.arguments = arguments
        if let directory { process.currentDirectoryURL = URL(fileURLWithPath: directory) }
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        let stdin = Pipe()
        process.standardInput = input == nil ? FileHandle.nullDevice : stdin
        try process.run()
        if let input {
            stdin.fileHandleForWriting.write(Data(input.utf8))
            try stdin.fileHandleForWriting.close()
        }
        // Read both pipes before waiting so a chatty child cannot block on a full pipe.
        let outData = out.fileHandleForReading.readDataToEndOfFile()
        let errData = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return FludRun(status: process.terminationStatus,
                       stdout: String(decoding: outData, as: UTF8.self),
                       stderr: String(decoding: errData, as: UTF8.self))
    }
}

/// A scratch directory with the file helpers these tests need.
final class Scratch {
    private let directory: TemporaryDirectory
    var path: String { directory.path }

    init() throws {
        directory = try TemporaryDirectory(prefix: "flud-cli")
    }

    func file(_ name: String) -> String { directory.file(name) }

    func write(_ name: String, bytes count: Int, seed: UInt64) throws -> Data {
        let data = Data(deterministicBytes(count, seed: seed))
        try data.write(to: URL(fileURLWithPath: file(name)))
        return data
    }

    func read(_ name: String) throws -> Data {
        try Data(contentsOf: URL(fileURLWithPath: file(name)))
    }

    func exists(_ name: String) -> Bool {
        FileManager.default.fileExists(atPath: file(name))
    }

    /// Everything in the directory, hidden files included.
    func listing(_ subdirectory: String = "") throws -> [String] {
        try directory.contents(subdirectory)
    }

    func fragments(of name: String, in subdirectory: String) throws -> [String] {
        try listing(subdirectory).filter { $0.hasPrefix(name + ".") && $0.hasSuffix(".flud") }
            .map { file(subdirectory + "/" + $0) }
    }

    /// Flips one byte of a file in place.
    func corrupt(_ path: String, at offset: Int) throws {
        let handle = try FileHandle(forUpdating: URL(fileURLWithPath: path))
        defer { try? handle.close() }
        try handle.seek(toOffset: UInt64(offset))
        let byte = try #require(try handle.read(upToCount: 1)).first!
        try handle.seek(toOffset: UInt64(offset))
        try handle.write(contentsOf: [byte ^ 0xFF])
    }
}
