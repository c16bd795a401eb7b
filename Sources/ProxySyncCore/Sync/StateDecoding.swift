/// A `state.json` that cannot be believed, and what became of it.
public struct StateDamage: Equatable, Sendable {
    /// The state file, e.g. `/var/lib/gocd-proxy-sync/state.json`.
    public var file: String
    /// What is wrong, e.g. `consecutive_failures: a string where an integer belongs`.
    public var problem: String
    /// Where the damaged copy was kept, once it was moved aside.
    public var keptAt: String?
    /// Why it could not be kept (it is then replaced by the next record).
    public var keepFailure: String?

    public init(file: String, problem: String, keptAt: String? = nil, keepFailure: String? = nil) {
        self.file = file
        self.problem = problem
        self.keptAt = keptAt
        self.keepFailure = keepFailure
    }

    /// Where the damaged bytes are, for the log and `status`.
    public var kept: String {
        if let keptAt { return keptAt }
        if let keepFailure { return "not kept (\(keepFailure)); the next record replaces it" }
        return "still at \(file) (moved aside by the next cycle that is not a dry run)"
    }
}

/// Why ``SyncState/decode(_:)`` refused a state file: one line, naming the key.
public struct StateDecodingError: Error, Equatable, Sendable, CustomStringConvertible {
    public var description: String
    init(_ description: String) { self.description = description }
}

extension SyncState {
    /// The largest `consecutive_failures` believed: a cycle a second for 68 years.
    public static let maximumConsecutiveFailures = Int(Int32.max)

    /// Reads `state.json` strictly: the bytes must be a JSON object, each known key must have the type and the
    /// form this program writes (ISO 8601 times `YYYY-MM-DDTHH:MM:SSZ` that name a real moment, a count that is
    /// a whole number from 0, a known event name, digests of 16 hexadecimal digits, an absolute backup path).
    /// Missing keys take their defaults; keys this version does not know are left alone (a newer version's).
    ///
    /// - Throws: ``StateDecodingError`` naming the first key that is wrong, and how. A state file is never half
    ///   believed: the caller starts afresh as after a crash (README: A damaged state file).
    public static func decode(_ bytes: [UInt8]) throws(StateDecodingError) -> SyncState {
        if bytes.isEmpty { throw StateDecodingError("empty") }
        let json: JSON
        do {
            json = try JSON.parse(bytes)
        } catch {
            throw StateDecodingError("not JSON (\(error.reason) at byte \(error.offset) of \(bytes.count))")
        }
        guard case .object(let members) = json else {
            throw StateDecodingError("not a JSON object but \(Self.kind(json))")
        }
        let reader = Reader(members: members)
        var state = SyncState()
        state.lastCycleAt = try reader.time("last_cycle_at")
        state.lastOutcome = try reader.string("last_outcome")
        if let outcome = state.lastOutcome, Event(rawValue: outcome) == nil {
            throw StateDecodingError("last_outcome: \(JSON.quote(outcome)) is not an event name")
        }
        state.lastSuccessAt = try reader.time("last_success_at")
        state.lastChangeAt = try reader.time("last_change_at")
        state.lastAppliedSiteURL = try reader.string("last_applied_site_url")
        state.lastAppliedSecureSiteURL = try reader.string("last_applied_secure_site_url")
        state.lastError = try reader.string("last_error")
        state.consecutiveFailures = try reader.count("consecutive_failures") ?? 0
        state.lastReloadAt = try reader.time("last_reload_at")
        state.reloadOwed = try reader.bool("reload_owed") ?? false
        state.bothUnset = try reader.bool("both_unset") ?? false
        state.lastConfirmedAt = try reader.time("last_confirmed_at")
        state.serving = try reader.bool("serving")
        state.lastWrittenDigest = try reader.digest("last_written_digest")
        if let items = try reader.array("recent_generations") {
            state.recentGenerations = try items.enumerated().map { (index, item) throws(StateDecodingError) in
                try Reader.digest(item, key: "recent_generations[\(index)]")
            }
        }
        if let warned = try reader.object("certificate_warnings") {
            for (path, day) in warned {
                let key = "certificate_warnings[\(JSON.quote(path))]"
                guard case .string(let text) = day else { throw Reader.wrongType(key, "a date", day) }
                guard Self.isDay(text) else { throw StateDecodingError("\(key): \(JSON.quote(text)) is not a date YYYY-MM-DD") }
                state.certificateWarnings[path] = text
            }
        }
        if let files = try reader.object("certificate_files") {
            for (path, identity) in files {
                let key = "certificate_files[\(JSON.quote(path))]"
                guard case .string(let text) = identity else { throw Reader.wrongType(key, "a file identity", identity) }
                guard FileIdentity(text) != nil else {
                    throw StateDecodingError("\(key): \(JSON.quote(text)) is not a file identity device:inode:size:mtime")
                }
                state.certificateFiles[path] = text
            }
        }
        if let kept = try reader.object("kept_names") {
            for (name, until) in kept {
                let key = "kept_names[\(JSON.quote(name))]"
                guard (try? HostName.normalise(name)) == name else {
                    throw StateDecodingError("\(key): not a host name as this program writes them")
                }
                guard case .string(let text) = until else { throw Reader.wrongType(key, "a time", until) }
                guard Self.isTime(text) else {
                    throw StateDecodingError("\(key): \(JSON.quote(text)) is not a time YYYY-MM-DDTHH:MM:SSZ")
                }
                state.keptNames[name] = text
            }
        }
        if let requests = try reader.object("certificate_requests") {
            for (names, value) in requests {
                state.certificateRequests[names] = try Self.certificateRequest(names, value)
            }
        }
        if let apply = try reader.object("apply_in_progress") {
            let inner = Reader(members: apply, prefix: "apply_in_progress.")
            guard let started = try inner.time("started_at") else {
                throw StateDecodingError("apply_in_progress: started_at is missing")
            }
            let backup = try inner.string("backup_path")
            if let backup, !backup.hasPrefix("/") || backup.utf8.contains(0) {
                throw StateDecodingError("apply_in_progress.backup_path: \(JSON.quote(backup)) is not an absolute path")
            }
            state.applyInProgress = ApplyInProgress(backupPath: backup, startedAt: started)
        }
        return state
    }

    /// One entry of `certificate_requests`: the key is host names as this program writes them (sorted, each once,
    /// one space between), the value an object with `failures` (1 or more), `last_failed_at` and `next_attempt_at`.
    static func certificateRequest(_ names: String, _ value: JSON) throws(StateDecodingError) -> CertificateRequestRecord {
        let key = "certificate_requests[\(JSON.quote(names))]"
        let parts = CertificateRequests.names(of: names)
        guard !parts.isEmpty, CertificateRequests.key(parts) == names,
            parts.allSatisfy({ (try? HostName.normalise($0)) == $0 })
        else {
            throw StateDecodingError("\(key): not host names as this program writes them (sorted, one space between)")
        }
        guard case .object(let members) = value else { throw Reader.wrongType(key, "an object", value) }
        let inner = Reader(members: members, prefix: key + ".")
        guard let failures = try inner.count("failures"), failures >= 1 else {
            throw StateDecodingError("\(key).failures: missing or 0 (a whole number from 1)")
        }
        guard let last = try inner.time("last_failed_at") else {
            throw StateDecodingError("\(key): last_failed_at is missing")
        }
        guard let next = try inner.time("next_attempt_at") else {
            throw StateDecodingError("\(key): next_attempt_at is missing")
        }
        return CertificateRequestRecord(failures: failures, lastFailedAt: last, nextAttemptAt: next)
    }

    /// `YYYY-MM-DDTHH:MM:SSZ` naming a real moment (``Timestamp/isTime(_:)``).
    public static func isTime(_ text: String) -> Bool { Timestamp.isTime(text) }

    /// `YYYY-MM-DD` naming a real day (``Timestamp/isDay(_:)``).
    public static func isDay(_ text: String) -> Bool { Timestamp.isDay(text) }

    static func digits(_ bytes: ArraySlice<UInt8>) -> Int? { Timestamp.digits(bytes) }

    static func kind(_ value: JSON) -> String {
        switch value {
        case .null: "null"
        case .bool: "true/false"
        case .number: "a number"
        case .string: "a string"
        case .array: "an array"
        case .object: "an object"
        }
    }

    /// Typed reads of one object's members; every failure names the key.
    struct Reader {
        let members: [String: JSON]
        var prefix = ""

        static func wrongType(_ key: String, _ expected: String, _ found: JSON) -> StateDecodingError {
            StateDecodingError("\(key): \(SyncState.kind(found)) where \(expected) belongs")
        }

        func string(_ key: String) throws(StateDecodingError) -> String? {
            guard let value = members[key] else { return nil }
            guard case .string(let text) = value else { throw Self.wrongType(prefix + key, "a string", value) }
            return text
        }

        func time(_ key: String) throws(StateDecodingError) -> String? {
            guard let value = members[key] else { return nil }
            guard case .string(let text) = value else { throw Self.wrongType(prefix + key, "a time", value) }
            guard SyncState.isTime(text) else {
                throw StateDecodingError("\(prefix + key): \(JSON.quote(text)) is not a time YYYY-MM-DDTHH:MM:SSZ")
            }
            return text
        }

        func bool(_ key: String) throws(StateDecodingError) -> Bool? {
            guard let value = members[key] else { return nil }
            guard case .bool(let flag) = value else { throw Self.wrongType(prefix + key, "true or false", value) }
            return flag
        }

        func count(_ key: String) throws(StateDecodingError) -> Int? {
            guard let value = members[key] else { return nil }
            guard case .number(let number) = value else { throw Self.wrongType(prefix + key, "a number", value) }
            guard number == number.rounded(), number >= 0, number <= Double(SyncState.maximumConsecutiveFailures) else {
                throw StateDecodingError(
                    "\(prefix + key): \(value.serialized()) is out of range (a whole number from 0 to \(SyncState.maximumConsecutiveFailures))"
                )
            }
            return Int(number)
        }

        func digest(_ key: String) throws(StateDecodingError) -> String? {
            guard let value = members[key] else { return nil }
            return try Self.digest(value, key: prefix + key)
        }

        static func digest(_ value: JSON, key: String) throws(StateDecodingError) -> String {
            guard case .string(let text) = value else { throw wrongType(key, "a digest", value) }
            guard text.utf8.count == 16, text.utf8.allSatisfy(HostName.isHex) else {
                throw StateDecodingError("\(key): \(JSON.quote(text)) is not a digest of 16 hexadecimal digits")
            }
            return text
        }

        func array(_ key: String) throws(StateDecodingError) -> [JSON]? {
            guard let value = members[key] else { return nil }
            guard case .array(let items) = value else { throw Self.wrongType(prefix + key, "an array", value) }
            return items
        }

        func object(_ key: String) throws(StateDecodingError) -> [String: JSON]? {
            guard let value = members[key] else { return nil }
            guard case .object(let inner) = value else { throw Self.wrongType(prefix + key, "an object", value) }
            return inner
        }
    }
}
