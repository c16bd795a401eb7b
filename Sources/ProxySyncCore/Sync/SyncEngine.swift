import Logging

/// One sync cycle: fetch → derive → render → diff → apply → record, over small protocols.
///
/// The caller holds the lock and passes the time; the engine performs no I/O of its own.
public struct SyncEngine: Sendable {
    public var settings: Settings
    public var source: any SiteURLSource
    public var store: any ConfigStore
    public var proxy: any ProxyControl
    public var state: any StateStore
    public var serving: any ServingCheck
    /// The operator's include files, read every cycle (their content is part of what is applied).
    public var includes: any IncludeReader
    /// Tells whether a certificate or key file changed since it was last confirmed served (one `stat` a file).
    public var certificateFiles: any FileIdentityReader
    /// Finds each HTTPS name's pair in `tls_certificate_dir` every cycle (SPEC 5d).
    public var certificates: any CertificateLocator
    /// Runs `certificate_command` for names without a certificate (README: Obtaining a certificate).
    public var certificateRequester: any CertificateRequester
    public var logger: Logger
    /// What the engine remembers between cycles of one process without writing it down.
    let memory = EngineMemory()

    public init(
        settings: Settings, source: any SiteURLSource, store: any ConfigStore, proxy: any ProxyControl,
        state: any StateStore, serving: any ServingCheck, logger: Logger, includes: any IncludeReader = NoIncludeReader(),
        certificateFiles: any FileIdentityReader = NoFileIdentityReader(),
        certificates: any CertificateLocator = NoCertificateLocator(),
        certificateRequester: any CertificateRequester = NoCertificateRequester()
    ) {
        self.certificates = certificates
        self.certificateRequester = certificateRequester
        self.includes = includes
        self.certificateFiles = certificateFiles
        self.settings = settings
        self.source = source
        self.store = store
        self.proxy = proxy
        self.state = state
        self.serving = serving
        self.logger = logger
    }

    func log(
        _ level: Logger.Level, _ message: @autoclosure () -> Logger.Message, _ event: Event,
        _ metadata: @autoclosure () -> Logger.Metadata = [:]
    ) {
        // Built only when it is logged: the idle cycle's debug line costs nothing at the usual levels.
        guard logger.logLevel <= level else { return }
        var all = metadata()
        all["event"] = event.value
        logger.log(level: level, message(), metadata: all)
    }

    func log(_ notice: Notice, level: Logger.Level = .warning) {
        log(level, "\(notice.message)", notice.event, notice.metadata.mapValues { .string($0) })
    }

    // MARK: the cycle

    /// Runs one cycle. In `dryRun` mode nothing is written, tested or reloaded.
    public func runCycle(dryRun: Bool, now: Timestamp) async -> CycleOutcome {
        var current = state.load()
        if let damage = current.damage {
            if dryRun {
                log(
                    .warning, "the state file is damaged; the next cycle keeps a copy and recovers as after a crash",
                    .started, ["file": "\(damage.file)", "problem": "\(damage.problem)"])
            } else {
                current.damage = nil
                await recoverLostState(&current, damage: keepDamaged(damage), now: now)
            }
        }
        if !dryRun, current.applyInProgress != nil {
            await recoverInterruptedApply(&current, now: now)
        }
        let outcome = await cycle(dryRun: dryRun, state: &current, now: now)
        switch outcome {
        case .rejected, .gocdError: break  // a GoCD error between two refusals of one value is no change of it
        default: memory.forgetRefusal()
        }
        if !dryRun { record(outcome, into: &current, now: now) }
        return outcome
    }

    func cycle(dryRun: Bool, state current: inout SyncState, now: Timestamp) async -> CycleOutcome {
        let urls: SiteURLs
        do {
            urls = try await source.fetchSiteURLs()
        } catch {
            log(error.isTransient ? .notice : .error, "GoCD did not answer with site URLs", .gocdError, ["error": "\(error)"])
            return .gocdError(error)
        }
        return await cycle(urls, dryRun: dryRun, state: &current, now: now)
    }

    /// The cycle over one answer of GoCD. `certificateRequested`: `certificate_command` already ran in this cycle
    /// (it runs at most once a cycle, so at most once in `once`).
    func cycle(
        _ urls: SiteURLs, dryRun: Bool, state current: inout SyncState, now: Timestamp, certificateRequested: Bool = false
    ) async -> CycleOutcome {
        // What every include holds now is part of the settings this cycle renders with.
        var proxySettings = settings.proxy
        for path in proxySettings.includes {
            do {
                proxySettings.includeDigests[path] = Digest.fnv1a64Hex(try includes.read(path))
            } catch {
                log(
                    .error, "an include file is refused; the file in place keeps serving", .writeFailed,
                    ["include": "\(path)", "error": "\(error)"])
                return .writeFailed("\(error)")
            }
        }
        if let directory = proxySettings.tlsCertificateDir {
            // Which pair serves each HTTPS name is found every cycle: a directory certbot made for a new name counts.
            proxySettings.certificatePairs = certificates.locate(httpsNames(urls, settings: proxySettings), in: directory)
        }
        // A kept name joins every listener: each certificate they serve must cover it.
        let served =
            proxySettings.tlsCertificateDir == nil
            ? [settings.proxy.tlsCertificate].compactMap { $0 }
            : Array(Set(proxySettings.certificatePairs.values.map(\.certificate))).sorted()
        let kept = await keptNames(urls: urls, state: current, now: now, certificates: served)
        let rendering: EngineMemory.Rendering
        if let last = memory.rendering(for: urls, settings: proxySettings, kept: kept.names) {
            rendering = last
            if !dryRun { current.bothUnset = false }
        } else {
            let derivation: Derivation
            do {
                derivation = try PlanDeriver.derive(urls, settings: settings.proxy)
            } catch {
                logRejected(
                    "site URL rejected; the file in place keeps serving", error, urls: urls, now: now,
                    ["field": "\(error.field)", "value": "\(error.value)", "reason": "\(error.reason)"])
                return .rejected(error)
            }
            var plan: ProxyPlan
            switch derivation {
            case .nothingToDerive(let warnings):
                return await nothingToDerive(warnings, dryRun: dryRun, state: &current, now: now)
            case .plan(let derived):
                plan = KeptNames.adding(kept.names, to: derived, warnings: kept.warnings)
                plan.certificates = proxySettings.certificatePairs
                // A kept name is served in its listener's block, so with the pair found for that listener's name
                // (kept names need every listener to be served by one certificate that covers them: keptNames).
                if proxySettings.tlsCertificateDir != nil, let pair = proxySettings.certificatePairs.values.first {
                    for name in kept.names.keys { plan.certificates[name] = pair }
                }
                if !dryRun { current.bothUnset = false }
            }
            do {
                // allowed_server_names bounds a kept name as it bounds the name GoCD gave.
                if !kept.names.isEmpty { try PlanDeriver.checkBounds(plan, urls: urls, settings: settings.proxy) }
            } catch {
                logRejected(
                    "site URL rejected; the file in place keeps serving", error, urls: urls, now: now,
                    ["field": "\(error.field)", "value": "\(error.value)", "reason": "\(error.reason)"])
                return .rejected(error)
            }
            let text: String
            do {
                text = try Renderers.make(for: proxySettings).render(plan)
            } catch {
                let rejection = SiteURLRejection(field: "site_url", rawValue: urls.siteURL, reason: "\(error)")
                logRejected(
                    "site URL rejected; the file in place keeps serving", rejection, urls: urls, now: now,
                    ["reason": "\(error)"])
                return .rejected(rejection)
            }
            let bytes = Array(text.utf8)
            rendering = EngineMemory.Rendering(
                urls: urls, settings: proxySettings, kept: kept.names, plan: plan, text: text, bytes: bytes,
                digest: Digest.fnv1a64Hex(bytes))
            memory.remember(rendering)
        }
        let plan = rendering.plan
        if let directory = proxySettings.tlsCertificateDir {
            let refusals = plan.listeners.filter { $0.scheme == .https && plan.certificates[$0.serverName] == nil }.map {
                Refusal(listener: $0.origin, reason: ProxySettings.noCertificateReason($0.serverName, directory: directory))
            }
            if let first = refusals.first {
                if settings.proxy.certificateCommand != nil, !certificateRequested {
                    // README: Obtaining a certificate.
                    return await obtainCertificates(
                        for: plan, first: first, directory: directory, settings: proxySettings, urls: urls,
                        dryRun: dryRun, state: &current, now: now)
                }
                return refuse(first, all: refusals, plan: plan, urls: urls, now: now)
            }
        }
        let text = rendering.text
        let newBytes = rendering.bytes
        let installed: [UInt8]?
        do {
            installed = try store.readInstalled()
        } catch {
            log(.error, "cannot read the installed file", .writeFailed, ["error": "\(error)"])
            return .writeFailed("\(error)")
        }
        if installed == newBytes {
            // A certificate renewed in place (README: Certificates): one stat a file, nothing read unless changed.
            let certificates = checkCertificateFiles(plan, recorded: current.certificateFiles)
            if dryRun {
                if !certificates.changed.isEmpty && !current.reloadOwed {
                    return await renewCertificates(
                        certificates.changed, plan: plan, text: text, dryRun: true, urls: urls, state: &current, now: now)
                }
                return .dryRun(semanticDiff: "no change", unifiedDiff: "", changePending: false)
            }
            // The file in place is this rendering, so the record says so, also when the apply that wrote it
            // was killed before recording it (and finished at start-up) or the record was lost.
            current.lastWrittenDigest = rendering.digest
            if current.lastAppliedSiteURL != plan.siteURL || current.lastAppliedSecureSiteURL != plan.secureSiteURL {
                rememberApplied(plan, in: &current, now: now)
            }
            if current.keptNames != plan.keptNames { current.keptNames = plan.keptNames }
            if current.reloadOwed { return await retryReload(&current, plan: plan, text: text, now: now) }
            if !certificates.changed.isEmpty {
                return await renewCertificates(
                    certificates.changed, plan: plan, text: text, dryRun: false, urls: urls, state: &current, now: now)
            }
            for path in certificates.unknown {
                // Not known when it was last served (a state file from before this record): recorded, not applied.
                if let identity = certificates.current[path] { current.certificateFiles[path] = identity }
            }
            if let outcome = await confirmAfterStart(plan: plan, text: text, state: &current, now: now) { return outcome }
            if memory.certificatesDue(day: now.day) {
                warnOnce(await serving.certificateNotices(plan), state: &current, now: now)
            }
            log(
                .debug, "in sync; nothing to do", .unchanged,
                ["site_url": "\(plan.siteURL)", "secure_site_url": "\(plan.secureSiteURL)"])
            return .unchanged
        }
        let oldText = installed.map { String(decoding: $0, as: UTF8.self) }
        let old = oldText.map { InstalledConfig.read($0, kind: settings.proxy.kind) }
        var semantic = SemanticDiff.describe(
            from: old?.listeners ?? [], to: plan.listeners.map { Listener(scheme: $0.scheme, port: $0.port, serverName: $0.serverName, action: $0.action) })
        var reason = Self.reason(
            installed: installed, managed: old?.isManaged ?? false, plan: plan, state: current, now: now)
        let changedIncludes = oldText.map { Self.changedIncludes(installed: $0, rendered: text) } ?? []
        if reason == .change && !changedIncludes.isEmpty
            && current.lastAppliedSiteURL == plan.siteURL && current.lastAppliedSecureSiteURL == plan.secureSiteURL
        {
            reason = .include
        }
        if !dryRun, let failed = memory.includeFailure(), failed.digest == rendering.digest {
            // Tried again only when an include (or anything else) changes again.
            log(
                .debug, "an include still fails the config test, as logged earlier; waiting for it to change", .testFailed,
                ["include": "\(changedIncludes.joined(separator: ","))"])
            return .testFailed(output: failed.output)
        }
        if reason == .drift && semantic == "no listener changes" {
            semantic = "the file was edited by hand; restoring the managed content"
        }
        let report = await serving.preflight(plan)
        if dryRun {
            for notice in report.notices { log(notice) }
            if let refusal = report.refusals.first {
                return refuse(refusal, all: report.refusals, plan: plan, urls: urls, now: now)
            }
            let unified = UnifiedDiff.make(
                old: oldText ?? "", new: text, oldName: "\(settings.proxy.output) (installed)",
                newName: "\(settings.proxy.output) (rendered)")
            return .dryRun(semanticDiff: semantic, unifiedDiff: unified, changePending: true)
        }
        warnOnce(report.notices.filter { $0.event == .certificateExpiring }, state: &current, now: now)
        for notice in report.notices where notice.event != .certificateExpiring { log(notice) }
        if let refusal = report.refusals.first {
            return refuse(refusal, all: report.refusals, plan: plan, urls: urls, now: now)
        }
        let outcome = await apply(
            newBytes, previous: installed, plan: plan, text: text, reason: reason, diff: semantic, state: &current, now: now,
            changedIncludes: changedIncludes)
        if case .testFailed(let output) = outcome, !changedIncludes.isEmpty {
            memory.rememberIncludeFailure((rendering.digest, output))
        } else {
            memory.rememberIncludeFailure(nil)
        }
        return outcome
    }

    /// The HTTPS names GoCD's answer gives, from the last rendering when it was of the same answer (an idle
    /// cycle derives nothing), else derived; none when the answer derives no plan (the cycle then says why).
    func httpsNames(_ urls: SiteURLs, settings proxySettings: ProxySettings) -> [String] {
        var previous = proxySettings
        previous.certificatePairs = memory.lastCertificatePairs()
        let plan: ProxyPlan
        if let last = memory.rendering(for: urls, settings: previous) {
            plan = last.plan
        } else if case .plan(let derived)? = try? PlanDeriver.derive(urls, settings: settings.proxy) {
            plan = derived
        } else {
            return []
        }
        return Array(Set(plan.listeners.filter { $0.scheme == .https }.map(\.serverName))).sorted()
    }

    /// The names GoCD dropped that stay a while (SPEC 5e: Renames), from the state's record, the site URLs last
    /// applied and the time; a name the certificate no longer covers is dropped with a warning (carried by the
    /// plan, logged when it is applied).
    func keptNames(urls: SiteURLs, state current: SyncState, now: Timestamp, certificates: [String]) async
        -> (names: [String: String], warnings: [String])
    {
        guard settings.proxy.keepPreviousNamesHours > 0 else { return ([:], []) }
        var names = KeptNames.keep(
            previous: current.keptNames, lastApplied: [current.lastAppliedSiteURL, current.lastAppliedSecureSiteURL],
            currentHosts: KeptNames.hosts(of: urls), hours: settings.proxy.keepPreviousNamesHours, now: now)
        guard !names.isEmpty, KeptNames.servesHTTPS(urls) else { return (names, []) }
        var warnings: [String] = []
        if certificates.count > 1 {
            // Each listener's block has its own certificate, and a kept name joins every listener: one expected
            // leaf per name cannot be told. (One HTTPS name, or one certificate for all, keeps them.)
            for name in names.keys.sorted() {
                warnings.append(
                    "\(name) is no longer kept after the rename: the HTTPS names are served by more than one certificate (\(certificates.joined(separator: ", ")))")
            }
            return ([:], warnings)
        }
        for name in await serving.namesNotCovered(names.keys.sorted(), by: certificates) {
            names[name] = nil
            warnings.append(
                "\(name) is no longer kept after the rename: the certificate \(certificates.joined(separator: ", ")) does not cover it")
        }
        return (names, warnings)
    }

    /// The includes whose content differs between the installed file's head and the rendered one's (a new or
    /// dropped include counts), sorted.
    static func changedIncludes(installed: String, rendered: String) -> [String] {
        let old = Includes.named(in: installed)
        let new = Includes.named(in: rendered)
        return Set(old.keys).union(new.keys).filter { old[$0] != new[$0] }.sorted()
    }


    /// The first unchanged cycle of a process: what `state.json` says about serving is not trusted, it is
    /// confirmed again (the proxy may have stopped, or restarted on another file, while this program was not
    /// running). nil when confirmed (or not asked); otherwise the outcome, with a reload owed.
    func confirmAfterStart(plan: ProxyPlan, text: String, state current: inout SyncState, now: Timestamp) async
        -> CycleOutcome?
    {
        guard settings.proxy.confirmTimeoutSeconds > 0, let generation = Generation.of(text), memory.startConfirmationDue()
        else { return nil }
        if serving.proxyRunning() == false {
            current.serving = false
            logProxyNotRunning("the managed file is in place")
            return .notServing("the proxy is not running")
        }
        let confirmation = await serving.confirm(plan, generation: generation, superseded: nil)
        if confirmation.confirmed {
            recordServedCertificates(plan, in: &current)
            // Recorded only when the record said otherwise: a cycle that changes nothing writes nothing.
            if current.serving != true {
                current.serving = true
                current.lastConfirmedAt = now.iso8601
            }
            log(
                .info, "in sync; the proxy serves the managed file (confirmed at start)", .unchanged,
                ["confirmed_after_ms": "\(Int((confirmation.elapsedSeconds * 1000).rounded()))"])
            return nil
        }
        current.serving = false
        current.reloadOwed = true
        log(
            .error, "the proxy does not serve the managed file in place (found at start); a reload is owed and retried",
            .notServing, ["listener": "\(confirmation.failedListener ?? "")", "got": "\(confirmation.observed)"])
        return .notServing("\(confirmation.failedListener ?? "a listener"): \(confirmation.observed)")
    }

    /// Both site URLs unset: the file in place stays; an owed reload is still retried.
    func nothingToDerive(
        _ warnings: [String], dryRun: Bool, state current: inout SyncState, now: Timestamp
    ) async -> CycleOutcome {
        for warning in warnings { log(.warning, "\(warning)", .unchanged) }
        if !current.bothUnset || dryRun {
            log(
                .warning,
                "GoCD has neither site_url nor secure_site_url set: keeping the current file; set them in GoCD (Admin → Server Configuration)",
                .unchanged)
        }
        if !dryRun { current.bothUnset = true }
        if !dryRun, current.reloadOwed {
            let text = (try? store.readInstalled()).flatMap { $0 }.map { String(decoding: $0, as: UTF8.self) } ?? ""
            let installed = InstalledConfig.read(text, kind: settings.proxy.kind)
            let plan = ProxyPlan(listeners: installed.listeners, siteURL: "", secureSiteURL: "")
            return await retryReload(&current, plan: plan, text: text, now: now)
        }
        return dryRun
            ? .dryRun(semanticDiff: "nothing to derive: both site URLs are unset", unifiedDiff: "", changePending: false)
            : .nothingToDerive
    }
}
