import Testing
@testable import FludCodec

struct StripeBufferTests {
    @Test(arguments: [1, 63, 64, 1000, 4096, 5000, 1 << 20])
    func shardsAreAlignedAndDisjoint(capacity: Int) {
        let stripe = StripeBuffer(shardCount: 40, shardCapacity: capacity)
        var starts: [Int] = []
        for index in 0..<40 {
            let address = Int(bitPattern: stripe.shard(index).baseAddress)
            #expect(address % 64 == 0)
            starts.append(address)
        }
        for (first, second) in zip(starts, starts.dropFirst()) {
            #expect(second - first >= capacity)
        }
    }

    @Test func largeShardsStartAtDifferentPageOffsets() {
        let stripe = StripeBuffer(shardCount: 40, shardCapacity: 1 << 20)
        let offsets = Set((0..<40).map { Int(bitPattern: stripe.shard($0).baseAddress) % 4096 })
        #expect(offsets.count == 40)
    }

    @Test func shardLengthSpreadsDataOverK() {
        #expect(StripeBuffer.shardLength(dataBytes: 0, dataShards: 4) == 0)
        #expect(StripeBuffer.shardLength(dataBytes: 1, dataShards: 4) == 1)
        #expect(StripeBuffer.shardLength(dataBytes: 1 << 20, dataShards: 20) == 52429)
    }

    @Test func shardSetBehavesLikeASet() {
        var set = ShardSet([3, 200, 64, 0, 255])
        #expect(Array(set) == [0, 3, 64, 200, 255])
        #expect(set.count == 5)
        set.remove(64)
        #expect(!set.contains(64))
        #expect(Array(set.prefix(2)) == [0, 3])
        #expect(Array(ShardSet.first(5).subtracting(ShardSet([1, 3]))) == [0, 2, 4])
        #expect(ShardSet([1, 2]) == ShardSet([2, 1]))
    }
}
