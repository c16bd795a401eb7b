/// What the daemon remembers between cycles and restarts (`state.json`).
public struct SyncState: Codable, Equatable, Sendable {
    /// Set before the swap, cleared after the reload: the next start finishes what was interrupted.
    public struct ApplyInProgress: Codable, Equatable, Sendable {
        /// The backup of the previous bytes, or nil when there was no file.
        public var backupPath: String?
        public var startedAt: String
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
