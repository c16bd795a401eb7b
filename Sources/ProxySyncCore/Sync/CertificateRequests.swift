/// A request for a certificate that failed (`certificate_command`; README: Obtaining a certificate): how many times
/// in a row for these names, when last, and when they may be asked for again. Kept in `state.json`
/// (`certificate_requests`), so a restart does not ask again sooner.
public struct CertificateRequestRecord: Equatable, Sendable {
    /// Failed requests in a row for these names (1 after the first).
    public var failures: Int
    /// `YYYY-MM-DDTHH:MM:SSZ`.
    public var lastFailedAt: String
    /// `YYYY-MM-DDTHH:MM:SSZ`: not asked again before.
    public var nextAttemptAt: String

    public init(failures: Int, lastFailedAt: String, nextAttemptAt: String) {
        self.failures = failures
        self.lastFailedAt = lastFailedAt
        self.nextAttemptAt = nextAttemptAt
    }
}

/// When the names a failed request asked for may be asked for again: an hour after the first failure, doubling per
/// failure in a row up to a day (a CA limits failed validations per name; a command that fails every cycle would
/// also hammer it). Pure: the records and the time come in as values.
public enum CertificateRequests {
    /// The wait after the first failure.
    public static let firstDelaySeconds: Int64 = 3600
    /// The longest wait.
    public static let maximumDelaySeconds: Int64 = 86_400
    /// A record is forgotten this long after the attempt it allowed, once its names are no longer asked for.
    public static let forgetAfterSeconds: Int64 = 86_400

    /// The key a set of names is recorded under: the names sorted, each once, joined by a space.
    public static func key(_ names: [String]) -> String { Set(names).sorted().joined(separator: " ") }

    /// The names of a key.
    public static func names(of key: String) -> [String] { key.split(separator: " ").map(String.init) }

    /// The wait after `failures` failures in a row (1, 2, …): 1 h, 2 h, 4 h, … at most 24 h.
    public static func delaySeconds(afterFailures failures: Int) -> Int64 {
        guard failures > 1 else { return firstDelaySeconds }
        let doublings = min(failures - 1, 16)
        return min(firstDelaySeconds << Int64(doublings), maximumDelaySeconds)
    }

    /// The record that holds `names` back now, if any: a record of a failed request for any of these names whose
    /// next attempt is still to come (a name that just failed is not asked for again in another company). The
    /// latest such attempt wins.
    public static func blocking(_ names: [String], in records: [String: CertificateRequestRecord], now: Timestamp)
        -> (key: String, record: CertificateRequestRecord)?
    {
        let wanted = Set(names)
        var found: (key: String, record: CertificateRequestRecord, until: Int64)?
        for (key, record) in records where !wanted.isDisjoint(with: Self.names(of: key)) {
            guard let until = Timestamp.epochSeconds(iso8601: record.nextAttemptAt), until > now.epochSeconds else {
                continue
            }
            if found == nil || until > found!.until || (until == found!.until && key < found!.key) {
                found = (key, record, until)
            }
        }
        return found.map { ($0.key, $0.record) }
    }

    /// The records after a request for `names` failed at `now`: its failures in a row counted on from the most of
    /// any record sharing a name, and its next attempt set after ``delaySeconds(afterFailures:)``.
    public static func failed(_ names: [String], records: [String: CertificateRequestRecord], now: Timestamp)
        -> [String: CertificateRequestRecord]
    {
        let wanted = Set(names)
        let before = records.filter { !wanted.isDisjoint(with: Self.names(of: $0.key)) }.map(\.value.failures).max() ?? 0
        let failures = min(before + 1, SyncState.maximumConsecutiveFailures)
        var out = pruned(records, now: now)
        out[key(names)] = CertificateRequestRecord(
            failures: failures, lastFailedAt: now.iso8601,
            nextAttemptAt: Timestamp.iso8601(epochSeconds: now.epochSeconds + delaySeconds(afterFailures: failures)))
        return out
    }

    /// The records after a certificate for `names` was obtained: every record sharing a name is dropped (the
    /// failures in a row end), and old ones are forgotten.
    public static func obtained(_ names: [String], records: [String: CertificateRequestRecord], now: Timestamp)
        -> [String: CertificateRequestRecord]
    {
        let wanted = Set(names)
        return pruned(records.filter { wanted.isDisjoint(with: Self.names(of: $0.key)) }, now: now)
    }

    /// Without the records whose next attempt passed more than ``forgetAfterSeconds`` ago: names GoCD no longer
    /// gives do not stay in the state file for ever.
    public static func pruned(_ records: [String: CertificateRequestRecord], now: Timestamp)
        -> [String: CertificateRequestRecord]
    {
        records.filter { _, record in
            guard let until = Timestamp.epochSeconds(iso8601: record.nextAttemptAt) else { return false }
            return now.epochSeconds - until < forgetAfterSeconds
        }
    }
}
