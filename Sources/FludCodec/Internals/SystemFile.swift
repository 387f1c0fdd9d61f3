#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A failed system call on a file, with the path and the OS's reason.
public struct FileError: Error, Equatable, Sendable, CustomStringConvertible {
    public let operation: String
    public let path: String
    public let code: Int32

    public var description: String {
        "cannot \(operation) \(path): \(String(cString: strerror(code)))"
    }
}

/// An open file descriptor: every syscall goes through here and comes back as
/// a ``FileError``. Closed when the object goes away.
final class SystemFile {
    let descriptor: Int32
    let path: String

    private init(descriptor: Int32, path: String) {
        self.descriptor = descriptor
        self.path = path
    }

    deinit {
        close(descriptor)
    }

    static func openForReading(_ path: String) throws -> SystemFile {
        try open(path, flags: O_RDONLY | O_CLOEXEC, operation: "open")
    }

    /// Creates a new file, failing if one exists at `path`.
    static func createNew(_ path: String) throws -> SystemFile {
        try open(path, flags: O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode: 0o644, operation: "create")
    }

    private static func open(_ path: String, flags: Int32, mode: mode_t = 0, operation: String) throws -> SystemFile {
        let descriptor = retryingOnInterrupt { Glibc.open(path, flags, mode) }
        guard descriptor >= 0 else { throw FileError(operation: operation, path: path, code: errno) }
        return SystemFile(descriptor: descriptor, path: path)
    }

    /// Size in bytes and whether this is a regular file (fstat).
    func status() throws -> (size: Int, isRegular: Bool) {
        var info = stat()
        guard fstat(descriptor, &info) == 0 else { throw error("stat") }
        return (Int(info.st_size), (info.st_mode & S_IFMT) == S_IFREG)
    }

    /// Reads until `buffer` is full or the file ends; returns the bytes read.
    func read(into buffer: UnsafeMutableRawBufferPointer, at offset: Int? = nil) throws -> Int {
        var done = 0
        while done < buffer.count {
            let target = buffer.baseAddress! + done
            let wanted = buffer.count - done
            let count = retryingOnInterrupt {
                if let offset { pread(descriptor, target, wanted, off_t(offset + done)) } else { Glibc.read(descriptor, target, wanted) }
            }
            guard count >= 0 else { throw error("read") }
            if count == 0 { break }
            done += count
        }
        return done
    }

    /// Writes all of `bytes`, at `offset` or at the current position.
    func write(_ bytes: UnsafeRawBufferPointer, at offset: Int? = nil) throws {
        var done = 0
        while done < bytes.count {
            let source = bytes.baseAddress! + done
            let remaining = bytes.count - done
            let count = retryingOnInterrupt {
                if let offset { pwrite(descriptor, source, remaining, off_t(offset + done)) } else { Glibc.write(descriptor, source, remaining) }
            }
            guard count > 0 else { throw error("write") }
            done += count
        }
    }

    func write(_ bytes: [UInt8], at offset: Int? = nil) throws {
        try bytes.withUnsafeBytes { try write($0, at: offset) }
    }

    /// Flushes data and metadata to stable storage (fsync).
    func sync() throws {
        guard fsync(descriptor) == 0 else { throw error("sync") }
    }

    private func error(_ operation: String) -> FileError {
        FileError(operation: operation, path: path, code: errno)
    }
}

/// Path-level operations, each one syscall.
enum FileSystem {
    static func rename(_ source: String, to destination: String) throws {
        guard Glibc.rename(source, destination) == 0 else {
            throw FileError(operation: "rename", path: "\(source) to \(destination)", code: errno)
        }
    }

    /// Removes a file if it is there; used to clean up after failures, so it never throws.
    static func removeIfPresent(_ path: String) {
        unlink(path)
    }

    static func exists(_ path: String) -> Bool {
        access(path, F_OK) == 0
    }

    /// Makes a rename in `directory` durable (fsync of the directory).
    static func syncDirectory(_ directory: String) throws {
        let descriptor = Glibc.open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard descriptor >= 0 else { throw FileError(operation: "open directory", path: directory, code: errno) }
        defer { close(descriptor) }
        guard fsync(descriptor) == 0 else { throw FileError(operation: "sync directory", path: directory, code: errno) }
    }

    /// Fails with a clear error unless `directory` is a directory we may create files in.
    static func checkWritableDirectory(_ directory: String) throws {
        var info = stat()
        guard stat(directory, &info) == 0 else { throw FileError(operation: "use output directory", path: directory, code: errno) }
        guard (info.st_mode & S_IFMT) == S_IFDIR else { throw FileError(operation: "use output directory", path: directory, code: ENOTDIR) }
        guard access(directory, W_OK | X_OK) == 0 else { throw FileError(operation: "write to", path: directory, code: errno) }
    }
}

/// Repeats a syscall that was interrupted by a signal before doing anything.
private func retryingOnInterrupt<Result: BinaryInteger>(_ call: () -> Result) -> Result {
    while true {
        let result = call()
        if result >= 0 || errno != EINTR { return result }
    }
}

/// The directory part of a path ("." when there is none).
func directoryName(of path: String) -> String {
    guard let slash = path.lastIndex(of: "/") else { return "." }
    return slash == path.startIndex ? "/" : String(path[..<slash])
}

/// The last component of a path.
func baseName(of path: String) -> String {
    guard let slash = path.lastIndex(of: "/") else { return path }
    return String(path[path.index(after: slash)...])
}
