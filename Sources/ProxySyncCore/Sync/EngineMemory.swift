import Synchronization

/// What the engine keeps between the cycles of one process, and never writes down.
final class EngineMemory: Sendable {
    private let certificatesCheckedOn = Mutex<String?>(nil)

    /// True once per day (and at the first cycle of a process): time to look at certificate expiry on an
    /// unchanged cycle. Cycles that write check certificates anyway.
    func certificatesDue(day: String) -> Bool {
        certificatesCheckedOn.withLock { checked in
            if checked == day { return false }
            checked = day
            return true
        }
    }
}
