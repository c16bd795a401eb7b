/// What the daemon remembers between cycles and restarts (`state.json`).
public struct SyncState: Codable, Equatable, Sendable {
    /// Set before the swap, cleared after the reload: the next start finishes what was interrupted.
    public struct ApplyInProgress: Codable, Equatable, Sendable {
        /// The backup of the previous bytes, or nil when there was no file.
        public var backupPath: String?
        public var startedAt: String

        enum CodingKeys: String, CodingKey {
            case backupPath = "backup_path"
            case startedAt = "started_at"
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

    public init() {}

    enum CodingKeys: String, CodingKey {
        case lastCycleAt = "last_cycle_at"
        case lastOutcome = "last_outcome"
        case lastSuccessAt = "last_success_at"
        case lastChangeAt = "last_change_at"
        case lastAppliedSiteURL = "last_applied_site_url"
        case lastAppliedSecureSiteURL = "last_applied_secure_site_url"
        case lastError = "last_error"
        case consecutiveFailures = "consecutive_failures"
        case lastReloadAt = "last_reload_at"
        case reloadOwed = "reload_owed"
        case applyInProgress = "apply_in_progress"
        case bothUnset = "both_unset"
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        lastCycleAt = try c.decodeIfPresent(String.self, forKey: .lastCycleAt)
        lastOutcome = try c.decodeIfPresent(String.self, forKey: .lastOutcome)
        lastSuccessAt = try c.decodeIfPresent(String.self, forKey: .lastSuccessAt)
        lastChangeAt = try c.decodeIfPresent(String.self, forKey: .lastChangeAt)
        lastAppliedSiteURL = try c.decodeIfPresent(String.self, forKey: .lastAppliedSiteURL)
        lastAppliedSecureSiteURL = try c.decodeIfPresent(String.self, forKey: .lastAppliedSecureSiteURL)
        lastError = try c.decodeIfPresent(String.self, forKey: .lastError)
        consecutiveFailures = try c.decodeIfPresent(Int.self, forKey: .consecutiveFailures) ?? 0
        lastReloadAt = try c.decodeIfPresent(String.self, forKey: .lastReloadAt)
        reloadOwed = try c.decodeIfPresent(Bool.self, forKey: .reloadOwed) ?? false
        applyInProgress = try c.decodeIfPresent(ApplyInProgress.self, forKey: .applyInProgress)
        bothUnset = try c.decodeIfPresent(Bool.self, forKey: .bothUnset) ?? false
    }
}

/// A moment, given to the core by the caller (the core reads no clocks).
public struct Timestamp: Sendable, Equatable {
    public var epochSeconds: Int64
    public var iso8601: String

    public init(epochSeconds: Int64, iso8601: String) {
        self.epochSeconds = epochSeconds
        self.iso8601 = iso8601
    }
}
