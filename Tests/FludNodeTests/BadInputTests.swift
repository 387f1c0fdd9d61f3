import FludCodec
import FludTestSupport
import FludWire
import NIOCore
import Testing
@testable import FludNode

/// What a node does with clients that break the protocol: a specific error
/// or a closed connection, and the node goes on serving everyone else.
@Suite(.timeLimit(.minutes(3)))
struct BadInputTests {
    @Test func requestsBeforeTheHandshakeAreRefusedAndTheConnectionClosed() async throws {
        let harness = try await NodeHarness.start()
        let raw = try RawConnection(port: harness.node.port)
        let (key, bytes) = fragment(100, seed: 1)
        raw.send(Frame(kind: RequestKind.store.rawValue, requestID: 1,
                       body: Request.store(key: key, leaseExpiry: 0, bytes: []).encodedHead + bytes).encoded)
        let answer = try await onOwnThread { try raw.receive() }
        #expect(answer?.status == WireStatus.unauthenticated.rawValue)
        #expect(try await onOwnThread { try raw.isClosedByNode() })
        #expect(try harness.node.store.contains(key) == false)
        try await expectStillServing(harness)
        await harness.stop()
    }

    @Test func aSignatureForAnotherKeyIsRefused() async throws {
        let harness = try await NodeHarness.start()
        let raw = try RawConnection(port: harness.node.port)
        let claimed = PeerIdentity()
        let impostor = PeerIdentity()
        let clientNonce = Handshake.randomNonce()
        raw.send(Frame(kind: RequestKind.hello.rawValue, requestID: 1,
                       body: Handshake.helloRequest(key: claimed.publicKey, nonce: clientNonce)).encoded)
        let hello = try #require(try await onOwnThread { try raw.receive() })
        let (serverKey, serverNonce, _) = try Handshake.parseHelloResponse(hello.body)
        let transcript = Handshake.transcript(server: false, clientKey: claimed.publicKey, clientNonce: clientNonce,
                                              serverKey: serverKey, serverNonce: serverNonce)
        raw.send(Frame(kind: RequestKind.authenticate.rawValue, requestID: 2, body: impostor.signature(for: transcript)).encoded)
        #expect(try await onOwnThread { try raw.receive() }?.status == WireStatus.unauthenticated.rawValue)
        #expect(try await onOwnThread { try raw.isClosedByNode() })
        await harness.stop()
    }

    @Test func replayedRequestIDsAreRefused() async throws {
        let harness = try await NodeHarness.start()
        let raw = try RawConnection(port: harness.node.port)
        try await onOwnThread { try raw.authenticate(as: PeerIdentity()) }
        let (key, bytes) = fragment(100, seed: 2)
        let store = Frame(kind: RequestKind.store.rawValue, requestID: 3,
                          body: Request.store(key: key, leaseExpiry: 0, bytes: []).encodedHead + bytes)
        raw.send(store.encoded)
        #expect(try await onOwnThread { try raw.receive() }?.status == WireStatus.ok.rawValue)
        raw.send(store.encoded)
        let replay = try #require(try await onOwnThread { try raw.receive() })
        #expect(replay.status == WireStatus.replayed.rawValue)
        #expect(replay.requestID == 3)
        await harness.stop()
    }

    @Test func garbageAndOversizedFramesCloseOnlyThatConnection() async throws {
        let harness = try await NodeHarness.start()
        let garbage = try RawConnection(port: harness.node.port)
        garbage.send(Array("GET / HTTP/1.1\r\nHost: x\r\n\r\n".utf8))
        #expect(try await onOwnThread { try garbage.isClosedByNode() })

        let oversized = try RawConnection(port: harness.node.port)
        try await onOwnThread { try oversized.authenticate(as: PeerIdentity()) }
        oversized.send([0x7F, 0xFF, 0xFF, 0xFF, 3, 0, 0, 0, 0, 9])
        let answer = try await onOwnThread { try oversized.receive() }
        #expect(answer?.status == WireStatus.tooLarge.rawValue)
        #expect(try await onOwnThread { try oversized.isClosedByNode() })

        let unknown = try RawConnection(port: harness.node.port)
        try await onOwnThread { try unknown.authenticate(as: PeerIdentity()) }
        unknown.send(Frame(kind: 77, requestID: 3).encoded)
        #expect(try await onOwnThread { try unknown.receive() }?.status == WireStatus.unsupported.rawValue)
        try await expectStillServing(harness)
        await harness.stop()
    }

    @Test func stalledClientsAreDisconnected() async throws {
        let harness = try await NodeHarness.start {
            // Long enough that a loaded machine finishes the stalled client's
            // handshake before the idle timer (which also covers it) fires.
            $0.idleTimeout = .seconds(3)
            $0.handshakeTimeout = .seconds(10)
        }
        // Never says hello.
        let silent = try RawConnection(port: harness.node.port)
        // Stops in the middle of a frame.
        let stalled = try RawConnection(port: harness.node.port)
        try await onOwnThread { try stalled.authenticate(as: PeerIdentity()) }
        let (key, bytes) = fragment(10_000, seed: 3)
        let frame = Frame(kind: RequestKind.store.rawValue, requestID: 3,
                          body: Request.store(key: key, leaseExpiry: 0, bytes: []).encodedHead + bytes).encoded
        stalled.send(Array(frame.prefix(5000)))
        #expect(try await onOwnThread { try silent.isClosedByNode() })
        #expect(try await onOwnThread { try stalled.isClosedByNode() })
        #expect(try harness.node.store.contains(key) == false)
        await harness.stop()
    }

    /// A STORE sent in the same write as the AUTH that admits the peer is held
    /// to the peer's allowance like any other; connecting alone writes nothing.
    @Test func aStoreRightBehindTheHandshakeIsHeldToTheAllowance() async throws {
        let harness = try await NodeHarness.start { $0.trust.generosity = 4096 }
        let identity = PeerIdentity()
        let raw = try RawConnection(port: harness.node.port)
        let clientNonce = Handshake.randomNonce()
        raw.send(Frame(kind: RequestKind.hello.rawValue, requestID: 1,
                       body: Handshake.helloRequest(key: identity.publicKey, nonce: clientNonce)).encoded)
        let hello = try #require(try await onOwnThread { try raw.receive() })
        let (serverKey, serverNonce, _) = try Handshake.parseHelloResponse(hello.body)
        let transcript = Handshake.transcript(server: false, clientKey: identity.publicKey, clientNonce: clientNonce,
                                              serverKey: serverKey, serverNonce: serverNonce)
        let (key, bytes) = fragment(8192, seed: 8)
        raw.send(Frame(kind: RequestKind.authenticate.rawValue, requestID: 2, body: identity.signature(for: transcript)).encoded
                 + Frame(kind: RequestKind.store.rawValue, requestID: 3,
                         body: Request.store(key: key, leaseExpiry: 0, bytes: []).encodedHead + bytes).encoded)
        #expect(try await onOwnThread { try raw.receive() }?.status == WireStatus.ok.rawValue)
        #expect(try await onOwnThread { try raw.receive() }?.status == WireStatus.quotaExceeded.rawValue)
        #expect(try harness.node.store.contains(key) == false)
        let connectedOnly = try RawConnection(port: harness.node.port)
        try await onOwnThread { try connectedOnly.authenticate(as: PeerIdentity()) }
        #expect(await harness.node.status().owners == 0, "no owner record for peers that only connected")
        await harness.stop()
    }

    /// Connections past the limit are closed at once; those open are served.
    @Test func connectionsPastTheLimitAreClosed() async throws {
        let harness = try await NodeHarness.start { $0.maximumConnections = 4 }
        let open = try (0..<4).map { _ in try RawConnection(port: harness.node.port) }
        for _ in 0..<200 where await harness.node.status().connections < 4 { try await Task.sleep(for: .milliseconds(10)) }
        let extra = try RawConnection(port: harness.node.port)
        #expect(try await onOwnThread { try extra.isClosedByNode() })
        try await onOwnThread { try open[0].authenticate(as: PeerIdentity()) }
        withExtendedLifetime(open) {}
        await harness.stop()
    }

    /// The metrics port takes a scraper's few connections, not a flood.
    @Test func theMetricsPortClosesConnectionsPastItsLimit() async throws {
        let server = try await PrometheusExport.start(host: "127.0.0.1", port: 0)
        let open = try (0..<MetricsServer.maximumConnections).map { _ in try RawConnection(port: server.port) }
        try await Task.sleep(for: .milliseconds(300))  // (each is counted as it is set up, on its event loop)
        let extra = try RawConnection(port: server.port)
        #expect(try await onOwnThread { try extra.isClosedByNode() })
        withExtendedLifetime(open) {}
        await server.close()
    }

    @Test func peersThatKeepFailingAreThrottled() async throws {
        let harness = try await NodeHarness.start {
            $0.trust.faultBurst = 3
            $0.trust.faultsForgivenPerSecond = 0.001
        }
        let client = try await harness.client()
        let (key, _) = fragment(1000, seed: 4)
        for _ in 0..<3 {
            await #expect(performing: { try await client.store(deterministicBytes(1000, seed: 5), key: key) },
                          throws: { refusal($0) == .badKey })
        }
        await #expect(performing: { try await client.store(fragment(1000, seed: 6).bytes) },
                      throws: { refusal($0) == .throttled })
        // Others are served.
        try await expectStillServing(harness)
        #expect(harness.node.ledger[client.identityKey].faults == 3)
        await client.close()
        await harness.stop()
    }

    /// Thousands of requests in one write, their answers left unread: the
    /// node runs a few at a time and stops while the answers cannot go out,
    /// rather than holding every answer in memory; then all are answered.
    @Test func aBurstOfRequestsWaitsInLineWhileItsAnswersAreNotRead() async throws {
        let harness = try await NodeHarness.start()
        let identity = PeerIdentity()
        let raw = try RawConnection(port: harness.node.port)
        try await onOwnThread { try raw.authenticate(as: identity) }
        let (key, bytes) = fragment(32 << 10, seed: 7)
        raw.send(Frame(kind: RequestKind.store.rawValue, requestID: 3,
                       body: Request.store(key: key, leaseExpiry: 0, bytes: []).encodedHead + bytes).encoded)
        #expect(try await onOwnThread { try raw.receive() }?.status == WireStatus.ok.rawValue)
        let count = 3000
        var burst: [UInt8] = []
        for requestID in 4..<UInt32(4 + count) {
            burst += Frame(kind: RequestKind.retrieve.rawValue, requestID: requestID, body: Request.retrieve(key: key).encodedHead).encoded
        }
        raw.send(burst)
        try await Task.sleep(for: .seconds(2))
        let served = harness.node.ledger[identity.publicKey].requestsServed
        #expect(served < UInt64(count / 2), "\(served) of \(count) answered into a socket nobody reads")
        let answered = try await onOwnThread {
            var answered = 0
            while answered < count, let frame = try raw.receive() {
                guard frame.status == WireStatus.ok.rawValue, frame.body == bytes else { break }
                answered += 1
            }
            return answered
        }
        #expect(answered == count)
        await harness.stop()
    }

    private func expectStillServing(_ harness: NodeHarness) async throws {
        let client = try await harness.client()
        let (key, bytes) = fragment(4096, seed: 99)
        try await client.store(bytes)
        #expect(try await client.retrieve(key) == bytes)
        await client.close()
    }
}
