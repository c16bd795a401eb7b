import ProxySyncCore

/// Before a change: the facts the pre-flight rules judge (the proxy's dump, listening sockets and their holders,
/// the file in place, certificate files), read in the order and only as far as the rules ask.
extension LiveServingCheck {
    public func preflight(_ plan: ProxyPlan) async -> PreflightReport {
        await Self.offPool {
            var report = PreflightReport()
            // The dump serves both checks: the other sites' names and ports, and which ports are the proxy's.
            let dump: ProxyDump.Outcome? =
                settings.checkOtherSites || (settings.checkPorts && ProxyDump.command(settings) != nil)
                ? ProxyDump.inventory(settings) : nil
            if settings.checkOtherSites, let dump { report.refusals += collisionRefusals(plan, dump: dump) }
            var inventory: ProxyInventory?
            if case .read(let read)? = dump { inventory = read }
            if settings.kind == .apache {
                report.refusals += apacheListenOverlaps(plan, inventory: inventory, sockets: settings.checkPorts)
            }
            if settings.checkPorts, report.refusals.isEmpty || settings.kind == .nginx {
                report.refusals += portRefusals(plan, proxyInventory: inventory)
            }
            let certificates = certificateFindings(plan)
            report.refusals += certificates.refusals
            report.notices += certificates.notices
            return report
        }
    }

    public func namesNotCovered(_ names: [String], by certificates: [String]) async -> [String] {
        var loaded: [LoadedCertificate] = []
        for path in certificates {
            guard let certificate = try? LoadedCertificate(path: path) else { return names }
            loaded.append(certificate)
        }
        guard !loaded.isEmpty else { return names }
        return names.filter { name in !loaded.allSatisfy { $0.covers(host: name) } }
    }

    public func certificateRefusals(_ plan: ProxyPlan) async -> [Refusal] {
        await Self.offPool { certificateFindings(plan).refusals }
    }

    public func certificateNotices(_ plan: ProxyPlan) async -> [Notice] {
        await Self.offPool { certificateFindings(plan).notices }
    }

    /// Names and ports other sites of the proxy use (README: Security model), from the proxy's own dump of its
    /// configuration; a dump that is missing or unreadable refuses the plan.
    func collisionRefusals(_ plan: ProxyPlan, dump: ProxyDump.Outcome) -> [Refusal] {
        switch dump {
        case .configurationBroken:
            // A proxy whose configuration does not load has nothing to compare with; its config test says why.
            return []
        case .unavailable(let reason):
            return [Refusal(listener: plan.listeners.first?.origin ?? "", reason: reason)]
        case .read(let inventory):
            return inventory.collisions(with: plan, addresses: settings.listenAddresses, proxyProtocol: settings.proxyProtocol)
        }
    }

    /// ``ApacheListenOverlaps``, over the file in place and (with `sockets`) the sockets on the added ports.
    func apacheListenOverlaps(_ plan: ProxyPlan, inventory: ProxyInventory?, sockets: Bool) -> [Refusal] {
        let added = ApacheListenOverlaps.addedPorts(plan, settings: settings)
        guard !added.isEmpty else { return [] }
        let inPlace = currentProxyPorts()
        let live = sockets ? table.listening(on: added) : []
        return ApacheListenOverlaps.refusals(
            plan, settings: settings, added: added, inventory: inventory, proxyPorts: inPlace, sockets: live)
    }

    /// ``PortConflicts``: the sockets on the plan's ports, then their holders and the file in place, then each
    /// fact the rule asks for.
    func portRefusals(_ plan: ProxyPlan, proxyInventory: ProxyInventory?) -> [Refusal] {
        let ports = PortConflicts.ports(plan)
        let conflicts = PortConflicts(plan: plan, settings: settings, sockets: table.listening(on: ports))
        guard !conflicts.conflicts.isEmpty else { return [] }
        var facts = PortConflicts.Facts(
            holders: table.holders(of: conflicts.inodes), proxyPorts: currentProxyPorts(), inventory: proxyInventory)
        while true {
            switch conflicts.judge(facts) {
            case .refusals(let refusals): return refusals
            case .needs(.proxyRunning): facts.proxyRunning = proxyRunning() == true
            case .needs(.stillListening): facts.stillListening = Set(table.listening(on: ports).map(\.inode))
            }
        }
    }

    /// Ports the managed file in place says the proxy serves (when the socket's holder cannot be seen).
    func currentProxyPorts() -> Set<Int> {
        guard let bytes = try? PathSafety.readOutput(settings.output) else { return [] }
        let installed = InstalledConfig.read(String(decoding: bytes, as: UTF8.self), kind: settings.kind)
        return Set(installed.listeners.map(\.port))
    }

    /// The certificate must cover every HTTPS name, and the key must belong to it (README: Only what is served
    /// counts): ``CertificatePolicy`` over each served pair's files as they are now.
    public func certificateFindings(_ plan: ProxyPlan) -> PreflightReport {
        var report = PreflightReport()
        let now = WallClock.now().epochSeconds
        for (pair, https) in CertificatePolicy.servedPairs(plan, settings: settings) where !https.isEmpty {
            let found = CertificatePolicy.findings(
                pair, https: https, inspection: Self.inspect(pair, names: https.map(\.serverName)), now: now)
            report.refusals += found.refusals
            report.notices += found.notices
        }
        return report
    }

    /// What one pair's files say: the names the certificate covers of `names`, whether the key belongs to it,
    /// and its expiry.
    static func inspect(_ pair: CertificatePair, names: [String]) -> Result<CertificatePolicy.Inspection, CertificateReadFailure> {
        let certificate: LoadedCertificate
        do {
            certificate = try LoadedCertificate(path: pair.certificate)
        } catch {
            return .failure(CertificateReadFailure(error.description))
        }
        let keyMatches: Result<Bool, CertificateReadFailure>
        do {
            keyMatches = .success(try certificate.matchesKey(at: pair.key))
        } catch {
            keyMatches = .failure(CertificateReadFailure(error.description))
        }
        return .success(
            CertificatePolicy.Inspection(
                names: certificate.names, uncovered: Set(names.filter { !certificate.covers(host: $0) }),
                keyMatches: keyMatches, notAfterEpochSeconds: certificate.notAfterEpochSeconds,
                notAfterISO8601: certificate.notAfterISO8601))
    }
}
