#if canImport(Glibc)
import Glibc
#endif

import Foundation

/// A one-line progress display on standard error, redrawn in place; silent when
/// standard error is not a terminal so logs and pipes get no control characters.
/// Safe to update from concurrent tasks.
final class ProgressLine: @unchecked Sendable {
    private let label: String
    private let enabled = isatty(STDERR_FILENO) == 1
    private let start = monotonicSeconds()
    private var lastDraw = 0.0
    private let lock = NSLock()

    init(label: String) {
        self.label = label
    }

    func update(done: Int, total: Int) {
        update(done: done, total: total, detail: "")
    }

    /// - Parameter detail: shown after the label, e.g. a count of files.
    func update(done: Int, total: Int, detail: String) {
        guard enabled else { return }
        lock.lock()
        defer { lock.unlock() }
        let now = monotonicSeconds()
        guard now - lastDraw >= 0.2 || done == total else { return }
        lastDraw = now
        let elapsed = max(now - start, 1e-9)
        let rate = Double(done) / elapsed
        let percent = total > 0 ? 100 * done / total : 100
        let eta = rate > 0 ? Double(total - done) / rate : 0
        writeStandardError("\r\(label)\(detail.isEmpty ? "" : " " + detail) \(formatBytes(done)) of \(formatBytes(total)) (\(percent) %), \(formatBytes(Int(rate)))/s, \(Int(eta.rounded())) s left   ")
    }

    /// Clears the line so the next output starts clean.
    func finish() {
        guard enabled else { return }
        writeStandardError("\r\u{1B}[K")
    }
}

func monotonicSeconds() -> Double {
    var now = timespec()
    clock_gettime(CLOCK_MONOTONIC, &now)
    return Double(now.tv_sec) + Double(now.tv_nsec) / 1e9
}

/// The most memory this process has had resident so far (`ru_maxrss`), in
/// bytes: what a backup or restore needed, however large its files.
func peakResidentBytes() -> Int {
    var usage = rusage()
    guard getrusage(RUSAGE_SELF.rawValue, &usage) == 0 else { return 0 }
    return usage.ru_maxrss * 1024
}

/// CPU time this process has used, all threads, user and system: what a
/// benchmark phase cost, which a shared machine's noise disturbs less than
/// its wall-clock rate.
func processCPUSeconds() -> Double {
    var now = timespec()
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &now)
    return Double(now.tv_sec) + Double(now.tv_nsec) / 1e9
}

/// Bytes in binary units, e.g. "64 MiB" or "1.5 GiB".
func formatBytes(_ bytes: Int) -> String {
    let units = ["B", "KiB", "MiB", "GiB", "TiB"]
    var value = Double(bytes)
    var unit = 0
    while value >= 1024, unit < units.count - 1 {
        value /= 1024
        unit += 1
    }
    if unit == 0 || value == value.rounded() { return "\(Int(value)) \(units[unit])" }
    return "\((value * 10).rounded() / 10) \(units[unit])"
}
