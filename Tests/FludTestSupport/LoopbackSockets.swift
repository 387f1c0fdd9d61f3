import Foundation
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

    /// A port free for both UDP and TCP on 127.0.0.1 right now (0 if none was found).
    public static func freePort() -> Int {
        for _ in 0..<50 {
            let port = Int.random(in: 20_000...60_000)
            let free = [SOCK_STREAM, SOCK_DGRAM].allSatisfy { type in
                let descriptor = socket(AF_INET, Int32(type.rawValue), 0)
                defer { close(descriptor) }
                return withAddress(port: port, { bind(descriptor, $0, $1) }) == 0
            }
            if free { return port }
        }
        return 0
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
