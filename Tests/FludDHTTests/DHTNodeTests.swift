import FludTestSupport
import NIOCore
import NIOPosix
import Testing
@testable import FludDHT

/// Real DHT nodes on 127.0.0.1 talking over real UDP sockets.
@Suite(.timeLimit(.minutes(2)))
struct DHTNodeTests {
    func address(_ node: DHTNode) throws -> SocketAddress {
        try DHTNode.address("127.0.0.1:\(node.port)")
    }

    @Test func twoNodesPingEachOtherAndLearnOfEachOther() async throws {
        let alice = try await DHTNode.start()
        let bob = try await DHTNode.start()
        #expect(try await alice.ping(address(bob)) == bob.id)
        #expect(await alice.routingTableSize() == 1)
        #expect(await bob.routingTableSize() == 1, "a query teaches the receiver about the sender")
        await alice.close()
        await bob.close()
    }

    @Test func aSilentAddressTimesOut() async throws {
        let alice = try await DHTNode.start(queryTimeout: .milliseconds(200))
        let silent = try await DatagramBootstrap(group: MultiThreadedEventLoopGroup.singleton).bind(host: "127.0.0.1", port: 0).get()
        let port = silent.localAddress!.port!
        await #expect(throws: DHTError.timeout(address: "\(try DHTNode.address("127.0.0.1:\(port)"))")) {
            try await alice.ping(DHTNode.address("127.0.0.1:\(port)"))
        }
        try await silent.close()
        await alice.close()
    }

    /// Once a node knows loopback's sub-millisecond round trips, it gives up on
    /// a silent contact after its minimum wait, not after four round trips.
    @Test func aQueryWaitsAtLeastTheMinimumWait() async throws {
        let alice = try await DHTNode.start(queryTimeout: .seconds(5), minimumQueryWait: .milliseconds(600))
        let bob = try await DHTNode.start()
        _ = try await alice.ping(address(bob))
        let silent = try await DatagramBootstrap(group: MultiThreadedEventLoopGroup.singleton).bind(host: "127.0.0.1", port: 0).get()
        let start = ContinuousClock.now
        await #expect(throws: DHTError.self) { try await alice.ping(DHTNode.address("127.0.0.1:\(silent.localAddress!.port!)")) }
        let waited = ContinuousClock.now - start
        #expect(waited >= .milliseconds(600) && waited < .seconds(5), "gave up after \(waited)")
        try await silent.close()
        await alice.close()
        await bob.close()
    }

    /// A node on a lossy path: it ignores the first copy of every query and
    /// answers the second. The query is sent again within its timeout, with
    /// the same transaction, so the ping succeeds, in well under the timeout.
    @Test func aLostQueryIsSentAgainWithinItsTimeout() async throws {
        // A long timeout, so a loaded machine cannot stretch the resend past it.
        let alice = try await DHTNode.start(queryTimeout: .seconds(10))
        let lossy = try await DatagramBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .channelInitializer { $0.pipeline.addHandler(DropFirstCopy()) }
            .bind(host: "127.0.0.1", port: 0).get()
        let start = ContinuousClock.now
        let responder = try await alice.ping(DHTNode.address("127.0.0.1:\(lossy.localAddress!.port!)"))
        #expect(responder == DropFirstCopy.id)
        #expect(ContinuousClock.now - start < .seconds(10), "answered before the timeout")
        try await lossy.close()
        await alice.close()
    }

    /// 32 nodes bootstrap from the first; a lookup from any of them finds the
    /// 8 nodes truly closest to a random target. Every query waits at least
    /// a second: with the whole suite running on two cores, an event loop
    /// can stall past the default 100 ms and a live node would then drop out
    /// of a lookup as if dead (seen once: 7 of the 8 found).
    @Test func iterativeLookupFindsTheClosestNodes() async throws {
        var nodes: [DHTNode] = []
        for _ in 0..<32 { nodes.append(try await DHTNode.start(minimumQueryWait: .seconds(1))) }
        let seed = try address(nodes[0])
        for node in nodes.dropFirst() { await node.bootstrap(from: [seed]) }
        // A second pass lets early joiners meet the later ones.
        for node in nodes.dropFirst() { await node.bootstrap(from: [seed]) }
        var random = SplitMix64(seed: 9)
        for round in 0..<5 {
            let target = NodeID.random(using: &random)
            let searcher = nodes[(round * 7) % nodes.count]
            let found = await searcher.lookup(target).map(\.id)
            let truth = nodes.map(\.id).filter { $0 != searcher.id }
                .sorted { $0.distance(to: target) < $1.distance(to: target) }.prefix(8)
            #expect(found == Array(truth), "round \(round)")
        }
        for node in nodes { await node.close() }
    }

    @Test func malformedAndUnknownQueriesGetKRPCErrors() async throws {
        let node = try await DHTNode.start()
        let probe = try await RawUDPProbe.start()
        let target = try address(node)
        let garbage = try await probe.exchange(Array("d1:t2:xy1:y1:qe".utf8), with: target)
        #expect(garbage == .error(.protocolError("a query needs a method name 'q'")))
        let unknown = try await probe.exchange(
            KRPCMessage(transactionID: [7], body: .query(method: "frobnicate", arguments: ["id": .bytes([UInt8](repeating: 1, count: 20))])).encoded,
            with: target)
        #expect(unknown == .error(.methodUnknown("frobnicate")))
        let badID = try await probe.exchange(
            KRPCMessage(transactionID: [8], body: .query(method: "ping", arguments: ["id": .string("short")])).encoded, with: target)
        #expect(badID == .error(.protocolError("'id' must be 20 bytes")))
        await node.close()
        try await probe.close()
    }

    @Test func announcedPeersComeBackWithAValidTokenOnly() async throws {
        let node = try await DHTNode.start()
        let client = try await DHTNode.start()
        let target = try address(node)
        let infoHash = NodeID.random()
        let first = try await client.query("get_peers", ["info_hash": .bytes(infoHash.bytes)], to: target)
        let token = try #require(first.values["token"]?.bytesValue)
        #expect(first.values["values"] == nil)
        await #expect(throws: DHTError.remote(.protocolError("bad token"))) {
            try await client.query("announce_peer", ["info_hash": .bytes(infoHash.bytes), "port": .integer(6881), "token": .bytes([1, 2, 3])], to: target)
        }
        _ = try await client.query("announce_peer", ["info_hash": .bytes(infoHash.bytes), "port": .integer(6881), "token": .bytes(token)], to: target)
        let second = try await client.query("get_peers", ["info_hash": .bytes(infoHash.bytes)], to: target)
        #expect(second.values["values"] == .list([.bytes([127, 0, 0, 1, 0x1A, 0xE1])]))
        await node.close()
        await client.close()
    }
}

/// A bare UDP socket that sends one datagram and decodes the first reply.
final class RawUDPProbe: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = AddressedEnvelope<ByteBuffer>
    private var channel: Channel!
    private var reply: EventLoopPromise<KRPCMessage.Body>?

    static func start() async throws -> RawUDPProbe {
        let probe = RawUDPProbe()
        probe.channel = try await DatagramBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .channelInitializer { $0.pipeline.addHandler(probe) }
            .bind(host: "127.0.0.1", port: 0).get()
        return probe
    }

    func exchange(_ bytes: [UInt8], with address: SocketAddress) async throws -> KRPCMessage.Body {
        let promise = channel.eventLoop.makePromise(of: KRPCMessage.Body.self)
        try await channel.eventLoop.submit { self.reply = promise }.get()
        try await channel.writeAndFlush(AddressedEnvelope(remoteAddress: address, data: ByteBuffer(bytes: bytes)))
        return try await promise.futureResult.get()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let envelope = unwrapInboundIn(data)
        if let message = try? KRPCMessage(decoding: Array(envelope.data.readableBytesView)) {
            reply?.succeed(message.body)
            reply = nil
        }
    }

    func close() async throws { try await channel.close() }
}

extension DHTNodeTests {
    @Test func readOnlyClientsAreAnsweredButNotRemembered() async throws {
        let node = try await DHTNode.start()
        let client = try await DHTNode.start(readOnly: true)
        #expect(try await client.ping(address(node)) == node.id)
        #expect(await node.routingTableSize() == 0, "BEP 43: a read-only querier stays out of the routing table")
        #expect(await client.routingTableSize() == 1)
        await node.close()
        await client.close()
    }
}

/// Answers a KRPC query only the second time the same transaction arrives.
private final class DropFirstCopy: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = AddressedEnvelope<ByteBuffer>
    typealias OutboundOut = AddressedEnvelope<ByteBuffer>
    static let id = NodeID(bytes: [UInt8](repeating: 7, count: 20))!
    private var seen = Set<[UInt8]>()

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let envelope = unwrapInboundIn(data)
        guard let message = try? KRPCMessage(decoding: Array(envelope.data.readableBytesView)) else { return }
        // The first copy is "lost".
        guard !seen.insert(message.transactionID).inserted else { return }
        let answer = KRPCMessage(transactionID: message.transactionID, body: .response(["id": .bytes(Self.id.bytes)]))
        let buffer = context.channel.allocator.buffer(bytes: answer.encoded)
        context.writeAndFlush(wrapOutboundOut(AddressedEnvelope(remoteAddress: envelope.remoteAddress, data: buffer)), promise: nil)
    }
}
