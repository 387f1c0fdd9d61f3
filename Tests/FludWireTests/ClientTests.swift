import FludTestSupport
import Foundation
import NIOCore
import Testing
@testable import FludWire
#if canImport(Glibc)
import Glibc
#endif

struct ClientTests {
    /// A node that accepts and hangs up at once (overloaded, shutting down)
    /// is unreachable, a ``WireError`` callers retry elsewhere, every time,
    /// however the hang-up races the client's own setup.
    @Test func aNodeThatHangsUpAtOnceIsUnreachable() async throws {
        let listener = try #require(LoopbackListener())
        let attempts = 200
        let accepting = Thread { listener.acceptAndClose(count: attempts) }
        accepting.start()
        for attempt in 0..<attempts {
            do {
                let client = try await FragmentClient.connect(host: "127.0.0.1", port: listener.port, identity: PeerIdentity(),
                                                              connectTimeout: .seconds(5), requestTimeout: .seconds(10))
                await client.close()
                Issue.record("attempt \(attempt): a handshake with a node that hung up succeeded")
            } catch let error as WireError {
                #expect(error.isNoAnswer, "attempt \(attempt): \(error)")
            } catch {
                Issue.record("attempt \(attempt): not a WireError: \(error)")
            }
        }
    }
}

/// A listening TCP socket on 127.0.0.1 that closes what it accepts.
private final class LoopbackListener: @unchecked Sendable {
    let descriptor: Int32
    let port: Int

    init?() {
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        self.descriptor = descriptor
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(descriptor, $0, length) == 0 && listen(descriptor, 64) == 0
                    && getsockname(descriptor, $0, &length) == 0
            }
        }
        port = Int(UInt16(bigEndian: address.sin_port))
        // Bounded: accept gives up after 30 s without a client.
        var timeout = timeval(tv_sec: 30, tv_usec: 0)
        setsockopt(descriptor, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        guard bound else { close(descriptor); return nil }
    }

    deinit { close(descriptor) }

    func acceptAndClose(count: Int) {
        for _ in 0..<count {
            let connection = accept(descriptor, nil, nil)
            guard connection >= 0 else { return }
            close(connection)
        }
    }
}
