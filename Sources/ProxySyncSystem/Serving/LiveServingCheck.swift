import Dispatch
import Glibc
import ProxySyncCore

/// The real ``ServingCheck``: ports and certificates before a change, the proxy's own answers after it.
public struct LiveServingCheck: ServingCheck {
    let settings: ProxySettings
    /// A certificate expiring within this many seconds is a warning.
    static let expiryWarningSeconds: Int64 = 14 * 86_400

    public init(settings: ProxySettings) {
        self.settings = settings
    }

    /// The addresses a probe connects to: each listen address, or loopback for all addresses.
    var probeAddresses: [String] { settings.listenAddresses.isEmpty ? ["127.0.0.1"] : settings.listenAddresses }

    var proxyProcessNames: Set<String> { settings.kind == .nginx ? ["nginx"] : ["apache2", "httpd"] }

    // MARK: pre-flight

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

    public func namesNotCovered(_ names: [String]) async -> [String] {
        guard let path = settings.tlsCertificate else { return names }
        guard let certificate = try? LoadedCertificate(path: path) else { return names }
        return names.filter { !certificate.covers(host: $0) }
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

    /// Apache: a `Listen` this file adds for a port on which something already listens at another address
    /// (another vhost's address in the dump, or a socket) overlaps it, and httpd's graceful restart, unable to
    /// bind, exits and takes every site down; `configtest` does not see it. Refused before anything is written.
    func apacheListenOverlaps(_ plan: ProxyPlan, inventory: ProxyInventory?, sockets: Bool) -> [Refusal] {
        let renderer = ApacheRenderer(settings: settings)
        let added = Set(plan.listeners.map(\.port)).subtracting(renderer.existingListenPorts)
        guard !added.isEmpty else { return [] }
        let ours: [String?] = settings.listenAddresses.isEmpty ? [nil] : settings.listenAddresses
        let inPlace = currentProxyPorts()
        let live = sockets ? ListeningSockets.listening(on: added) : []
        var refusals: [Refusal] = []
        for port in added.sorted() {
            let listener = plan.listeners.first { $0.port == port }!
            var others: [String] = []
            // Overlapping without being equal: one side all addresses, the other a specific one. (Two different
            // specific addresses bind side by side; an equal one is a duplicate Listen that configtest refuses.)
            func overlaps(_ other: String?) -> Bool { ours.contains { ($0 == nil) != (other == nil) } }
            for site in inventory?.sites ?? [] where site.port == port && overlaps(site.address) {
                others.append("\(site.address ?? "*"):\(port) (\(site.file))")
            }
            if !inPlace.contains(port) {
                for socket in live where socket.port == port {
                    let wildcard = socket.address == "0.0.0.0" || socket.address == "::"
                    guard overlaps(wildcard ? nil : socket.address) else { continue }
                    others.append(socket.address.contains(":") ? "[\(socket.address)]:\(port)" : "\(socket.address):\(port)")
                }
            }
            guard let first = others.first else { continue }
            let wanted = ours.map { $0.map { "\($0):\(port)" } ?? "\(port) (all addresses)" }.joined(separator: ", ")
            refusals.append(
                Refusal(
                    listener: listener.origin,
                    reason:
                        "Apache already listens on \(first), and this file's Listen \(wanted) overlaps it without being equal: httpd's graceful restart could not bind and would exit, taking every site down; choose another port in GoCD, or set listen_address to that address (or list \(port) in apache_listen_ports if the main configuration's Listen covers the GoCD site)"
                ))
        }
        return refusals
    }

    /// Every address and port of the plan that the proxy does not listen on already must be free.
    ///
    /// A socket whose holder this process cannot see (under the unit: no `CAP_SYS_PTRACE`) is the proxy's
    /// when it is root's, the proxy is running, and the proxy's own configuration listens there: its dump
    /// (another of its sites), the managed file in place, or (Apache) `apache_listen_ports`.
    func portRefusals(_ plan: ProxyPlan, proxyInventory: ProxyInventory?) -> [Refusal] {
        let sockets = ListeningSockets.listening(on: Set(plan.listeners.map(\.port)))
        var conflicts: [(Listener, String?, ListeningSockets.Socket)] = []
        var seen: Set<String> = []
        let wanted: [String?] = settings.listenAddresses.isEmpty ? [nil] : settings.listenAddresses
        for listener in plan.listeners {
            for address in wanted where seen.insert("\(address ?? "*"):\(listener.port)").inserted {
                for socket in sockets
                where socket.port == listener.port && ListeningSockets.overlaps(bound: socket.address, wanted: address) {
                    conflicts.append((listener, address, socket))
                }
            }
        }
        guard !conflicts.isEmpty else { return [] }
        let holders = ListeningSockets.holders(of: Set(conflicts.map(\.2.inode)))
        // A socket with no holder may have closed while /proc was read (an old worker of the proxy exiting
        // after a reload): only one still listed after the holders were looked for is held by someone unseen.
        var stillListening: Set<UInt64>?
        let proxyPorts = currentProxyPorts()
        var running: Bool?
        var refusals: [Refusal] = []
        var refused: Set<Int> = []
        for (listener, address, socket) in conflicts where !refused.contains(listener.port) {
            let held = holders[socket.inode] ?? []
            // The proxy's listening sockets are root's: a process merely named "nginx" run by another user is not it.
            if socket.uid == 0, held.contains(where: { proxyProcessNames.contains($0.name) }) { continue }
            let shown = socket.address.contains(":") ? "[\(socket.address)]:\(socket.port)" : "\(socket.address):\(socket.port)"
            let wantedText = address.map { "\($0):\(listener.port)" } ?? "port \(listener.port) on all addresses"
            if held.isEmpty && socket.uid != 0 {
                refusals.append(
                    Refusal(
                        listener: listener.origin,
                        reason:
                            "\(wantedText) is taken: \(shown) is held by a program of uid \(socket.uid), not by the proxy; free the port or change the site URL in GoCD"
                    ))
            } else if held.isEmpty {
                if proxyPorts.contains(listener.port) { continue }
                let configured =
                    proxyInventory?.sites.contains {
                        $0.port == socket.port && ($0.address == nil || $0.address == socket.address)
                    } == true
                    || (settings.kind == .apache && (settings.apacheExistingListenPorts ?? [80, 443]).contains(socket.port))
                if configured {
                    if running == nil { running = proxyRunning() }
                    if running == true { continue }
                }
                if stillListening == nil {
                    stillListening = Set(ListeningSockets.listening(on: Set(plan.listeners.map(\.port))).map(\.inode))
                }
                if stillListening?.contains(socket.inode) == false { continue }
                refusals.append(
                    Refusal(
                        listener: listener.origin,
                        reason:
                            "\(wantedText) is taken: \(shown) is held by another program (not a port the proxy's configuration listens on; its pid is not visible to this process; `ss -ltnp 'sport = :\(listener.port)'` shows it); free the port or change the site URL in GoCD"
                    ))
            } else {
                let names = held.map(\.description).joined(separator: ", ")
                refusals.append(
                    Refusal(
                        listener: listener.origin,
                        reason:
                            "\(wantedText) is taken: \(shown) is held by \(names), not by the proxy; free the port or change the site URL in GoCD"
                    ))
            }
            refused.insert(listener.port)
        }
        return refusals
    }

    /// Ports the managed file in place says the proxy serves (when the socket's holder cannot be seen).
    func currentProxyPorts() -> Set<Int> {
        guard let bytes = try? PathSafety.readOutput(settings.output) else { return [] }
        let installed = InstalledConfig.read(String(decoding: bytes, as: UTF8.self), kind: settings.kind)
        return Set(installed.listeners.map(\.port))
    }

    /// The certificate must cover every HTTPS name, and the key must belong to it (README: Only what is served counts).
    public func certificateFindings(_ plan: ProxyPlan) -> PreflightReport {
        // Each pair once, with the HTTPS listeners it serves (one pair for all with tls_certificate).
        var pairs: [CertificatePair] = []
        var served: [CertificatePair: [Listener]] = [:]
        for listener in plan.listeners where listener.scheme == .https {
            guard let pair = settings.certificatePair(for: listener.serverName, in: plan) else { continue }
            if served[pair] == nil { pairs.append(pair) }
            served[pair, default: []].append(listener)
        }
        var report = PreflightReport()
        for pair in pairs {
            let found = certificateFindings(pair, https: served[pair] ?? [])
            report.refusals += found.refusals
            report.notices += found.notices
        }
        return report
    }

    /// One pair: its certificate must cover each of `https`, and its key must belong to it.
    func certificateFindings(_ pair: CertificatePair, https: [Listener]) -> PreflightReport {
        guard !https.isEmpty else { return PreflightReport() }
        let (certificatePath, keyPath) = (pair.certificate, pair.key)
        var report = PreflightReport()
        let certificate: LoadedCertificate
        do {
            certificate = try LoadedCertificate(path: certificatePath)
        } catch {
            report.refusals.append(Refusal(listener: https[0].origin, reason: "tls_certificate: \(error)"))
            return report
        }
        for listener in https where !certificate.covers(host: listener.serverName) {
            let covered = certificate.names.isEmpty ? "no names" : certificate.names.joined(separator: ", ")
            report.refusals.append(
                Refusal(
                    listener: listener.origin,
                    reason:
                        "the certificate \(certificatePath) does not cover \(listener.serverName) (it covers: \(covered)); renew it with that name or change the site URL in GoCD"
                ))
        }
        do {
            if try !certificate.matchesKey(at: keyPath) {
                report.refusals.append(
                    Refusal(
                        listener: https[0].origin,
                        reason:
                            "the key \(keyPath) does not belong to the certificate \(certificatePath) (tls_certificate_key and tls_certificate do not match)"
                    ))
            }
        } catch {
            report.refusals.append(Refusal(listener: https[0].origin, reason: "tls_certificate_key: \(error)"))
        }
        let now = WallClock.now().epochSeconds
        if certificate.notAfterEpochSeconds - now < Self.expiryWarningSeconds {
            let expired = certificate.notAfterEpochSeconds <= now
            report.notices.append(
                Notice(
                    event: .certificateExpiring,
                    message: expired
                        ? "the TLS certificate has expired: renew it; browsers refuse the site"
                        : "the TLS certificate expires within 14 days: renew it",
                    metadata: ["file": certificatePath, "not_after": certificate.notAfterISO8601],
                    subject: certificatePath))
        }
        return report
    }

    // MARK: confirmation

    public func confirm(_ plan: ProxyPlan, generation: String?, superseded: Superseded?) async -> Confirmation {
        defer { Failpoint.hit(.afterConfirm) }
        let start = Monotonic.seconds()
        let deadline = start + settings.confirmTimeoutSeconds
        // (listener, address, retired): a retired listener belongs to the superseded file and is gone from `plan`;
        // it must no longer answer from the superseded generation.
        var pending: [(Listener, String, Bool)] = []
        for listener in plan.listeners {
            for address in probeAddresses { pending.append((listener, address, false)) }
        }
        if let superseded, let generation, superseded.generation != generation {
            let kept = Set(plan.listeners.map { "\($0.port) \($0.serverName)" })
            for listener in superseded.listeners
            where listener.action == .proxy && !kept.contains("\(listener.port) \(listener.serverName)") {
                for address in probeAddresses { pending.append((listener, address, true)) }
            }
        }
        // The leaf every HTTPS listener must present, read once: a renewed file is what the reload should serve.
        let certificates = await Self.offPool { ExpectedCertificate.readEach(settings, plan: plan) }
        var observed: [String: String] = [:]
        while true {
            var still: [(Listener, String, Bool)] = []
            for (listener, address, retired) in pending {
                let certificate = certificates[listener.serverName] ?? .notChecked
                let remaining = max(0.05, deadline - Monotonic.seconds())
                let proxyProtocol = settings.proxyProtocol
                let answer = await Self.offPool {
                    ListenerProbe.get(
                        listener, path: Generation.path, address: address,
                        timeoutMilliseconds: Int(min(remaining, 2) * 1000),
                        presentedCertificate: !retired && certificate.wantsPresented, proxyProtocol: proxyProtocol)
                }
                let miss =
                    retired
                    ? Self.stillServing(answer, superseded: superseded?.generation)
                    : Self.judge(
                        answer, listener: listener, generation: generation, markerStatus: markerStatus,
                        certificate: certificate)
                        ?? socketOwnerProblem(answer, address: address, port: listener.port)
                if let miss {
                    observed[listener.origin] = miss
                    still.append((listener, address, retired))
                }
            }
            pending = still
            let now = Monotonic.seconds()
            if pending.isEmpty { return Confirmation(failedListener: nil, observed: "", elapsedSeconds: now - start) }
            if now >= deadline {
                let listener = pending[0].0
                return Confirmation(
                    failedListener: listener.origin,
                    observed: "\(observed[listener.origin] ?? "no answer") after \(Self.seconds(now - start))",
                    elapsedSeconds: now - start)
            }
            // NGINX takes tens of milliseconds to fork its new workers: ask often, so confirmation adds little
            // beyond the proxy's own reload.
            try? await Task.sleep(for: .milliseconds(10))
        }
    }

    /// For a listener the new file dropped: nil once it no longer answers from the superseded file.
    static func stillServing(_ answer: Result<ListenerProbe.Answer, ProbeFailure>, superseded: String?) -> String? {
        guard case .success(let answer) = answer, let superseded, Generation.inAnswer(answer.body) == superseded else {
            return nil
        }
        return "the previous configuration still answers there (generation \(superseded)): the reload did not take"
    }

    /// nil when the answer proves the listener serves the expected file; otherwise what it got instead.
    /// The status the rendered file answers the marker with: NGINX `return 200`, Apache its `ErrorDocument 404`
    /// (a file that some `DocumentRoot` serves at that path answers 200, and does not count).
    var markerStatus: Int { settings.kind == .nginx ? 200 : 404 }

    /// nil when the answer came from the proxy's own sockets (README: Only what is served counts): the listening
    /// table (`/proc/net/tcp{,6}`, which shows owners to any process, also under the unit), read after the answer.
    func socketOwnerProblem(_ answer: Result<ListenerProbe.Answer, ProbeFailure>, address: String, port: Int) -> String? {
        guard case .success = answer else { return nil }
        let sockets = ListeningSockets.listening(on: [port]).filter {
            ListeningSockets.overlaps(bound: $0.address, wanted: address) || $0.address == address
        }
        if let problem = Self.ownerProblem(listening: sockets, address: address, port: port) { return problem }
        // Where this process can see who holds the sockets (outside the unit; under it, CAP_SYS_PTRACE is not
        // granted and other services' descriptors are hidden), a root program that is not the proxy does not count.
        let holders = ListeningSockets.holders(of: Set(sockets.map(\.inode)))
        return Self.holderProblem(holders.values.flatMap { $0 }, proxyNames: proxyProcessNames)
    }

    /// nil when no holder is visible or one of them is the proxy (by process name); otherwise who holds it.
    static func holderProblem(_ holders: [ListeningSockets.Holder], proxyNames: Set<String>) -> String? {
        guard !holders.isEmpty, !holders.contains(where: { proxyNames.contains($0.name) }) else { return nil }
        let names = holders.map(\.description).joined(separator: ", ")
        return "an answer from a socket held by \(names), not by the proxy"
    }

    /// Who answered, judged from the sockets listening where the probe connected, read after the answer: every one
    /// must be root's, and one must be there. A local user who binds a new port before the proxy does and answers
    /// the marker is not the proxy, also when it closes its listening socket once it has accepted the probe's
    /// connection (the proxy, having failed to bind, then listens there neither). While a root-owned socket
    /// listens on an address and port, no other uid can listen on an overlapping one (the kernel refuses the bind;
    /// `SO_REUSEPORT` groups only sockets of one uid). An accepted connection's own entry does not help: it
    /// carries the uid of the process that accepted it (the proxy's workers run as its user).
    static func ownerProblem(listening: [ListeningSockets.Socket], address: String, port: Int) -> String? {
        let shown = address.contains(":") ? "[\(address)]:\(port)" : "\(address):\(port)"
        if let other = listening.first(where: { $0.uid != 0 }) {
            return
                "an answer from a socket uid \(other.uid) holds on \(other.address):\(other.port), not the proxy's (its listening sockets are root's): another program took the port first"
        }
        if !listening.contains(where: { $0.uid == 0 }) {
            return
                "an answer on \(shown) where no root-owned socket listens (whoever answered has closed its listening socket): not the proxy's"
        }
        return nil
    }

    /// nil when the answer counts: the expected generation (or redirect) with the file's status, and on an HTTPS
    /// listener the leaf of the configured certificate (`certificate`); otherwise what it got instead, both
    /// findings when both are wrong.
    static func judge(
        _ answer: Result<ListenerProbe.Answer, ProbeFailure>, listener: Listener, generation: String?,
        markerStatus: Int = 200, certificate: ExpectedCertificate = .notChecked
    ) -> String? {
        switch answer {
        case .failure(let failure):
            return failure.description
        case .success(let answer):
            let configuration = configurationMiss(
                answer, listener: listener, generation: generation, markerStatus: markerStatus)
            let presented = listener.scheme == .https ? certificate.miss(answer.presentedCertificate) : nil
            switch (configuration, presented) {
            case (nil, nil): return nil
            case (let one?, nil), (nil, let one?): return one
            case (let configuration?, let presented?): return "\(configuration); and \(presented)"
            }
        }
    }

    /// nil when the answer comes from the expected file (the generation with its status, or the redirect).
    static func configurationMiss(
        _ answer: ListenerProbe.Answer, listener: Listener, generation: String?, markerStatus: Int
    ) -> String? {
        if let target = listener.redirectTarget {
            let expected = target + Generation.path
            if answer.status == 301 && answer.location == expected { return nil }
            return
                "the previous configuration (HTTP \(answer.status)\(answer.location.map { " to \($0)" } ?? ""), expected 301 to \(expected))"
        }
        let served = Generation.inAnswer(answer.body)
        guard let generation else { return nil }  // a file without a marker: any answer will do
        if served == generation && answer.status == markerStatus { return nil }
        if served == generation {
            return "the generation with HTTP \(answer.status), not the \(markerStatus) the file answers it with (not the proxy's own answer)"
        }
        if let served { return "the previous generation (\(served), expected \(generation))" }
        return "the previous configuration (HTTP \(answer.status) without a generation)"
    }

    static func seconds(_ value: Double) -> String {
        "\(Int((value * 1000).rounded())) ms"
    }

    // MARK: end to end

    public func endToEnd(_ plan: ProxyPlan, generation: String?) async -> [Notice] {
        var notices: [Notice] = []
        for listener in plan.listeners where listener.action == .proxy {
            let address = probeAddresses[0]
            // The health request goes over a connection whose first answer carried the new generation, so it
            // is answered by the new configuration (not by an old worker still accepting for a moment).
            var problem: String? = "no connection answered from the new configuration"
            for _ in 0..<20 {
                let proxyProtocol = settings.proxyProtocol
                let (first, second) = await Self.offPool {
                    ListenerProbe.getPair(
                        listener, first: Generation.path, then: "/go/api/v1/health", address: address,
                        timeoutMilliseconds: 10_000, accept: "application/vnd.go.cd.v1+json", proxyProtocol: proxyProtocol
                    ) { answer in generation == nil || Generation.inAnswer(answer.body) == generation }
                }
                if case .failure(let failure) = first {
                    // An old worker closing its sockets may drop one connection: try again, within the attempts.
                    problem = failure.description
                    try? await Task.sleep(for: .milliseconds(25))
                    continue
                }
                guard let second else {
                    try? await Task.sleep(for: .milliseconds(25))
                    continue
                }
                switch second {
                case .failure(let failure): problem = failure.description
                case .success(let answer):
                    problem =
                        answer.status == 200 && answer.body.contains("\"health\"")
                        ? nil : "HTTP \(answer.status) instead of GoCD's health answer"
                }
                break
            }
            guard let problem else { continue }
            var metadata = ["listener": listener.origin, "got": problem, "upstream": settings.upstream.url]
            if let line = ProxyErrorLog.lastLine(settings: settings) { metadata["proxy_error_log"] = line }
            notices.append(
                Notice(
                    event: .upstreamUnreachable,
                    message:
                        "GoCD's health endpoint did not answer through the proxy (the new file stays: GoCD may be restarting; check upstream and the proxy's error log)",
                    metadata: metadata))
        }
        return notices
    }

    // MARK: diagnosis

    public func diagnose(testOutput: String) async -> String? {
        guard settings.kind == .apache else { return nil }
        return await Self.offPool {
            guard let missing = missingApacheModules(), !missing.isEmpty else { return nil }
            return ApacheModules.advice(missing)
        }
    }

    /// Modules the file needs that httpd does not load (`httpd -M`, built from the test command); nil when
    /// that cannot be asked.
    public func missingApacheModules() -> [String]? {
        guard let argv = ProxyDump.programCommand(settings) else { return nil }
        let listed = CommandRunner.runBlocking(argv + ["-M"], timeoutSeconds: settings.commandTimeoutSeconds)
        guard listed.output.contains("_module") else { return nil }
        return ApacheModules.missing(settings, loaded: listed.output)
    }

    // MARK: the proxy's process

    public func proxyRunning() -> Bool? {
        guard let proc = opendir("/proc") else { return nil }
        defer { closedir(proc) }
        while let entry = readdir(proc) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(cString: raw.bindMemory(to: CChar.self).baseAddress!)
            }
            guard let pid = Int32(name) else { continue }
            // A zombie master is gone: it serves nothing, and a reload would start a new proxy here.
            // The proxy's master is root's: a process merely named nginx run by another user is not it.
            if proxyProcessNames.contains(ListeningSockets.processName(pid)), !ListeningSockets.isZombie(pid),
                ListeningSockets.realUID(pid) == 0
            {
                return true
            }
        }
        return false
    }

    static func offPool<T: Sendable>(_ work: @escaping @Sendable () -> T) async -> T {
        await Blocking.run(work)
    }
}
