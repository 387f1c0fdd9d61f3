import FludCodec
import FludWire

/// Uploads and downloads whole objects (sealed chunks, manifests) as their
/// fragments, in parallel, over a ``FragmentNetwork``.
struct ObjectTransfer: Sendable {
    let network: FragmentNetwork
    let codec: ObjectCodec

    /// Seals `plaintext`, codes it k + m, stores each fragment on its own
    /// node (another node if that one fails) and returns its reference.
    func upload(_ plaintext: [UInt8], hash: ContentHash, dataShards: Int, parityShards: Int) async throws -> ChunkRef {
        let sealed = try codec.seal(plaintext, hash: hash, dataShards: dataShards, parityShards: parityShards)
        let placement = await network.placement(for: hash, count: sealed.fragments.count)
        guard !placement.isEmpty else { throw BackupError.notEnoughNodes(found: 0) }
        let network = self.network
        let locations = try await withThrowingTaskGroup(of: (Int, ObjectRef.FragmentLocation).self) { group in
            for (index, fragment) in sealed.fragments.enumerated() {
                group.addTask {
                    let key = ContentHash(fragment: fragment)
                    // Alternates: the nodes after this one in placement order.
                    let alternates = Array(placement[(index + 1)...] + placement[..<index])
                    let node = try await network.store(fragment, key: key, preferred: placement[index], alternates: alternates)
                    return (index, ObjectRef.FragmentLocation(key: key.hex, node: node))
                }
            }
            var locations = [ObjectRef.FragmentLocation?](repeating: nil, count: sealed.fragments.count)
            for try await (index, location) in group { locations[index] = location }
            return locations.map { $0! }
        }
        return ChunkRef(hash: hash.hex, length: plaintext.count, compressed: sealed.compressed,
                        object: ObjectRef(dataShards: dataShards, parityShards: parityShards,
                                          sealedLength: sealed.sealedLength, fragments: locations))
    }

    /// The chunk's plaintext from any k of its fragments: data shards first
    /// (no decoding needed when they all answer), then parity for the missing.
    func download(_ chunk: ChunkRef) async throws -> [UInt8] {
        let fragments = await fetch(chunk)
        guard fragments.count >= chunk.object.dataShards else {
            throw BackupError.tooFewFragments(chunk: chunk.hash, reachable: fragments.count, needed: chunk.object.dataShards)
        }
        return try codec.open(fragments, chunk: chunk)
    }

    /// k fragments of the chunk by shard index (fewer if fewer could be had),
    /// asked in `order` (by default the network's fetch order: data shards
    /// first, doubtful nodes last). A fragment whose node gave no answer is
    /// asked once more after every other holder was tried: under heavy packet
    /// loss a connect or a request can time out on a node that holds the
    /// fragment, and a second try then saves the chunk, while a node that
    /// refused or sent bad bytes is not asked again.
    func fetch(_ chunk: ChunkRef, order given: [Int]? = nil) async -> [Int: [UInt8]] {
        let object = chunk.object
        let network = self.network
        let needed = object.dataShards
        let order: [Int]
        if let given { order = given } else { order = await network.fetchOrder(object.fragments.map(\.node)) }
        return await withTaskGroup(of: (index: Int, bytes: [UInt8]?, noAnswer: Bool).self) { group in
            var untried = order[...]
            var askAgain: [Int] = []
            var askedAgain = Set<Int>()
            func start() {
                let index: Int
                if let first = untried.popFirst() {
                    index = first
                } else if !askAgain.isEmpty {
                    index = askAgain.removeFirst()
                    askedAgain.insert(index)
                } else {
                    return
                }
                let location = object.fragments[index]
                group.addTask {
                    guard let key = ContentHash(hex: location.key) else { return (index, nil, false) }
                    do {
                        let bytes = try await network.retrieve(key, from: location.node)
                        return (index, bytes, false)
                    } catch {
                        return (index, nil, (error as? WireError)?.isNoAnswer == true)
                    }
                }
            }
            for _ in 0..<needed { start() }
            var received: [Int: [UInt8]] = [:]
            while received.count < needed, let result = await group.next() {
                if let bytes = result.bytes {
                    received[result.index] = bytes
                    continue
                }
                if result.noAnswer, !askedAgain.contains(result.index) { askAgain.append(result.index) }
                start()
            }
            group.cancelAll()
            return received
        }
    }
}
