import Glibc
import ProxySyncCore

/// What `run` is doing now, for `status`: kept in the unit's runtime directory (`RuntimeDirectory=`, a tmpfs),
/// rewritten after every cycle. `state.json` and the proxy file keep their rule — a cycle that changes nothing
/// writes neither — so without this record `status` could only show the last change.
public enum LiveRecord {
    /// Where `status` looks (the unit's `RuntimeDirectory=gocd-proxy-sync`).
    public static let defaultPath = "/run/gocd-proxy-sync/live.json"

    /// Where `run` writes: `$RUNTIME_DIRECTORY/live.json` under systemd, nowhere otherwise.
    public static func path(environment: [String: String]) -> String? {
        guard let directory = environment["RUNTIME_DIRECTORY"], !directory.isEmpty else { return nil }
        // systemd may pass several directories separated by ':'; ours is the only one.
        return String(directory.split(separator: ":").first ?? "") + "/live.json"
    }

    public static func write(
        to path: String, outcome: CycleOutcome, now: Timestamp, lastSuccess: String?, nextCheckSeconds: Double,
        status: String
    ) {
        var members: [String: JSON] = [
            "pid": .number(Double(getpid())), "last_cycle_at": .string(now.iso8601),
            "last_outcome": .string(outcome.event.rawValue),
            "next_check_at": .string(WallClock.iso8601(now.epochSeconds + Int64(nextCheckSeconds.rounded()))),
            "status": .string(status),
        ]
        if let lastSuccess { members["last_success_at"] = .string(lastSuccess) }
        try? AtomicFile.publish(Array(JSON.object(members).serialized().utf8) + [0x0A], at: path, label: .live)
    }

    /// The record, when a daemon that wrote it still runs.
    public static func read(_ path: String = defaultPath) -> JSON? {
        guard let bytes = try? Posix.readRegularFile(path, maxBytes: 64 << 10, what: "live record"),
            let json = try? JSON.parse(bytes), let pid = json["pid"]?.int, pid > 0,
            kill(pid_t(pid), 0) == 0 || errno == EPERM
        else { return nil }
        return json
    }
}
