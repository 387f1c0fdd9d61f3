#if canImport(Glibc)
import Glibc
#endif

/// An exclusive lock on a store directory (flock on `flud-store.lock`), so a
/// second process gets a clear error instead of a second writer. The lock file
/// holds the owner's pid for that message; the lock goes when the process does.
final class DirectoryLock: @unchecked Sendable {
    private var descriptor: Int32

    init(directory: String) throws(StoreError) {
        let path = directory + "/flud-store.lock"
        let descriptor = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else {
            throw .cannotOpen(directory: directory, reason: String(cString: strerror(errno)))
        }
        // A child this process is spawning holds a copy of every descriptor
        // (close-on-exec ones too) until its exec, and with it our flock: a
        // store closed and reopened meanwhile finds its own pid as the owner.
        // That passes within milliseconds; another process's lock does not.
        var attempts = 0
        while flock(descriptor, LOCK_EX | LOCK_NB) != 0 {
            let owner = Self.owner(descriptor)
            attempts += 1
            guard owner == getpid(), attempts < 50 else {
                close(descriptor)
                throw .inUse(directory: directory, byProcess: owner)
            }
            usleep(10_000)
        }
        let pid = Array("\(getpid())\n".utf8)
        _ = ftruncate(descriptor, 0)
        _ = pwrite(descriptor, pid, pid.count, 0)
        self.descriptor = descriptor
    }

    /// The pid the lock's holder wrote, if any.
    private static func owner(_ descriptor: Int32) -> Int32? {
        var buffer = [UInt8](repeating: 0, count: 32)
        let count = pread(descriptor, &buffer, buffer.count, 0)
        return count > 0 ? Int32(String(decoding: buffer[..<count], as: UTF8.self).trimmingSpaces) : nil
    }

    deinit {
        release()
    }

    /// Gives the directory up (closing the file drops the flock). Called once,
    /// by the store's single close path.
    func release() {
        guard descriptor >= 0 else { return }
        close(descriptor)
        descriptor = -1
    }
}

extension String {
    fileprivate var trimmingSpaces: String {
        String(self.filter { !$0.isWhitespace })
    }
}
