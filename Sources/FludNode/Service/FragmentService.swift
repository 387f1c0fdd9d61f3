import FludCodec
import FludStore
import FludWire
import Foundation
import NIOCore

/// The fragment primitives, on top of the block store: what a node does for
/// an authenticated peer's request. Each answer is a whole response frame.
struct FragmentService: Sendable {
    let store: BlockStore
    let ledger: TrustLedger
    let metrics: NodeMetrics
    /// Lease given to a STORE that asks for none (seconds).
    let defaultLease: UInt64
    /// Most entries a LIST answer carries.
    static let listLimit: UInt32 = 10_000
    let statusDocument: @Sendable () async -> [UInt8]

    func handle(_ request: Request, requestID: UInt32, from peer: PeerKey,
                allocator: ByteBufferAllocator) async -> ByteBuffer {
        let started = ContinuousClock.now
        let status: WireStatus
        let response: ByteBuffer
        do {
            response = try await perform(request, requestID: requestID, from: peer, allocator: allocator)
            status = .ok
        } catch {
            let (errorStatus, message) = Self.status(for: error)
            status = errorStatus
            response = allocator.errorFrame(kind: request.kind.rawValue, requestID: requestID, status: status, message: message)
        }
        if status.isPeerFault { ledger.record(.fault, for: peer) } else if status == .ok { ledger.record(.served, for: peer) }
        if case .verify = request { metrics.audit(passed: status == .ok) }
        metrics.request(request.kind, status: status, seconds: (ContinuousClock.now - started).seconds)
        return response
    }

    private func perform(_ request: Request, requestID: UInt32, from peer: PeerKey,
                         allocator: ByteBufferAllocator) async throws -> ByteBuffer {
        let owner = OwnerID(peer)
        let kind = request.kind.responseKind
        switch request {
        case let .store(key, leaseExpiry, bytes):
            let lease = leaseExpiry != 0 ? leaseExpiry : UInt64(Date().timeIntervalSince1970) + defaultLease
            // The allowance as it is now (what we keep with the peer plus the
            // margin), checked in the store's transaction: nothing is written
            // for a peer until it stores, and no store runs ahead of it.
            let outcome = try await store.put(bytes, key: key, owner: owner, leaseExpiry: lease,
                                              quota: ledger.allowance(for: peer))
            metrics.transferred(bytes: bytes.count, direction: "in")
            let code: UInt8 = switch outcome {
            case .stored: 0
            case .claimAdded: 1
            case .leaseRenewed: 2
            }
            return allocator.frame(kind: kind, requestID: requestID, head: [code])
        case let .retrieve(key):
            let frame = try store.withFragment(key) { allocator.frame(kind: kind, requestID: requestID, payload: $0) }
            metrics.transferred(bytes: frame.readableBytes - Frame.headerSize, direction: "out")
            return frame
        case let .verify(key, challenge):
            let answer = try store.withFragment(key) { bytes in
                challenge.fits(size: bytes.count) ? challenge.answer(for: bytes) : nil
            }
            guard let answer else {
                let size = try store.size(of: key) ?? 0
                throw WireError.refused(.outOfRange, "the challenge covers bytes \(challenge.offset)..<\(challenge.offset &+ challenge.length) of a \(size)-byte fragment")
            }
            return allocator.frame(kind: kind, requestID: requestID, head: answer)
        case let .delete(key):
            // The size first: the bytes may go with this claim.
            let size = try store.size(of: key)
            guard let size, try await store.deleteClaim(key: key, owner: owner) else {
                throw WireError.refused(.notFound, "you hold no claim on \(key.hex)")
            }
            return allocator.frame(kind: kind, requestID: requestID, head: withUnsafeBytes(of: UInt64(size).bigEndian) { Array($0) })
        case let .stat(key):
            guard let claim = try store.claims(on: key).first(where: { $0.owner == owner }),
                  let size = try store.size(of: key) else {
                throw WireError.refused(.notFound, "you hold no claim on \(key.hex)")
            }
            let info = FragmentInfo(key: key, size: UInt64(size), leaseExpiry: claim.leaseExpiry)
            return allocator.frame(kind: kind, requestID: requestID, head: info.encoded)
        case let .list(after, limit):
            let entries = try store.fragments(claimedBy: owner, after: after, limit: Int(min(limit, Self.listLimit)))
                .map { FragmentInfo(key: $0.key, size: UInt64($0.size), leaseExpiry: $0.leaseExpiry) }
            return allocator.frame(kind: kind, requestID: requestID, head: FragmentInfo.encodeList(entries))
        case .status:
            return allocator.frame(kind: kind, requestID: requestID, head: await statusDocument())
        case let .renew(key, leaseExpiry):
            guard let lease = try await store.renewClaim(key: key, owner: owner, leaseExpiry: leaseExpiry) else {
                throw WireError.refused(.notFound, "you hold no claim on \(key.hex)")
            }
            return allocator.frame(kind: kind, requestID: requestID, head: withUnsafeBytes(of: lease.bigEndian) { Array($0) })
        }
    }

    /// The wire status and message for a failed request.
    static func status(for error: Error) -> (WireStatus, String) {
        switch error {
        case let error as WireError:
            if case let .refused(status, message) = error { return (status, message) }
            return (error.status, error.description)
        case let error as StoreError:
            let status: WireStatus = switch error {
            case .hashMismatch: .badKey
            case .notFound: .notFound
            case .quotaExceeded: .quotaExceeded
            case .full: .storeFull
            case .fragmentTooLarge: .tooLarge
            case .emptyFragment: .malformed
            case .corrupt: .corrupt
            case .inUse, .notAStore, .cannotOpen, .closed, .storage: .internalError
            }
            return (status, error.description)
        default:
            return (.internalError, "\(error)")
        }
    }
}

extension WireStatus {
    /// Statuses that mean the peer asked for something it should not have.
    var isPeerFault: Bool {
        [.badKey, .quotaExceeded, .replayed, .outOfRange, .malformed, .tooLarge, .unsupported].contains(self)
    }
}

extension OwnerID {
    /// A peer's claims are held under its public key.
    init(_ peer: PeerKey) {
        self.init(bytes: peer.bytes)!
    }
}

extension Duration {
    var seconds: Double {
        let (seconds, attoseconds) = components
        return Double(seconds) + Double(attoseconds) / 1e18
    }
}
