import Glibc
import Synchronization

/// Named crash points for the crash-consistency campaign (`Tests/crash/campaign.py`), in the spirit of etcd's
/// gofail and FoundationDB's BUGGIFY: with `GOCD_PROXY_SYNC_FAILPOINT=name:kill` (or `name:kill:N`, the Nth
/// hit of that point; default the first) the process kills itself with SIGKILL when it reaches `name`.
///
/// Only debug (test) builds carry them: in a release build every ``hit(_:)`` compiles to nothing and the
/// variable is ignored. Commands never see the variable (``CommandRunner``'s private variables).
public enum Failpoint {
    /// The variable read, once per process.
    public static let variable = "GOCD_PROXY_SYNC_FAILPOINT"

    /// Marks `point`; kills the process when the armed point is reached for the armed time.
    @inline(__always)
    public static func hit(_ point: FaultPoint) {
        #if DEBUG
        guard let armed, point.name == armed.name else { return }
        let count = hits.add(1, ordering: .sequentiallyConsistent).newValue
        if count == armed.nth { kill(getpid(), SIGKILL) }
        #endif
    }

    #if DEBUG
    /// The armed point and which of its hits kills, from the environment; nil when unset or malformed.
    static let armed: (name: String, nth: Int)? = {
        guard let raw = getenv(variable) else { return nil }
        return parse(String(cString: raw))
    }()

    /// How often the armed point was reached in this process.
    static let hits = Atomic<Int>(0)

    /// `name:kill` or `name:kill:N` (N ≥ 1).
    static func parse(_ text: String) -> (name: String, nth: Int)? {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
        guard parts.count == 2 || parts.count == 3, !parts[0].isEmpty, parts[1] == "kill" else { return nil }
        guard parts.count == 3 else { return (parts[0], 1) }
        guard let nth = Int(parts[2]), nth >= 1 else { return nil }
        return (parts[0], nth)
    }
    #endif
}
