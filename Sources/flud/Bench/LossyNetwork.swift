import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Packet loss for `flud bench recovery --loss`.
///
/// The benchmark runs itself again inside a new, unnamed network namespace
/// (`unshare --net`): its own loopback, so the host's traffic is untouched.
/// There, an nftables rule drops each packet arriving on loopback with
/// probability P (`numgen random`). This kernel has no `netem` queueing
/// discipline, so packets are dropped but not delayed. An unnamed namespace
/// disappears with its last process, so nothing outlives the benchmark.
enum LossyNetwork {
    /// Set in the environment of the copy running inside the namespace.
    private static let insideVariable = "FLUD_BENCH_NAMESPACE"
    private static let table = "flud_bench"

    static var isInside: Bool { ProcessInfo.processInfo.environment[insideVariable] == "1" }

    /// Why packet loss cannot be simulated here, or nil when it can.
    static func unavailableReason() -> String? {
        guard geteuid() == 0 else { return "packet loss needs root, to create a network namespace" }
        for tool in ["unshare", "ip", "nft"] where executable(tool) == nil {
            return "packet loss needs `\(tool)` (Debian packages util-linux, iproute2 and nftables)"
        }
        return nil
    }

    /// Runs this command again with the same arguments inside a new network
    /// namespace and returns its exit status. SIGINT and SIGTERM are passed on,
    /// so the inner copy cleans up its node processes before it exits.
    static func rerunInside(executable flud: String) throws -> Int32 {
        setenv(insideVariable, "1", 1)
        let child = try spawn(executable("unshare")!, ["--net", "--", flud] + CommandLine.arguments.dropFirst())
        let forwards = [SIGINT, SIGTERM].map { (signal: Int32) -> any DispatchSourceSignal in
            Glibc.signal(signal, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: signal, queue: .global())
            source.setEventHandler { kill(child, signal) }
            source.resume()
            return source
        }
        defer { forwards.forEach { $0.cancel() } }
        return wait(for: child)
    }

    /// Inside the namespace: brings loopback up and installs an empty table
    /// whose input chain will hold the loss rule.
    static func prepare() throws {
        try run("ip", ["link", "set", "lo", "up"])
        try nft("""
            table inet \(table) {
                chain input { type filter hook input priority 0; policy accept; }
            }
            """)
    }

    /// Drops each packet arriving on loopback with probability `fraction`
    /// from now on (0 removes the rule). Dropping on input, not output, so
    /// senders see no error, as on a real lossy link.
    static func setLoss(_ fraction: Double) throws {
        var rules = "flush chain inet \(table) input\n"
        let perTenThousand = Int((fraction * 10_000).rounded())
        if perTenThousand > 0 {
            rules += "add rule inet \(table) input numgen random mod 10000 < \(perTenThousand) drop\n"
        }
        try nft(rules)
    }

    private static func nft(_ rules: String) throws {
        let file = NSTemporaryDirectory() + "/flud-nft-\(getpid()).rules"
        try rules.write(toFile: file, atomically: false, encoding: .utf8)
        defer { unlink(file) }
        try run("nft", ["-f", file])
    }

    private static func run(_ tool: String, _ arguments: [String]) throws {
        guard let path = executable(tool) else { throw Failure(kind: .runtime, description: "`\(tool)` not found") }
        let status = wait(for: try spawn(path, arguments))
        guard status == 0 else {
            throw Failure(kind: .runtime, description: "`\(tool) \(arguments.joined(separator: " "))` failed with status \(status)")
        }
    }

    /// Starts `path` with the signal mask and the dispositions of SIGINT,
    /// SIGTERM and SIGCHLD reset (this process may block or ignore them).
    /// Plain posix_spawn and waitpid: Foundation's Process waits through a run
    /// loop and SIGCHLD, which a process started under `unshare` here may not see.
    private static func spawn(_ path: String, _ arguments: [String]) throws -> pid_t {
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var empty = sigset_t()
        sigemptyset(&empty)
        posix_spawnattr_setsigmask(&attributes, &empty)
        var defaults = sigset_t()
        sigemptyset(&defaults)
        for signal in [SIGINT, SIGTERM, SIGCHLD] { sigaddset(&defaults, signal) }
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
        let argv = ([path] + arguments).map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        var pid = pid_t()
        let status = posix_spawn(&pid, path, nil, &attributes, argv, environ)
        guard status == 0 else {
            throw Failure(kind: .runtime, description: "cannot start \(path): \(String(cString: strerror(status)))")
        }
        return pid
    }

    /// The exit status of `pid` (128 + the signal if one killed it).
    private static func wait(for pid: pid_t) -> Int32 {
        var status: Int32 = 0
        while waitpid(pid, &status, 0) == -1 && errno == EINTR {}
        let signal = status & 0x7F
        return signal == 0 ? (status >> 8) & 0xFF : 128 + signal
    }

    /// The full path of `tool` on PATH or in the sbin directories (root's tools).
    private static func executable(_ tool: String) -> String? {
        let path = (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":").map(String.init)
        return (path + ["/usr/sbin", "/sbin", "/usr/bin", "/bin"]).map { $0 + "/" + tool }
            .first { FileManager.default.isExecutableFile(atPath: $0) }
    }
}
