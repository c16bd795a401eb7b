/// The certificate pre-flight's rules (README: Only what is served counts): each HTTPS name must be covered by
/// its pair's certificate, the key must belong to it, and one that expires within ``expiryWarningSeconds`` is
/// a warning. Pure: the effects target inspects the files (``Inspection``) and passes the time in.
public enum CertificatePolicy {
    /// A certificate expiring within this many seconds (14 days) is a warning.
    public static let expiryWarningSeconds: Int64 = 14 * 86_400

    /// What was read of one pair's certificate and key.
    public struct Inspection: Sendable {
        /// The names the certificate covers, for messages.
        public var names: [String]
        /// Of the names asked about, those the certificate does not cover.
        public var uncovered: Set<String>
        /// Whether the key belongs to the certificate; a failure says why the key could not be read.
        public var keyMatches: Result<Bool, CertificateReadFailure>
        public var notAfterEpochSeconds: Int64
        public var notAfterISO8601: String

        public init(
            names: [String], uncovered: Set<String>, keyMatches: Result<Bool, CertificateReadFailure>,
            notAfterEpochSeconds: Int64, notAfterISO8601: String
        ) {
            self.names = names
            self.uncovered = uncovered
            self.keyMatches = keyMatches
            self.notAfterEpochSeconds = notAfterEpochSeconds
            self.notAfterISO8601 = notAfterISO8601
        }
    }

    /// Each certificate pair of `plan` once, with the HTTPS listeners it serves (one pair for all with
    /// `tls_certificate`), in the plan's order.
    public static func servedPairs(_ plan: ProxyPlan, settings: ProxySettings) -> [(pair: CertificatePair, https: [Listener])] {
        var pairs: [CertificatePair] = []
        var served: [CertificatePair: [Listener]] = [:]
        for listener in plan.listeners where listener.scheme == .https {
            guard let pair = settings.certificatePair(for: listener.serverName, in: plan) else { continue }
            if served[pair] == nil { pairs.append(pair) }
            served[pair, default: []].append(listener)
        }
        return pairs.map { ($0, served[$0] ?? []) }
    }

    /// One pair's findings: its certificate must cover each of `https`, and its key must belong to it; the
    /// certificate that could not be read (`inspection` failed) refuses the first listener.
    public static func findings(
        _ pair: CertificatePair, https: [Listener], inspection: Result<Inspection, CertificateReadFailure>,
        now epochSeconds: Int64
    ) -> PreflightReport {
        guard !https.isEmpty else { return PreflightReport() }
        var report = PreflightReport()
        let certificate: Inspection
        switch inspection {
        case .failure(let failure):
            report.refusals.append(Refusal(listener: https[0].origin, reason: "tls_certificate: \(failure)"))
            return report
        case .success(let read): certificate = read
        }
        for listener in https where certificate.uncovered.contains(listener.serverName) {
            let covered = certificate.names.isEmpty ? "no names" : certificate.names.joined(separator: ", ")
            report.refusals.append(
                Refusal(
                    listener: listener.origin,
                    reason:
                        "the certificate \(pair.certificate) does not cover \(listener.serverName) (it covers: \(covered)); renew it with that name or change the site URL in GoCD"
                ))
        }
        switch certificate.keyMatches {
        case .success(true): break
        case .success(false):
            report.refusals.append(
                Refusal(
                    listener: https[0].origin,
                    reason:
                        "the key \(pair.key) does not belong to the certificate \(pair.certificate) (tls_certificate_key and tls_certificate do not match)"
                ))
        case .failure(let failure):
            report.refusals.append(Refusal(listener: https[0].origin, reason: "tls_certificate_key: \(failure)"))
        }
        if let notice = expiryNotice(
            file: pair.certificate, notAfterEpochSeconds: certificate.notAfterEpochSeconds,
            notAfterISO8601: certificate.notAfterISO8601, now: epochSeconds)
        {
            report.notices.append(notice)
        }
        return report
    }

    /// `certificate_expiring` (subject = the file) when the certificate expires within ``expiryWarningSeconds``
    /// of `now`, saying whether it has expired already; nil otherwise.
    public static func expiryNotice(file: String, notAfterEpochSeconds: Int64, notAfterISO8601: String, now: Int64)
        -> Notice?
    {
        guard notAfterEpochSeconds - now < expiryWarningSeconds else { return nil }
        let expired = notAfterEpochSeconds <= now
        return Notice(
            event: .certificateExpiring,
            message: expired
                ? "the TLS certificate has expired: renew it; browsers refuse the site"
                : "the TLS certificate expires within 14 days: renew it",
            metadata: ["file": file, "not_after": notAfterISO8601],
            subject: file)
    }
}
