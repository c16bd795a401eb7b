/// Renames (SPEC 5e): a host name GoCD's site URLs dropped stays a further name of the plan's listeners for
/// `keep_previous_names_hours`, so agents configured with the old server URL keep working. Pure: the state's
/// record and the time come in as values.
public enum KeptNames {
    /// The names to keep now (name → until, `YYYY-MM-DDTHH:MM:SSZ`): those kept before and not yet expired, plus
    /// the hosts of the site URLs last applied that `currentHosts` no longer has (kept from `now` on). A name
    /// GoCD's site URLs give again is no longer kept; with `hours` 0 nothing is.
    public static func keep(
        previous: [String: String], lastApplied: [String?], currentHosts: Set<String>, hours: Double, now: Timestamp
    ) -> [String: String] {
        guard hours > 0 else { return [:] }
        var kept: [String: String] = [:]
        for (name, until) in previous where !currentHosts.contains(name) {
            if let end = Timestamp.epochSeconds(iso8601: until), end > now.epochSeconds { kept[name] = until }
        }
        let until = Timestamp.iso8601(epochSeconds: now.epochSeconds + Int64((hours * 3600).rounded(.up)))
        for url in lastApplied {
            guard let url, !url.isEmpty, let host = try? SiteURL.check(url, field: .siteURL).url?.host else { continue }
            if !currentHosts.contains(host) && kept[host] == nil { kept[host] = until }
        }
        return kept
    }

    /// The hosts GoCD's site URLs name (empty when neither is valid).
    public static func hosts(of urls: SiteURLs) -> Set<String> {
        var hosts: Set<String> = []
        for raw in [urls.siteURL, urls.secureSiteURL] {
            if let host = try? SiteURL.check(raw, field: .siteURL).url?.host { hosts.insert(host) }
        }
        return hosts
    }

    /// True when the site URLs give an HTTPS listener (the certificate must then cover a kept name).
    public static func servesHTTPS(_ urls: SiteURLs) -> Bool {
        [urls.siteURL, urls.secureSiteURL].contains { (try? SiteURL.check($0, field: .siteURL).url?.scheme) == .https }
    }

    /// `plan` with each kept name as a further name of every listener that proxies or redirects (a ``Listener``
    /// with ``Listener/kept`` set, rendered into the same server block as a further `server_name` / `ServerAlias`).
    /// Challenge-only listeners get none.
    public static func adding(_ kept: [String: String], to plan: ProxyPlan, warnings: [String] = []) -> ProxyPlan {
        var plan = plan
        plan.warnings += warnings
        guard !kept.isEmpty else { return plan }
        var listeners = plan.listeners
        for name in kept.keys.sorted() {
            for listener in plan.listeners where listener.action != .challenge {
                var alias = listener
                alias.serverName = name
                alias.kept = true
                if !listeners.contains(where: { $0.port == alias.port && $0.serverName == name }) { listeners.append(alias) }
            }
        }
        var result = ProxyPlan(
            listeners: listeners, siteURL: plan.siteURL, secureSiteURL: plan.secureSiteURL, warnings: plan.warnings)
        result.keptNames = kept
        return result
    }
}

extension Timestamp {
    /// `YYYY-MM-DDTHH:MM:SSZ` for seconds since 1970 (UTC, proleptic Gregorian).
    public static func iso8601(epochSeconds: Int64) -> String {
        let days = epochSeconds >= 0 ? epochSeconds / 86_400 : (epochSeconds - 86_399) / 86_400
        let secs = epochSeconds - days * 86_400
        // Howard Hinnant's civil_from_days.
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let day = doy - (153 * mp + 2) / 5 + 1
        let month = mp < 10 ? mp + 3 : mp - 9
        let year = yoe + era * 400 + (month <= 2 ? 1 : 0)
        func two(_ value: Int64) -> String { value < 10 ? "0\(value)" : "\(value)" }
        return "\(year)-\(two(month))-\(two(day))T\(two(secs / 3600)):\(two(secs % 3600 / 60)):\(two(secs % 60))Z"
    }

    /// Seconds since 1970 for `YYYY-MM-DDTHH:MM:SSZ`; nil for anything else.
    public static func epochSeconds(iso8601 text: String) -> Int64? {
        guard Timestamp.isTime(text) else { return nil }
        let bytes = Array(text.utf8)
        func number(_ range: Range<Int>) -> Int64 { Int64(Timestamp.digits(bytes[range]) ?? 0) }
        var year = number(0..<4)
        let month = number(5..<7)
        let day = number(8..<10)
        // Howard Hinnant's days_from_civil.
        year -= month <= 2 ? 1 : 0
        let era = (year >= 0 ? year : year - 399) / 400
        let yoe = year - era * 400
        let doy = (153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        let days = era * 146_097 + doe - 719_468
        return days * 86_400 + number(11..<13) * 3600 + number(14..<16) * 60 + number(17..<19)
    }

    /// The moment `epochSeconds` seconds after 1970.
    public init(epochSeconds: Int64) {
        self.init(epochSeconds: epochSeconds, iso8601: Self.iso8601(epochSeconds: epochSeconds))
    }
}
