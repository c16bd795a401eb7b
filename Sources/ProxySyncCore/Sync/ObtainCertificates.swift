import Logging

/// Obtaining a certificate (README: Obtaining a certificate): an HTTPS name of a new plan that no certificate in
/// `tls_certificate_dir` covers, with `certificate_command` set, is asked for in three steps within one cycle.
///
/// 1. The proxy answers the ACME challenge for the names on `acme_http_port`: the site in place plus a
///    challenge-only listener per name, applied as any change (staged test, install, reload, confirmation;
///    `applied reason=challenge`). With nothing of this program's in place yet, the new plan without those names.
/// 2. The command runs with the names (``CertificateRequester``).
/// 3. The lookup is repeated; when every name is covered, `certificate_obtained` and the plan is applied.
///
/// A command that fails, or a certificate that still does not cover a name, refuses the plan (exit 4,
/// `certificate_request_failed`); the names are not asked for again before ``CertificateRequests`` allows.
extension SyncEngine {
    /// - Parameters:
    ///   - first: the refusal of the first HTTPS listener without a certificate (its listener names the field).
    ///   - directory: `tls_certificate_dir`.
    func obtainCertificates(
        for plan: ProxyPlan, first: Refusal, directory: String, settings proxySettings: ProxySettings, urls: SiteURLs,
        dryRun: Bool, state current: inout SyncState, now: Timestamp
    ) async -> CycleOutcome {
        let names = Self.uncoveredNames(plan)
        let shown = names.joined(separator: " ")
        if let (key, record) = CertificateRequests.blocking(names, in: current.certificateRequests, now: now) {
            let backedOff = Self.backedOff(first, key: key, record: record, directory: directory, names: names)
            return refuse(backedOff, all: [backedOff], plan: plan, urls: urls, now: now)
        }
        if dryRun {
            return .dryRun(
                semanticDiff:
                    "no certificate in tls_certificate_dir \(directory) covers \(shown) yet: certificate_command would be run for it, once the proxy answers its ACME challenge on port \(proxySettings.acmeHTTPPort)",
                unifiedDiff: "", changePending: true)
        }
        if let outcome = await serveChallenge(
            for: names, newPlan: plan, settings: proxySettings, urls: urls, state: &current, now: now)
        {
            return outcome
        }
        // Only the program: the configured arguments may carry an account's secret.
        let command = settings.proxy.certificateCommand?.first ?? ""
        log(
            .info, "asking certificate_command for a certificate; the proxy answers the ACME challenge for the names",
            .certificateRequested,
            ["names": "\(shown)", "program": "\(command)", "acme_http_port": "\(proxySettings.acmeHTTPPort)"])
        let result = await certificateRequester.request(names)
        guard result.succeeded else {
            return certificateRequestFailed(
                names, reason: result.summary, output: result.output, first: first, plan: plan, urls: urls,
                directory: directory, state: &current, now: now)
        }
        // The lookup again: a pair for each name, and (the pre-flight's certificate part) one that covers it.
        var obtained = plan
        obtained.certificates = certificates.locate(
            Array(Set(plan.listeners.filter { $0.scheme == .https }.map(\.serverName))).sorted(), in: directory)
        var problems = names.filter { obtained.certificates[$0] == nil }.map {
            ProxySettings.noCertificateReason($0, directory: directory)
        }
        if problems.isEmpty {
            var asked = obtained
            asked.listeners = obtained.listeners.filter { $0.scheme == .https && names.contains($0.serverName) }
            problems = await serving.certificateRefusals(asked).map(\.reason)
        }
        if !problems.isEmpty {
            return certificateRequestFailed(
                names, reason: "certificate_command exited 0, but " + problems.joined(separator: "; "),
                output: result.output, first: first, plan: plan, urls: urls, directory: directory, state: &current,
                now: now)
        }
        current.certificateRequests = CertificateRequests.obtained(names, records: current.certificateRequests, now: now)
        log(
            .notice, "certificate_command obtained a certificate for every name; applying the plan", .certificateObtained,
            [
                "names": "\(shown)",
                "certificates":
                    "\(Set(names.compactMap { obtained.certificates[$0]?.certificate }).sorted().joined(separator: ","))",
            ])
        return await cycle(urls, dryRun: false, state: &current, now: now, certificateRequested: true)
    }

    /// The HTTPS names of `plan` without a pair (sorted, each once).
    static func uncoveredNames(_ plan: ProxyPlan) -> [String] {
        Set(plan.listeners.filter { $0.scheme == .https && plan.certificates[$0.serverName] == nil }.map(\.serverName))
            .sorted()
    }

    /// The refusal while a failed request holds the names back: when it failed, and when they are asked for again.
    static func backedOff(
        _ first: Refusal, key: String, record: CertificateRequestRecord, directory: String, names: [String]
    ) -> Refusal {
        Refusal(
            listener: first.listener,
            reason:
                "no certificate in tls_certificate_dir \(directory) covers \(names.joined(separator: " ")); certificate_command failed for \(key) at \(record.lastFailedAt) (\(record.failures) in a row): asked again at \(record.nextAttemptAt), not before (README: Obtaining a certificate)"
        )
    }

    /// Records the failure (the next attempt after the backoff), logs `certificate_request_failed` with the command's
    /// last output, and refuses the plan (exit 4). The refusal the next cycles repeat while backed off counts as
    /// logged: this line says it all.
    func certificateRequestFailed(
        _ names: [String], reason: String, output: String, first: Refusal, plan: ProxyPlan, urls: SiteURLs,
        directory: String, state current: inout SyncState, now: Timestamp
    ) -> CycleOutcome {
        current.certificateRequests = CertificateRequests.failed(names, records: current.certificateRequests, now: now)
        let key = CertificateRequests.key(names)
        let record = current.certificateRequests[key]!
        log(
            .error,
            "certificate_command did not obtain a certificate; the plan is refused and the site in place keeps serving",
            .certificateRequestFailed,
            [
                "names": "\(key)", "reason": "\(reason)", "output": "\(Self.tail(output))",
                "failures": "\(record.failures)", "next_attempt_at": "\(record.nextAttemptAt)",
            ])
        let backedOff = Self.backedOff(first, key: key, record: record, directory: directory, names: names)
        markRefusalLogged(rejection(for: backedOff, all: [backedOff], plan: plan, urls: urls), urls: urls, now: now)
        let field = plan.field(for: first.listener)
        return .rejected(
            SiteURLRejection(
                field: field.rawValue, rawValue: field == .siteURL ? urls.siteURL : urls.secureSiteURL,
                reason:
                    "\(first.listener): no certificate for \(key): \(reason); asked again at \(record.nextAttemptAt), not before")
        )
    }

    /// The end of a command's output on one line: its last lines, at most 1000 characters.
    static func tail(_ output: String) -> String {
        let lines = output.split(whereSeparator: { $0 == "\n" || $0 == "\r" }).suffix(8)
        let joined = lines.joined(separator: " | ")
        return joined.count > 1000 ? "…" + String(joined.suffix(1000)) : joined
    }

    // MARK: step 1

    /// Puts in place the file that answers the ACME challenge for `names` (``challengePlan(for:newPlan:settings:state:now:installed:)``),
    /// as any change; nil when it is in place and served (the command may run), else the outcome that stops here.
    func serveChallenge(
        for names: [String], newPlan: ProxyPlan, settings proxySettings: ProxySettings, urls: SiteURLs,
        state current: inout SyncState, now: Timestamp
    ) async -> CycleOutcome? {
        let installed: [UInt8]?
        do {
            installed = try store.readInstalled()
        } catch {
            log(.error, "cannot read the installed file", .writeFailed, ["error": "\(error)"])
            return .writeFailed("\(error)")
        }
        let (plan, planSettings) = challengePlan(
            for: names, newPlan: newPlan, settings: proxySettings, state: current, now: now, installed: installed != nil)
        let text: String
        do {
            text = try Renderers.make(for: planSettings).render(plan)
        } catch {
            let rejection = SiteURLRejection(field: "site_url", rawValue: urls.siteURL, reason: "\(error)")
            logRejected(
                "site URL rejected; the file in place keeps serving", rejection, urls: urls, now: now, ["reason": "\(error)"])
            return .rejected(rejection)
        }
        let bytes = Array(text.utf8)
        if installed == bytes {
            // In place from an earlier attempt: a reload it still owes comes first, and a process's first look
            // confirms it is served rather than trusting the record (the ACME server must reach it).
            if current.reloadOwed {
                let retried = await retryReload(&current, plan: plan, text: text, now: now)
                if case .applied = retried { return nil }
                return retried
            }
            return await confirmAfterStart(plan: plan, text: text, state: &current, now: now)
        }
        let report = await serving.preflight(plan)
        warnOnce(report.notices.filter { $0.event == .certificateExpiring }, state: &current, now: now)
        for notice in report.notices where notice.event != .certificateExpiring { log(notice) }
        if let refusal = report.refusals.first {
            return refuse(refusal, all: report.refusals, plan: plan, urls: urls, now: now)
        }
        let old = installed.map { InstalledConfig.read(String(decoding: $0, as: UTF8.self), kind: settings.proxy.kind) }
        let diff = SemanticDiff.describe(
            from: old?.listeners ?? [],
            to: plan.listeners.map { Listener(scheme: $0.scheme, port: $0.port, serverName: $0.serverName, action: $0.action) })
        let outcome = await apply(
            bytes, previous: installed, plan: plan, text: text, reason: .challenge,
            diff:
                "\(diff); the ACME challenge for \(names.joined(separator: " ")) on port \(proxySettings.acmeHTTPPort), for certificate_command",
            state: &current, now: now)
        if case .applied = outcome { return nil }
        return outcome
    }

    /// What is served while a certificate for `names` is asked for, and the settings to render it with: the plan of
    /// the site URLs last applied (with the names kept after a rename that are still kept) when this program's file
    /// is in place, else `newPlan`; in either, without the HTTPS listeners no certificate covers (and the redirects
    /// to them), plus a challenge-only listener on `acme_http_port` for each of `names` that has no HTTP listener
    /// there.
    func challengePlan(
        for names: [String], newPlan: ProxyPlan, settings proxySettings: ProxySettings, state current: SyncState,
        now: Timestamp, installed: Bool
    ) -> (ProxyPlan, ProxySettings) {
        var base = newPlan
        var planSettings = proxySettings
        planSettings.certificatePairs = newPlan.certificates
        if installed, let site = current.lastAppliedSiteURL, let secure = current.lastAppliedSecureSiteURL,
            !(site.isEmpty && secure.isEmpty),
            case .plan(let served)? = try? PlanDeriver.derive(
                SiteURLs(siteURL: site, secureSiteURL: secure), settings: settings.proxy)
        {
            let kept = current.keptNames.filter { (Timestamp.epochSeconds(iso8601: $0.value) ?? 0) > now.epochSeconds }
            base = KeptNames.adding(kept, to: served)
            if let directory = proxySettings.tlsCertificateDir {
                planSettings.certificatePairs = certificates.locate(
                    Array(Set(base.listeners.filter { $0.scheme == .https }.map(\.serverName))).sorted(), in: directory)
            }
        }
        let pairs = planSettings.certificatePairs
        let missing = Set(base.listeners.filter { $0.scheme == .https && pairs[$0.serverName] == nil }.map(\.serverName))
        var listeners = base.listeners.filter { listener in
            if listener.scheme == .https { return !missing.contains(listener.serverName) }
            if let target = listener.redirectTarget, let host = try? SiteURL.check(target, field: .secureSiteURL).url?.host {
                return !missing.contains(host)
            }
            return true
        }
        var warnings = base.warnings
        let port = proxySettings.acmeHTTPPort
        for name in names {
            if listeners.contains(where: { $0.port == port && $0.serverName == name && $0.scheme == .http }) { continue }
            if listeners.contains(where: { $0.port == port && $0.scheme == .https }) {
                warnings.append(
                    "acme_http_port \(port) serves https in the site in place: the ACME http-01 challenge for \(name) cannot be answered there"
                )
                continue
            }
            listeners.append(Listener(scheme: .http, port: port, serverName: name, action: .challenge))
        }
        var plan = ProxyPlan(listeners: listeners, siteURL: base.siteURL, secureSiteURL: base.secureSiteURL, warnings: warnings)
        plan.keptNames = base.keptNames.filter { name, _ in listeners.contains { $0.serverName == name } }
        plan.certificates = pairs.filter { name, _ in listeners.contains { $0.scheme == .https && $0.serverName == name } }
        return (plan, planSettings)
    }
}
