import Foundation

/// Writes `path`'s dirty pages out, then asks the kernel to forget its cached
/// pages, so that the benchmarks' next reads come from the medium. Pages a
/// process has mapped stay, and tmpfs keeps them all: there they are the file.
func dropCachedPages(of path: String) throws {
    let descriptor = open(path, O_RDONLY)
    guard descriptor >= 0 else { throw Failure(kind: .runtime, description: "cannot open \(path): \(String(cString: strerror(errno)))") }
    defer { close(descriptor) }
    fdatasync(descriptor)
    posix_fadvise(descriptor, 0, 0, POSIX_FADV_DONTNEED)
}
