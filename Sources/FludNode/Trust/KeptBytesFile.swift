import FludCodec
import FludWire
import Foundation

/// What a user keeps on each node, by node key: written by the user's backup
/// runs, read by the user's own node (`flud node --home`), whose peers may
/// then store there as much as the user keeps with them, plus the margin.
///
/// One line per node, `<key hex> <bytes>`; lines that do not parse are
/// skipped, so a damaged file costs allowances, never a refusal to start.
public enum KeptBytesFile {
    public static func read(_ path: String) -> [PeerKey: UInt64] {
        guard let data = FileManager.default.contents(atPath: path) else { return [:] }
        var kept: [PeerKey: UInt64] = [:]
        for line in String(decoding: data, as: UTF8.self).split(separator: "\n") where !line.hasPrefix("#") {
            let fields = line.split(separator: " ")
            guard fields.count == 2, let key = ContentHash(hex: String(fields[0])).flatMap({ PeerKey(bytes: $0.bytes) }),
                  let bytes = UInt64(fields[1]) else { continue }
            kept[key] = bytes
        }
        return kept
    }

    /// Replaces the file (written beside it, then renamed: a reader never
    /// sees half of it).
    public static func write(_ kept: [PeerKey: UInt64], to path: String) throws {
        let lines = kept.filter { $0.value > 0 }.map { "\($0.key.hex) \($0.value)\n" }.sorted()
        let text = "# bytes this user keeps on each node (flud backup writes it; flud node --home reads it)\n" + lines.joined()
        let temporary = path + ".tmp"
        try Data(text.utf8).write(to: URL(fileURLWithPath: temporary))
        guard rename(temporary, path) == 0 else {
            throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: path])
        }
    }
}
