import Foundation
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// Plain POSIX sockets on 127.0.0.1, for tests that must send what no
/// well-behaved client would, or probe ports.
public enum LoopbackSocket {
    /// A TCP socket connected to 127.0.0.1:`port` whose reads give up after
    /// `receiveTimeout` seconds, or nil if nothing listens there.
    public static func connect(port: Int, receiveTimeout: Int = 10) -> Int32? {
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard withAddress(port: port, { Glibc.connect(descriptor, $0, $1) }) == 0 else {
            close(descriptor)
            return nil
        }
        var timeout = timeval(tv_sec: receiveTimeout, tv_usec: 0)
        setsockopt(descriptor, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        return descriptor
    }

    /// A port free for both UDP and TCP on 127.0.0.1 right now (0 if none was
    /// found). It lies below the kernel's ephemeral range, so no socket bound
    /// to port 0 can take it before the caller binds it, and this process never
    /// hands it out twice.
    public static func freePort() -> Int {
        let range = ephemeralRange()
        let candidates = range.lowerBound > 12_000 ? 10_000...(range.lowerBound - 1) : 10_000...60_000
        for _ in 0..<200 {
            let port = Int.random(in: candidates)
            guard handedOut.withLock({ $0.insert(port).inserted }) else { continue }
            let free = [SOCK_STREAM, SOCK_DGRAM].allSatisfy { type in
                let descriptor = socket(AF_INET, Int32(type.rawValue), 0)
                defer { close(descriptor) }
                return withAddress(port: port, { bind(descriptor, $0, $1) }) == 0
            }
            if free { return port }
        }
        return 0
    }

    private static let handedOut = Mutex<Set<Int>>([])

    /// The kernel's ephemeral port range (Linux's default if unreadable).
    private static func ephemeralRange() -> ClosedRange<Int> {
        let text = (try? String(contentsOfFile: "/proc/sys/net/ipv4/ip_local_port_range", encoding: .utf8)) ?? ""
        let bounds = text.split(whereSeparator: \.isWhitespace).compactMap { Int($0) }
        guard bounds.count == 2, bounds[0] <= bounds[1] else { return 32_768...60_999 }
        return bounds[0]...bounds[1]
    }

    private static func withAddress(port: Int, _ body: (UnsafePointer<sockaddr>, socklen_t) -> Int32) -> Int32 {
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        return withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { body($0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
    }
}
