import ProxySyncCore
import Testing

/// The certificate pre-flight's rules over what was read of the files, at a given time.
struct CertificatePolicyTests {
    let pair = CertificatePair(certificate: "/etc/ssl/gocd/fullchain.pem", key: "/etc/ssl/gocd/privkey.pem", chain: nil)
    let one = Listener(scheme: .https, port: 8443, serverName: "gocd.test", action: .proxy)
    let two = Listener(scheme: .https, port: 9443, serverName: "other.test", action: .proxy)
    static let now: Int64 = 1_800_000_000

    func inspection(uncovered: Set<String> = [], key: Result<Bool, CertificateReadFailure> = .success(true), expiresIn: Int64 = 90 * 86_400)
        -> Result<CertificatePolicy.Inspection, CertificateReadFailure>
    {
        .success(
            .init(
                names: ["gocd.test"], uncovered: uncovered, keyMatches: key, notAfterEpochSeconds: Self.now + expiresIn,
                notAfterISO8601: "2027-01-15T08:00:00Z"))
    }

    @Test func aGoodPairHasNoFindings() {
        #expect(CertificatePolicy.findings(pair, https: [one], inspection: inspection(), now: Self.now) == PreflightReport())
    }

    @Test func anUnreadableCertificateRefusesTheFirstListenerOnly() {
        let report = CertificatePolicy.findings(
            pair, https: [one, two], inspection: .failure(CertificateReadFailure("cannot read /x.pem")), now: Self.now)
        #expect(report.refusals == [Refusal(listener: one.origin, reason: "tls_certificate: cannot read /x.pem")])
    }

    @Test func eachUncoveredNameThenTheKeyThenTheExpiry() {
        let report = CertificatePolicy.findings(
            pair, https: [one, two], inspection: inspection(uncovered: ["other.test"], key: .success(false), expiresIn: 86_400),
            now: Self.now)
        #expect(report.refusals.map(\.listener) == [two.origin, one.origin])
        #expect(report.refusals[0].reason.contains("does not cover other.test (it covers: gocd.test)"))
        #expect(report.refusals[1].reason.contains("does not belong to the certificate"))
        #expect(report.notices.map(\.event) == [.certificateExpiring])
        let keyUnreadable = CertificatePolicy.findings(
            pair, https: [one], inspection: inspection(key: .failure(CertificateReadFailure("encrypted"))), now: Self.now)
        #expect(keyUnreadable.refusals.map(\.reason) == ["tls_certificate_key: encrypted"])
    }

    @Test(arguments: [
        (14 * 86_400, nil),
        (14 * 86_400 - 1, "expires within 14 days"),
        (1, "expires within 14 days"),
        (0, "has expired"),
        (-86_400, "has expired"),
    ] as [(Int64, String?)])
    func expiryIsAWarningWithinFourteenDays(_ left: Int64, _ message: String?) {
        let notice = CertificatePolicy.expiryNotice(
            file: pair.certificate, notAfterEpochSeconds: Self.now + left, notAfterISO8601: "t", now: Self.now)
        #expect(notice?.message.contains(message ?? "-") ?? (message == nil))
        #expect(notice.map { $0.subject == pair.certificate && $0.metadata == ["file": pair.certificate, "not_after": "t"] } ?? true)
    }

    @Test func pairsAreGroupedInPlanOrder() {
        var settings = Fixtures.proxy()
        settings.tlsCertificateChain = nil
        let plan = ProxyPlan(
            listeners: [one, Listener(scheme: .http, port: 80, serverName: "gocd.test", action: .proxy), two],
            siteURL: "", secureSiteURL: "")
        let pairs = CertificatePolicy.servedPairs(plan, settings: settings)
        #expect(pairs.count == 1)
        #expect(pairs.first?.https == [one, two])
    }
}
