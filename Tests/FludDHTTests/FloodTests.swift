import NIOCore
import NIOPosix
import Synchronization
import Testing
@testable import FludDHT

/// Rate limits: a flood from one IP address gets a bounded number of answers,
/// and other addresses are served meanwhile.
@Suite(.timeLimit(.minutes(1)))
struct FloodTests {
    @Test func tokenBucketsRefillAtTheirRateAndStayBounded() {
        var buckets = TokenBuckets<Int>(rate: 2, burst: 3, capacity: 4)
        #expect((0..<5).map { _ in buckets.take(1, now: 0) } == [true, true, true, false, false])
        #expect(buckets.take(1, now: 0.4) == false, "0.8 tokens regained: not yet one")
        #expect(buckets.take(1, now: 0.5) == true)
        buckets.spend(2, now: 0)
        buckets.spend(2, now: 0)
        buckets.spend(2, now: 0)
        buckets.spend(2, now: 0)
        #expect(buckets.tokens(2, now: 0) == -1, "spending goes into debt")
        #expect(buckets.tokens(2, now: 1) == 1)
        for key in 10..<100 { _ = buckets.take(key, now: 10) }
        #expect(buckets.count <= 4)
    }

    @Test func aFloodFromOneAddressIsCappedAndOthersAreStillAnswered() async throws {
        let node = try await DHTNode.start(queriesPerSecondPerIP: 50)
        let target = try DHTNode.address("127.0.0.1:\(node.port)")
        let flooder = try await CountingProbe.start(host: "127.0.0.1")
        let ping = KRPCMessage(transactionID: [1, 2], body: .query(method: "ping", arguments: ["id": .bytes([UInt8](repeating: 3, count: 20))])).encoded
        let start = ContinuousClock.now
        // Paced, so the node's socket buffer (not the limit) drops none.
        for _ in 0..<40 {
            for _ in 0..<50 { try await flooder.send(ping, to: target) }
            try await Task.sleep(for: .milliseconds(5))
        }
        // Until the node has taken every ping (on a busy machine some still
        // wait in its socket buffer), at most 5 s.
        var dropped = 0
        for _ in 0..<100 {
            dropped = await node.datagramsDropped()
            if dropped + flooder.received >= 2000 { break }
            try await Task.sleep(for: .milliseconds(50))
        }
        let elapsed = Double((ContinuousClock.now - start).components.attoseconds) / 1e18 + Double((ContinuousClock.now - start).components.seconds)
        let answered = flooder.received
        #expect(answered >= 100, "the burst is answered")
        #expect(Double(answered) <= 100 + 50 * elapsed + 1, "\(answered) answers in \(elapsed) s")
        #expect(dropped + answered >= 1980, "every ping not answered was dropped by the limit: \(dropped) dropped, \(answered) answered")

        // Another IP address is not held back by the flood.
        let bystander = try await CountingProbe.start(host: "127.0.0.2")
        try await bystander.send(ping, to: target)
        #expect(try await bystander.waitFor(1))

        // And the flooder is answered again once its bucket has refilled a little.
        try await Task.sleep(for: .milliseconds(300))
        let before = flooder.received
        try await flooder.send(ping, to: target)
        #expect(try await flooder.waitFor(before + 1))

        try await flooder.close()
        try await bystander.close()
        await node.close()
    }
}

/// A UDP socket that counts the datagrams it receives.
final class CountingProbe: ChannelInboundHandler, Sendable {
    typealias InboundIn = AddressedEnvelope<ByteBuffer>
    private let count = Atomic<Int>(0)
    private let channel = Mutex<Channel?>(nil)

    static func start(host: String) async throws -> CountingProbe {
        let probe = CountingProbe()
        let channel = try await DatagramBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .channelInitializer { $0.pipeline.addHandler(probe) }
            .bind(host: host, port: 0).get()
        probe.channel.withLock { $0 = channel }
        return probe
    }

    var received: Int { count.load(ordering: .relaxed) }

    /// Whether `count` datagrams have arrived within 10 seconds.
    func waitFor(_ count: Int) async throws -> Bool {
        for _ in 0..<1000 where received < count { try await Task.sleep(for: .milliseconds(10)) }
        return received >= count
    }

    func send(_ bytes: [UInt8], to address: SocketAddress) async throws {
        let channel = self.channel.withLock { $0! }
        try await channel.writeAndFlush(AddressedEnvelope(remoteAddress: address, data: ByteBuffer(bytes: bytes)))
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        count.add(1, ordering: .relaxed)
    }

    func close() async throws {
        try await channel.withLock { $0! }.close()
    }
}
