/// What the daemon remembers between cycles and restarts (`state.json`).
public struct SyncState: Equatable, Sendable {
    /// Set before the swap, cleared after the reload: the next start finishes what was interrupted.
    public struct ApplyInProgress: Equatable, Sendable {
        /// The backup of the previous bytes, or nil when there was no file.
        public var backupPath: String?
        public var startedAt: String

        public init(backupPath: String?, startedAt: String) {
            self.backupPath = backupPath
            self.startedAt = startedAt
        }
    }

    public var lastCycleAt: String?
    public var lastOutcome: String?
    public var lastSuccessAt: String?
    public var lastChangeAt: String?
    public var lastAppliedSiteURL: String?
    public var lastAppliedSecureSiteURL: String?
    public var lastError: String?
    public var consecutiveFailures: Int = 0
    public var lastReloadAt: String?
    public var reloadOwed: Bool = false
    public var applyInProgress: ApplyInProgress?
    /// Both site URLs were unset last time (the warning is logged once per change of this).
    public var bothUnset: Bool = false
    /// When the proxy was last seen serving the managed file (ISO 8601).
    public var lastConfirmedAt: String?
    /// True when the proxy is known to serve the managed file, false when known not to; nil when unknown.
    public var serving: Bool?
    /// Digest of the bytes this program last wrote to the output: a different file on disk is drift.
    public var lastWrittenDigest: String?
    /// Generations this program applied lately (newest last, a few): a change back to one of them is the case
    /// where an old worker could answer with the same digest, so only then must dropped listeners fall silent.
    public var recentGenerations: [String] = []
    /// Certificate path → the day (YYYY-MM-DD) its expiry was last warned about.
    public var certificateWarnings: [String: String] = [:]
    /// Certificate, key and chain path → its ``FileIdentity`` when the proxy was last confirmed serving it: a
    /// different one is a renewal (README: Certificates).
    public var certificateFiles: [String: String] = [:]
    /// Names GoCD's site URLs dropped that the applied file keeps as further names (name → until, ISO 8601;
    /// SPEC 5e: Renames).
    public var keptNames: [String: String] = [:]
    /// Failed requests of `certificate_command` (names, space-separated → the record): the names are not asked for
    /// again before its next attempt (README: Obtaining a certificate).
    public var certificateRequests: [String: CertificateRequestRecord] = [:]
    /// Set (never written) when `state.json` could not be believed: this record is a fresh one, and the cycle
    /// recovers as after a crash (``StateDamage``; README: A damaged state file).
    public var damage: StateDamage?

    public init() {}

    /// The state as the JSON object written to `state.json` (snake_case keys; unset values left out).
    public var json: JSON {
        var members: [String: JSON] = [
            "consecutive_failures": .number(Double(consecutiveFailures)),
            "reload_owed": .bool(reloadOwed),
            "both_unset": .bool(bothUnset),
        ]
        let strings: [(String, String?)] = [
            ("last_cycle_at", lastCycleAt), ("last_outcome", lastOutcome), ("last_success_at", lastSuccessAt),
            ("last_change_at", lastChangeAt), ("last_applied_site_url", lastAppliedSiteURL),
            ("last_applied_secure_site_url", lastAppliedSecureSiteURL), ("last_error", lastError),
            ("last_reload_at", lastReloadAt), ("last_confirmed_at", lastConfirmedAt),
            ("last_written_digest", lastWrittenDigest),
        ]
        for (key, value) in strings {
            if let value { members[key] = .string(value) }
        }
        if let serving { members["serving"] = .bool(serving) }
        if !recentGenerations.isEmpty { members["recent_generations"] = .array(recentGenerations.map { .string($0) }) }
        if !certificateWarnings.isEmpty {
            members["certificate_warnings"] = .object(certificateWarnings.mapValues { .string($0) })
        }
        if !certificateFiles.isEmpty {
            members["certificate_files"] = .object(certificateFiles.mapValues { .string($0) })
        }
        if !keptNames.isEmpty { members["kept_names"] = .object(keptNames.mapValues { .string($0) }) }
        if !certificateRequests.isEmpty {
            members["certificate_requests"] = .object(
                certificateRequests.mapValues {
                    .object([
                        "failures": .number(Double($0.failures)), "last_failed_at": .string($0.lastFailedAt),
                        "next_attempt_at": .string($0.nextAttemptAt),
                    ])
                })
        }
        if let pending = applyInProgress {
            var apply: [String: JSON] = ["started_at": .string(pending.startedAt)]
            if let path = pending.backupPath { apply["backup_path"] = .string(path) }
            members["apply_in_progress"] = .object(apply)
        }
        return .object(members)
    }
}


